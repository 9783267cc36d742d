"""The fleet's pure rules: matching a misread plate to the register, and the gate log's arrivals, departures and
visits (cloud/fleet/plates.py, cloud/fleet/gatelog.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloud.fleet.gatelog import PlateRead, build_log, trips
from cloud.fleet.plates import CONFUSABLE_CONFIDENCE, OTHER_CONFIDENCE, match_plate, normalise

FLEET = {"BAB1234": "van-1", "BAB1235": "van-2", "MXY808": "van-3", "KL0456": "van-4"}
T0 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def test_plates_are_normalised() -> None:
    assert normalise(" b-ab 1234 ") == "BAB1234"


@pytest.mark.parametrize(
    ("read", "plate", "confidence"),
    [
        ("KLO456", "KL0456", CONFUSABLE_CONFIDENCE),  # O read for 0
        ("MXY8O8", "MXY808", CONFUSABLE_CONFIDENCE),
        ("MXYB08", "MXY808", CONFUSABLE_CONFIDENCE),  # B read for 8
        ("MXY8X8", "MXY808", OTHER_CONFIDENCE),  # any other single substitution: lower confidence
    ],
)
def test_one_misread_character_matches_with_a_confidence(read: str, plate: str, confidence: float) -> None:
    found = match_plate(read, FLEET)
    assert (found.kind, found.plate, found.confidence) == ("fuzzy", plate, confidence)


def test_exact_ambiguous_and_unknown() -> None:
    assert (match_plate("bab 1234", FLEET).kind, match_plate("BAB1234", FLEET).confidence) == ("exact", 1.0)
    ambiguous = match_plate("BAB1236", FLEET)  # one character from both BAB1234 and BAB1235
    assert (ambiguous.kind, ambiguous.plate, ambiguous.candidates) == ("ambiguous", None, ("BAB1234", "BAB1235"))
    assert match_plate("ZZZ999", FLEET).kind == "unknown"
    assert match_plate("MXY8OB", FLEET).kind == "unknown"  # two characters off: no match
    assert match_plate("MXY80", FLEET).kind == "unknown"  # a dropped character is not a substitution


def read(minutes: int, plate: str, door: str = "yard", site: str = "a") -> PlateRead:
    return PlateRead(site, door, T0 + timedelta(minutes=minutes), plate, 0.9, True)


def test_both_way_gate_pairs_arrivals_and_departures_into_visits() -> None:
    log = build_log(
        [
            read(0, "BAB1234"),
            read(1, "BAB1234"),  # the same passage read again within 2 minutes: dropped
            read(30, "KLO456"),  # misread van-4 arrives
            read(95, "BAB1234"),  # van-1 leaves
            read(100, "ZZZ999"),  # unknown plate arrives
            read(200, "KL0456"),  # van-4 leaves
        ],
        FLEET,
        {},
    )
    assert [(e.vehicle_id, e.movement) for e in log.events] == [
        ("van-1", "arrival"),
        ("van-4", "arrival"),
        ("van-1", "departure"),
        (None, "arrival"),
        ("van-4", "departure"),
    ]
    visits = {v.key: v for v in log.visits}
    assert visits["van-1"].minutes == 95 and visits["van-4"].minutes == 170
    assert visits["plate:ZZZ999"].departed is None and visits["plate:ZZZ999"].minutes is None
    assert trips(log, {}) == {"van-1": 1, "van-4": 1}


def test_marked_gates_and_missing_ends_are_never_guessed() -> None:
    gates = {("a", "in"): "in", ("a", "out"): "out"}
    log = build_log(
        [
            read(0, "BAB1234", "out"),  # left without an arrival in the period
            read(10, "BAB1234", "in"),
            read(20, "BAB1234", "in"),  # a second arrival: the first visit's departure was missed
            read(60, "BAB1234", "out"),
            read(70, "MXY808", "in", site="b"),  # at another site: gate not marked there -> both ways, arrival
        ],
        FLEET,
        gates,  # type: ignore[arg-type]
    )
    shapes = [(v.site_id, v.arrived is not None, v.departed is not None, v.minutes) for v in log.visits]
    assert shapes == [
        ("a", False, True, None),
        ("a", True, False, None),
        ("a", True, True, 40),
        ("b", True, False, None),
    ]
    assert trips(log, {"van-1": T0 + timedelta(minutes=15)}) == {"van-1": 1, "van-3": 1}
