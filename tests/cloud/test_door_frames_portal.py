"""The portal's site page shows the door camera's thumbnail beside the badge event it belongs to: the edge links
the decision to a real vtest.avi frame, syncs the records, the thumbnail and the frame to the real cloud, and
headless Chromium sees the image in the decision's row."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from cloud.app import RunningCloud
from edge.storage.database import Database
from edge.storage.journal import Journal, Outbox
from edge.storage.media import MediaQueue
from edge.vision.door_snapshots import DoorSnapshots
from edge.vision.frame_ring import FrameRing
from sync.agent import SyncAgent
from sync.wire import EnrollResponse
from tests.browser import PHONE
from tests.cloud.cloud_helpers import TenantFixture
from tests.edge.vision.conftest import T0, read_frames
from tests.polling import eventually
from tests.screenshots import save_screenshots

pytestmark = pytest.mark.browser


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only here: media links do not depend on the database backend (tests/sync/test_media.py has both)."""
    return f"sqlite+aiosqlite:///{tmp_path / 'cloud-test.db'}"


@pytest.fixture
async def edge_db(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(tmp_path / "edge" / "edge.db")
    await db.migrate()
    yield db
    await db.close()


async def test_the_badge_event_shows_the_door_thumbnail(
    cloud: RunningCloud,
    tenant: TenantFixture,
    site: EnrollResponse,
    browser: Browser,
    edge_db: Database,
    vtest_path: Path,
    tmp_path: Path,
) -> None:
    ring = FrameRing("door-cam")
    for i, frame in enumerate(read_frames(vtest_path, every=2, limit=20)):
        ring.push(frame, T0 + timedelta(seconds=i / 5))
    journal = Journal(edge_db)
    queue = MediaQueue(edge_db)
    snapshots = DoorSnapshots(journal, queue, tmp_path / "snaps", {"front": "door-cam"}, rings={"door-cam": ring})
    snapshots.start()
    try:
        decision = await journal.record(
            "audit",
            {"type": "access_decision", "door_id": "front", "granted": True, "person": "Ada"},
            summary="GRANTED Ada at Front door",
            occurred_at=T0 + timedelta(seconds=2.1),
        )
        await eventually(lambda: snapshots.taken == 1)
    finally:
        await snapshots.stop()
    agent = SyncAgent(Outbox(edge_db), cloud_url=cloud.url, site_id=site.site_id, secret=site.secret, media=queue)
    try:
        await agent.flush()
        assert agent.media is not None and await agent.media.run() == 2  # the thumbnail, then the frame
    finally:
        await agent.stop(flush_timeout_s=1)

    context = await browser.new_context(viewport=PHONE, base_url=cloud.url)
    page = await context.new_page()
    await page.goto("/login")
    await page.get_by_label("E-mail").fill(tenant.admin_email)
    await page.get_by_label("Password").fill(tenant.admin_password)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile(r"/portal$"))
    await page.goto(f"/portal/sites/{site.site_id}")
    row = page.locator("tr", has=page.get_by_text(f'"journal_id": {decision.id}'))
    thumb = row.get_by_test_id("door-thumb").locator("img")
    await expect(thumb).to_be_visible()
    assert await thumb.evaluate("i => i.complete && i.naturalWidth") == 160
    await save_screenshots(page, "portal-door-frames")
    await context.close()
