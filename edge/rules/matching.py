"""An index of event filters: an event meets only the filters that could match it, each checked once, exactly.

A filter is filed under its kind and type (either may be "any") and under the most selective id it names (door,
sensor, device, camera, zone, ...; "none" if it names no id). An event looks up the four kind/type combinations
it can match and, in each, the filters without an id plus those filed under each id the event carries. What the
lookup already guarantees (kind, type, the filed id) is not compared again: each candidate checks only the rest
of its filter, precompiled to a tuple of (attribute, value) pairs. The result is exactly the filters for which
`RuleEvent.matches` is true (tests/edge/rules/test_matching.py compares the two over random filters and events).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from edge.rules.events import RuleEvent
from sync.rules import EventFilter, MatchValue

T = TypeVar("T")
# Id fields a filter can be filed under, the most selective first (a door names fewer events than a zone).
INDEXED_FIELDS = ("door", "sensor", "device", "camera", "zone", "alarm", "plate", "region", "category")


@dataclass(frozen=True, slots=True)
class _Entry(Generic[T]):
    """One filed filter: what the lookup did not check yet, and the caller's item."""

    ids: tuple[tuple[str, str], ...]  # other id fields the filter sets, with their values
    match: tuple[tuple[str, MatchValue], ...]  # payload keys and the values they must have
    item: T

    def rest_matches(self, event: RuleEvent) -> bool:
        """True if the parts of the filter the index did not check hold for `event`."""
        attrs = event.attrs
        for name, wanted in self.ids:
            if attrs.get(name) != wanted:
                return False
        payload = event.payload
        for key, value in self.match:
            if payload.get(key) != value:
                return False
        return True


@dataclass(slots=True)
class _Bucket(Generic[T]):
    """The filters of one kind/type combination: without an id, and by id field -> value."""

    no_id: list[_Entry[T]] = field(default_factory=list)
    by_id: dict[str, dict[str, list[_Entry[T]]]] = field(default_factory=dict)


class FilterIndex(Generic[T]):
    """Filters with an item each; `matching(event)` yields the items whose filter matches the event."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str | None, str | None], _Bucket[T]] = {}
        self.size = 0

    def add(self, flt: EventFilter, item: T) -> None:
        """File `flt` with `item`."""
        set_ids = [(name, value) for name in INDEXED_FIELDS if (value := getattr(flt, name)) is not None]
        match = tuple(flt.match.items())
        bucket = self._buckets.setdefault((flt.kind, flt.type), _Bucket())
        if set_ids:
            (name, value), rest = set_ids[0], tuple(set_ids[1:])
            bucket.by_id.setdefault(name, {}).setdefault(value, []).append(_Entry(rest, match, item))
        else:
            bucket.no_id.append(_Entry((), match, item))
        self.size += 1

    def matching(self, event: RuleEvent) -> Iterator[T]:
        """The items of every filter that matches `event`, each once (in filing order within a bucket)."""
        buckets = self._buckets
        attrs = event.attrs
        kind, event_type = event.kind, event.type
        for key in ((kind, event_type), (kind, None), (None, event_type), (None, None)):
            bucket = buckets.get(key)
            if bucket is None:
                continue
            for entry in bucket.no_id:
                if entry.rest_matches(event):
                    yield entry.item
            for name, by_value in bucket.by_id.items():
                value = attrs.get(name)
                if value is None:
                    continue
                for entry in by_value.get(value, ()):
                    if entry.rest_matches(event):
                        yield entry.item
