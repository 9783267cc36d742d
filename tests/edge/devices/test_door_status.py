"""The door's one-word status comes from device reports and alarms, worst first."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from edge.devices.state import DoorState

NOW = datetime(2026, 6, 10, 8, 0, tzinfo=UTC)


def door(**fields) -> DoorState:
    state = DoorState("front", "Front door", "lobby", "lock-front", lock_online=True, locked=True, open=False)
    for key, value in fields.items():
        setattr(state, key, value)
    return state


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({}, "locked"),
        ({"locked": False}, "unlocked"),
        ({"locked": None}, "unknown"),
        ({"open": True}, "open"),
        ({"open": True, "alarms": {"command_failed": NOW}}, "fault"),
        ({"open": True, "alarms": {"held_open": NOW, "command_failed": NOW}}, "held"),
        ({"open": True, "alarms": {"forced_open": NOW, "held_open": NOW}}, "forced"),
        ({"lock_online": False, "alarms": {"forced_open": NOW}}, "offline"),
        ({"lock_online": False, "fail_mode": "safe"}, "unlocked (fail-safe)"),
    ],
)
def test_status_word(fields, status) -> None:
    assert door(**fields).status == status


def test_json_carries_state_alarms_and_fault() -> None:
    state = door(lock_online=False, fail_mode="safe", alarms={"lock_offline": NOW}, mode="lockdown")
    data = state.as_json()
    assert (data["status"], data["status_key"], data["fault"], data["mode"]) == (
        "unlocked (fail-safe)",
        "failsafe",
        True,
        "lockdown",
    )
    assert data["alarms"] == [
        {"alarm": "lock_offline", "text": "lock controller unreachable", "since": NOW.isoformat()}
    ]
    assert door().as_json()["fault"] is False
