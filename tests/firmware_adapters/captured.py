"""Captured device payloads under fixtures/, for codec tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(name: str) -> Any:
    """Load a JSON fixture file by its path under fixtures/."""
    return json.loads((FIXTURES / name).read_text())
