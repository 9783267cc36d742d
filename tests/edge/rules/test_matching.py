"""The filter index finds exactly the filters the naive scan finds (seeded random filters and events), and the
engine built on it acts exactly as one that scans every rule for every event."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

import pytest

from bench.rules import site
from edge.rules import engine as engine_module
from edge.rules.dryrun import replay
from edge.rules.events import EventReader, RuleEvent
from edge.rules.matching import INDEXED_FIELDS, FilterIndex
from edge.storage.journal import JournalEntry
from sync.rules import EventFilter, Rule

T = TypeVar("T")
KINDS = ["event", "audit", "detection", "telemetry", "device_status"]
TYPES = ["door_contact", "access_decision", "zone_entered", "zone_left", "telemetry", "alarm"]
# Few values per field, so filters and events often share them (and often do not).
VALUES = {
    "zone": ["zone-0", "zone-1", "zone-2"],
    "category": ["person", "vehicle"],
    "door": ["door-0", "door-1", "door-2"],
    "device": ["reader-0", "sensor-1", "lock-2"],
    "sensor": ["sensor-0", "sensor-1"],
    "camera": ["cam-zone-0", "cam-zone-1"],
    "region": ["area-0", "area-1"],
    "alarm": ["forced", "held"],
    "plate": ["B-OP 1", "M-X 2"],
}
MATCH_KEYS = {"open": [True, False], "granted": [True, False, None], "state": ["raised", "cleared", 1]}


def random_filter(rng: random.Random) -> EventFilter:
    """A filter setting each field with some probability (most set one to three)."""
    fields: dict[str, Any] = {}
    if rng.random() < 0.6:
        fields["kind"] = rng.choice(KINDS)
    if rng.random() < 0.6:
        fields["type"] = rng.choice(TYPES)
    for name in INDEXED_FIELDS:
        if rng.random() < 0.2:
            fields[name] = rng.choice(VALUES[name])
    if rng.random() < 0.3:
        key = rng.choice(sorted(MATCH_KEYS))
        fields["match"] = {key: rng.choice(MATCH_KEYS[key])}
    return EventFilter.model_validate(fields)


def random_event(rng: random.Random) -> RuleEvent:
    """An event carrying some of the ids (absent or present) and payload keys."""
    attrs = {name: rng.choice(values) for name, values in VALUES.items() if rng.random() < 0.5}
    payload = {key: rng.choice(values) for key, values in MATCH_KEYS.items() if rng.random() < 0.6}
    return RuleEvent(rng.choice(KINDS), rng.choice(TYPES), datetime.now(UTC), attrs, payload)


def test_index_matches_exactly_what_the_naive_scan_matches() -> None:
    rng = random.Random(20261207)
    matched = 0
    for _round in range(20):
        filters = [random_filter(rng) for _ in range(rng.randint(1, 300))]
        index: FilterIndex[int] = FilterIndex()
        for n, flt in enumerate(filters):
            index.add(flt, n)
        assert index.size == len(filters)
        for _ in range(300):
            event = random_event(rng)
            found = list(index.matching(event))
            assert len(found) == len(set(found)), "a filter was yielded twice"
            expected = {n for n, flt in enumerate(filters) if event.matches(flt)}
            assert set(found) == expected, (event, [filters[n] for n in set(found) ^ expected])
            matched += len(expected)
    assert matched > 1000  # the generator does produce matches, not only misses


def test_a_filter_on_zone_door_region_or_payload_matches_exactly_as_before() -> None:
    """The cases sites write: the index files under the door, and still checks zone, region and payload."""
    door_open = EventFilter(type="door_contact", door="door-1", zone="zone-1", match={"open": True})
    yard = EventFilter(kind="detection", type="zone_entered", zone="zone-0", region="area-1", category="person")
    any_denied = EventFilter(match={"granted": False})
    index: FilterIndex[str] = FilterIndex()
    for name, flt in (("door_open", door_open), ("yard", yard), ("any_denied", any_denied)):
        index.add(flt, name)
    now = datetime.now(UTC)

    def found(kind: str, event_type: str, attrs: dict[str, str], payload: dict[str, Any]) -> set[str]:
        return set(index.matching(RuleEvent(kind, event_type, now, attrs, payload)))

    opened = {"door": "door-1", "zone": "zone-1"}
    assert found("event", "door_contact", opened, {"open": True}) == {"door_open"}
    assert found("event", "door_contact", opened, {"open": False}) == set()
    assert found("event", "door_contact", {"door": "door-1", "zone": "zone-2"}, {"open": True}) == set()
    assert found("event", "door_contact", {"door": "door-2", "zone": "zone-1"}, {"open": True}) == set()
    seen = {"zone": "zone-0", "region": "area-1", "category": "person", "camera": "cam-zone-0"}
    assert found("detection", "zone_entered", seen, {}) == {"yard"}
    assert found("detection", "zone_entered", {**seen, "region": "area-0"}, {}) == set()
    assert found("detection", "zone_left", seen, {}) == set()
    assert found("audit", "access_decision", {"door": "door-0"}, {"granted": False}) == {"any_denied"}
    assert found("audit", "access_decision", {"door": "door-0"}, {}) == set()


class NaiveIndex(Generic[T]):
    """The scan the index replaces: every filter checked against every event."""

    def __init__(self) -> None:
        self._filters: list[tuple[EventFilter, T]] = []
        self.size = 0

    def add(self, flt: EventFilter, item: T) -> None:
        self._filters.append((flt, item))
        self.size += 1

    def matching(self, event: RuleEvent) -> Iterator[T]:
        return (item for flt, item in self._filters if event.matches(flt))


def random_rules(rng: random.Random, count: int) -> list[Rule]:
    """Rules over the bench site's ids: event triggers (some waiting, with cancel_on), absence, count, quiet."""
    zones, doors = [f"zone-{i}" for i in range(3)], [f"door-{i}" for i in range(3)]
    made: list[Rule] = []
    for i in range(count):
        door, zone = rng.choice(doors), rng.choice(zones)
        shapes: list[dict[str, Any]] = [
            {"type": "door_contact", "door": door, "match": {"open": rng.random() < 0.5}},
            {"type": "access_decision", "door": door, "match": {"granted": False}},
            {"kind": "detection", "zone": zone, "category": "person"},
            {"kind": "detection", "type": "zone_entered", "zone": zone, "region": rng.choice(["area-0", "area-1"])},
            {"zone": zone},
            {"type": "access_decision"},
        ]
        trigger: dict[str, Any]
        roll = rng.random()
        if roll < 0.6:
            trigger = {"type": "event", "filter": rng.choice(shapes)}
            if rng.random() < 0.2:
                trigger["for_s"] = rng.choice([5, 30])
                trigger["cancel_on"] = rng.choice(shapes)
        else:
            trigger = {"type": "absence", "filter": rng.choice(shapes), "minutes": rng.choice([1, 2])}
        conditions: list[dict[str, Any]] = []
        if rng.random() < 0.4:
            conditions.append({"type": "count", "filter": rng.choice(shapes), "at_least": 2, "within_s": 60})
        if rng.random() < 0.3:
            conditions.append({"type": "quiet", "filter": rng.choice(shapes), "minutes": 1})
        made.append(
            Rule.model_validate(
                {
                    "id": f"r{i}",
                    "name": f"r{i}",
                    "trigger": trigger,
                    "conditions": conditions,
                    "actions": [{"type": "mqtt", "topic": "t/{rule_id}"}],
                    "rate_limit": {"max_runs": rng.choice([1, 3, 10]), "per_s": 60},
                }
            )
        )
    return made


