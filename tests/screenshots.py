"""Save page screenshots for review under one test output folder (``test-output/screenshots`` by default)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.async_api import Page, ViewportSize

from tests.browser import PHONE
from tests.paths import REPO

DESKTOP_WIDTH = 1280
DESKTOP_HEIGHT = 900


def screenshot_dir() -> Path:
    """The folder screenshots go to: ``$OUTPOST_TEST_OUTPUT/screenshots`` or ``<repo>/test-output/screenshots``."""
    root = Path(os.environ.get("OUTPOST_TEST_OUTPUT", REPO / "test-output"))
    folder = root / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def save_screenshots(page: Page, name: str) -> list[Path]:
    """Screenshot the page's current URL at desktop and phone widths; return the files written.

    ``name`` names the page (``area-page``); the files are ``<name>-desktop.png`` and ``<name>-phone.png``.
    The viewport is restored afterwards.
    """
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "page"
    original = page.viewport_size
    written: list[Path] = []
    sizes: list[tuple[str, ViewportSize]] = [
        ("desktop", {"width": DESKTOP_WIDTH, "height": DESKTOP_HEIGHT}),
        ("phone", PHONE),
    ]
    for label, size in sizes:
        await page.set_viewport_size(size)
        path = screenshot_dir() / f"{safe}-{label}.png"
        await page.screenshot(path=str(path), full_page=True)
        written.append(path)
    if original is not None:
        await page.set_viewport_size(original)
    return written
