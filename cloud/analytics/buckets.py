"""Hourly and daily buckets in a site's own time zone, correct across DST changes.

An hourly bucket is named by the UTC instant its local hour starts (unambiguous even in the repeated hour of
a DST fall-back); a daily bucket by its local calendar date (23 or 25 hours long on DST days).
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

# Every UTC offset in use is a multiple of 15 minutes, so within one 15-minute UTC slot the local hour (and
# day) is the same for every instant: buckets are computed once per slot and cached.
_SLOT = timedelta(minutes=15)
_SLOT_S = 15 * 60
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=512)
def zone(name: str) -> zoneinfo.ZoneInfo:
    """The time zone `name`, or UTC if it is unknown (a site's zone is validated when set)."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return zoneinfo.ZoneInfo("UTC")


class LocalBuckets:
    """Map instants to (hour bucket, local day) in one time zone; cached per 15-minute slot."""

    def __init__(self, timezone: str) -> None:
        self.tz = zone(timezone)
        self._cache: dict[int, tuple[datetime, date]] = {}

    def of(self, at: datetime) -> tuple[datetime, date]:
        """Return the UTC start of the local hour holding `at`, and the local date."""
        slot = int((at - _EPOCH).total_seconds() // _SLOT_S)
        hit = self._cache.get(slot)
        if hit is None:
            start = _EPOCH + slot * _SLOT
            local = start.astimezone(self.tz)
            bucket = start - timedelta(minutes=local.minute)
            hit = (bucket, local.date())
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[slot] = hit
        return hit

    def day_start(self, day: date) -> datetime:
        """The UTC instant local `day` begins."""
        return datetime(day.year, day.month, day.day, tzinfo=self.tz).astimezone(UTC)

    def hours(self, start: datetime, end: datetime) -> list[datetime]:
        """The hour buckets (UTC starts) whose local hour begins in [start, end)."""
        out: list[datetime] = []
        at = self.of(start)[0]
        if at < start:
            at += timedelta(hours=1)
        while at < end:
            out.append(at)
            at += timedelta(hours=1)
        return out


@lru_cache(maxsize=512)
def buckets_for(timezone: str) -> LocalBuckets:
    """The shared (cached) buckets of `timezone`."""
    return LocalBuckets(timezone)
