"""The engine's triggers and conditions, replayed over recorded events on the replay's clock (edge.rules.dryrun)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from edge.config import EdgeConfig
from edge.rules.dryrun import DryRunResult, replay
from edge.rules.events import EventReader
from edge.storage.journal import JournalEntry
from sync.policy import HolidayCalendar
from sync.rules import Rule
from tests.edge.site import site_config_dict

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 7, 1, 0, 0, tzinfo=BERLIN)  # a Wednesday
HOLIDAYS = {"de": HolidayCalendar(dates=[datetime(2026, 7, 2).date()])}  # Thursday is a holiday


@pytest.fixture
def reader(tmp_path: Path) -> EventReader:
    return EventReader(EdgeConfig.model_validate(site_config_dict(tmp_path)))


def entry(n: int, at: datetime, kind: str, payload: dict[str, Any], summary: str = "") -> JournalEntry:
    return JournalEntry(n, kind, at.astimezone(UTC), "", summary or f"event {n}", payload)


def run(
    reader: EventReader, rules: list[dict[str, Any]], entries: list[JournalEntry], hours: float = 48
) -> DryRunResult:
    return replay(
        [Rule.model_validate(r) for r in rules],
        entries,
        reader,
        door_zones={"front": "lobby"},
        tz=BERLIN,
        calendars=HOLIDAYS,
        since=T0,
        until=T0 + timedelta(hours=hours),
    )


def rule(rule_id: str, trigger: dict[str, Any], conditions: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": rule_id,
        "name": rule_id,
        "trigger": trigger,
        "conditions": conditions or [],
        "actions": [{"type": "mqtt", "topic": "x/y"}],
        **extra,
    }


def person_in(zone: str) -> dict[str, Any]:
    return {"kind": "zone_entered", "camera_id": "yard-cam", "zone": zone, "category": "person", "region": "gate"}


def fired(result: DryRunResult, rule_id: str, outcome: str = "would_run") -> list[int | None]:
    return [h.journal_id for h in result.hits if h.rule_id == rule_id and h.outcome == outcome]


def test_time_window_in_site_time_zone_excludes_holidays(reader: EventReader) -> None:
    yard = rule(
        "yard-after-20",
        {
            "type": "event",
            "filter": {"kind": "detection", "type": "zone_entered", "zone": "yard", "category": "person"},
        },
        [{"type": "time_window", "start": "20:00", "end": "06:00", "holidays": ["de"]}],
    )
    events = [
        entry(1, T0.replace(hour=19), "detection", person_in("yard")),  # before 20:00 local
        entry(2, T0.replace(hour=21), "detection", person_in("yard")),  # in the window
        entry(3, T0.replace(hour=21), "detection", person_in("lobby")),  # another zone
        entry(4, T0 + timedelta(days=1, hours=2), "detection", person_in("yard")),  # 02:00: Wednesday's window
        entry(5, T0 + timedelta(days=1, hours=21), "detection", person_in("yard")),  # Thursday is a holiday
    ]
    assert fired(run(reader, [yard], events), "yard-after-20") == [2, 4]


def test_threshold_trigger_fires_once_per_crossing_with_hysteresis(reader: EventReader) -> None:
    hot = rule(
        "hot", {"type": "threshold", "sensor": "temp-lobby", "metric": "temperature_c", "above": 30, "hysteresis": 2}
    )
    readings = [29, 31, 30.5, 31.5, 29, 31, 27.9, 30.1]  # re-armed only at 27.9 (<= 28)
    events = [
        entry(
            i + 1, T0 + timedelta(minutes=i), "telemetry", {"device_id": "temp-lobby", "values": {"temperature_c": v}}
        )
        for i, v in enumerate(readings)
    ]
    assert fired(run(reader, [hot], events), "hot") == [2, 8]


def test_count_within_a_window(reader: EventReader) -> None:
    denied = {"type": "access_decision", "door_id": "front", "reader_id": "reader-front", "granted": False}
    three = rule(
        "three-denied",
        {"type": "event", "filter": {"kind": "audit", "type": "access_decision", "match": {"granted": False}}},
        [
            {
                "type": "count",
                "filter": {"type": "access_decision", "match": {"granted": False}},
                "at_least": 3,
                "within_s": 60,
            }
        ],
    )
    times = [0, 10, 20, 200, 210, 215]
    events = [entry(i + 1, T0 + timedelta(seconds=s), "audit", denied) for i, s in enumerate(times)]
    assert fired(run(reader, [three], events), "three-denied") == [3, 6]


def test_absence_trigger_and_quiet_condition(reader: EventReader) -> None:
    patrol = {"type": "access_decision", "door_id": "front", "reader_id": "reader-front", "granted": True}
    no_patrol = rule("no-patrol", {"type": "absence", "filter": {"type": "access_decision"}, "minutes": 30})
    first_after_quiet = rule(
        "first-after-quiet",
        {"type": "event", "filter": {"type": "access_decision"}},
        [{"type": "quiet", "filter": {"type": "access_decision"}, "minutes": 20}],
    )
    events = [entry(i + 1, T0 + timedelta(minutes=m), "audit", patrol) for i, m in enumerate([5, 15, 60])]
    result = run(reader, [no_patrol, first_after_quiet], events, hours=1.5)
    absence = [h.at for h in result.hits if h.rule_id == "no-patrol"]
    # Armed at the start of the replay (T0), re-armed by each badge: due 45 min after the one at :15, then at :90.
    assert absence == [T0 + timedelta(minutes=45), T0 + timedelta(minutes=90)]
    assert fired(result, "first-after-quiet") == [1, 3]  # the one 10 min after another is not after a quiet


def test_rate_limit_suppresses_a_flapping_sensor(reader: EventReader) -> None:
    flap = rule(
        "flap",
        {"type": "event", "filter": {"type": "door_contact"}},
        rate_limit={"max_runs": 3, "per_s": 60},
    )
    events = [
        entry(
            i + 1, T0 + timedelta(seconds=i), "event", {"type": "door_contact", "door_id": "front", "open": i % 2 == 0}
        )
        for i in range(20)
    ]
    result = run(reader, [flap], events, hours=1)
    assert fired(result, "flap") == [1, 2, 3]
    assert len(fired(result, "flap", "suppressed")) == 1  # one history line per burst


def test_time_trigger_runs_daily_in_local_time(reader: EventReader) -> None:
    nightly = rule(
        "nightly",
        {"type": "time", "at": "20:00", "days": ["wed", "thu"]},
        [{"type": "zone", "zone": "lobby", "state": "not_lockdown"}],
    )
    result = run(reader, [nightly], [], hours=72)
    assert [h.at.astimezone(BERLIN) for h in result.hits] == [
        T0.replace(hour=20),
        (T0 + timedelta(days=1)).replace(hour=20),
    ]


def test_for_s_waits_and_rechecks_the_door(reader: EventReader) -> None:
    held = rule(
        "held",
        {"type": "event", "filter": {"type": "door_contact", "match": {"open": True}}, "for_s": 60},
        [{"type": "door", "door": "front", "state": "open"}],
    )

    def contact(n: int, s: int, is_open: bool) -> JournalEntry:
        return entry(
            n, T0 + timedelta(seconds=s), "event", {"type": "door_contact", "door_id": "front", "open": is_open}
        )

    # Opened, closed after 30 s (the run finds it closed and is cancelled), opened again and left open.
    result = run(reader, [held], [contact(1, 0, True), contact(2, 30, False), contact(3, 100, True)], hours=1)
    assert [(h.outcome, h.journal_id) for h in result.hits] == [("cancelled", 1), ("would_run", 3)]