def random_entries(rng: random.Random, count: int, start: datetime) -> list[JournalEntry]:
    """Door contacts, badge decisions and detections on the bench site, a few seconds apart."""
    entries: list[JournalEntry] = []
    at = start
    for n in range(1, count + 1):
        at += timedelta(seconds=rng.uniform(0, 8))
        roll = rng.random()
        door = f"door-{rng.randrange(3)}"
        if roll < 0.3:
            kind, payload = "event", {"type": "door_contact", "door_id": door, "open": rng.random() < 0.5}
        elif roll < 0.55:
            kind, payload = "audit", {"type": "access_decision", "door_id": door, "granted": rng.random() < 0.5}
        else:
            zone = f"zone-{rng.randrange(3)}"
            kind = "detection"
            payload = {
                "kind": rng.choice(["zone_entered", "zone_left", "track_started"]),
                "camera_id": f"cam-{zone}",
                "zone": zone,
                "category": rng.choice(["person", "vehicle"]),
                "region": rng.choice(["area-0", "area-1"]),
            }
        entries.append(JournalEntry(n, kind, at, "", f"event {n}", payload))
    return entries


def test_engine_on_the_index_acts_exactly_as_the_naive_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reader = EventReader(site(tmp_path))
    start = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    outcomes: list[list[tuple[Any, ...]]] = []
    for index_class in (FilterIndex, NaiveIndex):
        monkeypatch.setattr(engine_module, "FilterIndex", index_class)
        rules, entries = random_rules(random.Random(15), 120), random_entries(random.Random(16), 3000, start)
        result = replay(
            rules,
            entries,
            reader,
            door_zones={f"door-{i}": f"zone-{i}" for i in range(16)},
            tz=ZoneInfo("Europe/Berlin"),
            calendars={},
            since=start,
            until=entries[-1].occurred_at + timedelta(hours=1),
        )
        hits = [(h.at, h.rule_id, h.outcome, h.trigger, h.journal_id or 0, h.detail) for h in result.hits]
        outcomes.append(sorted(hits))
    indexed, naive = outcomes
    assert indexed == naive
    kinds = {hit[2] for hit in naive}
    assert {"would_run", "suppressed", "cancelled"} <= kinds, kinds  # the mix exercises what the index feeds
