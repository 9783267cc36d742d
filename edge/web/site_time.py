"""Times on the console are shown in the site's time zone (`site.timezone`), whatever the browser's or the box's.

Templates use the `site_time` filter; the page's `<body data-site-tz>` gives console scripts the same zone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def in_zone(when: datetime, timezone: str) -> datetime:
    """`when` (naive values are UTC, as the database stores them) in `timezone`."""
    aware = when if when.tzinfo else when.replace(tzinfo=UTC)
    return aware.astimezone(ZoneInfo(timezone))


def site_time_filter(timezone: str) -> Callable[[datetime | None, str], str]:
    """A Jinja filter formatting a time in the site's zone: ``{{ e.occurred_at | site_time("%H:%M:%S") }}``."""

    def site_time(when: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
        return "" if when is None else in_zone(when, timezone).strftime(fmt)

    return site_time
