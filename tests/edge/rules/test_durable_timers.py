"""A rule waiting when the box stops resumes when it starts again (a real restart of the edge app).

Policy under test (edge.rules.timers): a timer that fell due while the box was down runs at start if it is at most
the rule's `catch_up_s` late, and is recorded as missed otherwise.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from edge import keys
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from firmware_adapters.simulated import SimulatedContact, SimulatedDeviceConfig
from sync.rules import Rule
from tests.edge.site import DEVICE_PASSWORDS
from tests.polling import eventually


def left_open(rule_id: str, catch_up_s: float, alarm: str) -> Rule:
    """Door open for 1 s (and still open then) -> raise `alarm` on the front door."""
    body: dict[str, Any] = {
        "id": rule_id,
        "name": f"Front left open ({rule_id})",
        "trigger": {
            "type": "event",
            "filter": {"type": "door_contact", "door": "front", "match": {"open": True}},
            "for_s": 1,
            "cancel_on": {"type": "door_contact", "door": "front", "match": {"open": False}},
        },
        "conditions": [{"type": "door", "door": "front", "state": "open"}],
        "actions": [{"type": "alarm", "op": "raise", "source": "front", "alarm": alarm, "detail": "{summary}"}],
        "catch_up_s": catch_up_s,
    }
    return Rule.model_validate(body)


async def test_waiting_run_resumes_after_restart_or_is_recorded_missed(edge_config: EdgeConfig) -> None:
    first = EdgeRunner(edge_config)
    await first.start()
    try:
        rules = first.app[keys.RULES]
        await rules.save(left_open("catch-up", 900, "left_open"), by="test")
        await rules.save(left_open("no-catch-up", 0, "left_open_strict"), by="test")
        contact = SimulatedContact(
            SimulatedDeviceConfig(
                device_id="contact-front", password=DEVICE_PASSWORDS["contact-front"], port=first.mqtt_port
            )
        )
        await contact.start()
        await contact.set_open(True)
        await eventually(lambda: rules.timers.pending("catch-up", "for") and rules.timers.pending("no-catch-up", "for"))
        due = rules.timers.due_at("catch-up", "for")
        assert due is not None
        await contact.stop()
    finally:
        await first.stop()  # the box goes down while both rules wait
    await eventually(lambda: datetime.now(UTC) > due)  # ... and stays down past the moment they were due

    second = EdgeRunner(edge_config)
    await second.start()
    try:
        rules = second.app[keys.RULES]
        alarms = second.app[keys.ACCESS].supervisor.alarms
        caught = await eventually(lambda: _outcomes(rules, "catch-up"))
        assert caught[0].outcome == "ran" and "caught up" in caught[0].detail
        listed = await eventually(lambda: _alarm(alarms, "left_open"))
        assert listed.door_id == "front"
        missed = await eventually(lambda: _outcomes(rules, "no-catch-up"))
        assert missed[0].outcome == "missed" and "late" in missed[0].detail
        assert await _alarm(alarms, "left_open_strict") is None
        assert not rules.timers.pending("catch-up", "for")
    finally:
        await second.stop()


async def test_a_closing_door_cancels_the_waiting_run(edge_app: EdgeRunner) -> None:
    rules = edge_app.app[keys.RULES]
    await rules.save(left_open("catch-up", 900, "left_open"), by="test")
    contact = SimulatedContact(
        SimulatedDeviceConfig(
            device_id="contact-front", password=DEVICE_PASSWORDS["contact-front"], port=edge_app.mqtt_port
        )
    )
    await contact.start()
    try:
        await contact.set_open(True)
        await eventually(lambda: rules.timers.pending("catch-up", "for"))
        await contact.set_open(False)
        cancelled = await eventually(lambda: _outcomes(rules, "catch-up"))
        assert cancelled[0].outcome == "cancelled"
        assert not rules.timers.pending("catch-up", "for")
    finally:
        await contact.stop()


async def _outcomes(rules: Any, rule_id: str) -> Any:
    return await rules.history.recent(rule_id) or None


async def _alarm(alarms: Any, kind: str) -> Any:
    return next((a for a in await alarms.open_alarms() if a.alarm == kind), None)
