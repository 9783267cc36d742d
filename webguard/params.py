"""Strict integers from URLs and bodies: ASCII digits only, and small enough for a 64-bit database column.

Python's `int()` reads ``"１"`` and ``"٣"`` as digits and has no upper bound; SQLite and PostgreSQL integers
stop at 2**63 - 1 and answer a larger value with an overflow error (a 500). Every id in a path, a query or a
body goes through this module instead (bodies: pydantic, which refuses Unicode digits, with ``le=MAX_DB_INT``).
"""

from __future__ import annotations

import re

MAX_DB_INT = 2**63 - 1
_ASCII_UINT = re.compile(r"[0-9]{1,19}")


def parse_id(text: str) -> int | None:
    """Return `text` as a non-negative database integer, or None unless it is 1-19 ASCII digits within range."""
    if _ASCII_UINT.fullmatch(text) is None:
        return None
    value = int(text)
    return value if value <= MAX_DB_INT else None
