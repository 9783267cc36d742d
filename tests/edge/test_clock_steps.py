"""Fault: the wall clock steps forward and backward under a running edge (NTP fixing a wrong RTC, an operator).

The edge runs on a clock this test steps (edge.clock.WallClock over the system time plus an offset; the system
clock itself is shared and never touched). Policy (edge/clock.py): a rule waiting `for_s` keeps measuring elapsed
time (a forward step does not make it "missed", a backward one does not make it wait an hour more); a door's
unlock schedule follows the new time at once, not at its next periodic check; a queued notification keeps its
retry wait and its day to be delivered.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from edge import keys
from edge.app import EdgeRunner
from edge.clock import WallClock
from edge.config import EdgeConfig
from firmware_adapters.messages import Command
from sync.rules import Rule
from tests.edge.rules.receivers import webhook_receiver, webhook_secret
from tests.edge.site import DeviceFactory, site_config_dict
from tests.polling import eventually

pytestmark = pytest.mark.timeout(60)
BEFORE_OPENING = datetime(2026, 6, 10, 4, 0, tzinfo=UTC)  # Wednesday 06:00 in Berlin; the door opens at 08:00


class SteppedTime:
    """The system's time plus an offset the test changes (a step of the box's wall clock)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.offset = timedelta(0) if start is None else start - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
def time_source(request: pytest.FixtureRequest) -> SteppedTime:
    """The box's time: the system's, or from the moment a test gives as `indirect` parameter."""
    return SteppedTime(getattr(request, "param", None))


@pytest.fixture
def edge_config(tmp_path: Path) -> EdgeConfig:
    """The small test site; the front door is held unlocked 08:00-18:00 on weekdays."""
    data = site_config_dict(tmp_path / "edge")
    days = ["mon", "tue", "wed", "thu", "fri"]
    data["schedules"] = {"office": {"windows": [{"days": days, "start": "08:00", "end": "18:00"}]}}
    data["doors"][0]["unlock_schedule"] = "office"
    return EdgeConfig.model_validate(data)


@pytest.fixture
async def edge_app(edge_config: EdgeConfig, time_source: SteppedTime) -> AsyncIterator[EdgeRunner]:
    runner = EdgeRunner(edge_config, clock=WallClock(time_source.now))
    await runner.start()
    try:
        yield runner
    finally:
        await runner.stop()


def left_open(for_s: float) -> Rule:
    """Front door open for `for_s` (and still open then) -> raise a `left_open` alarm (15 min catch-up)."""
    body: dict[str, Any] = {
        "id": "left-open",
        "name": "Front left open",
        "trigger": {
            "type": "event",
            "filter": {"type": "door_contact", "door": "front", "match": {"open": True}},
            "for_s": for_s,
            "cancel_on": {"type": "door_contact", "door": "front", "match": {"open": False}},
        },
        "conditions": [{"type": "door", "door": "front", "state": "open"}],
        "actions": [{"type": "alarm", "op": "raise", "source": "front", "alarm": "left_open", "detail": "{summary}"}],
    }
    return Rule.model_validate(body)


async def step(runner: EdgeRunner, source: SteppedTime, by: timedelta) -> None:
    """Step the box's wall clock and wait until the edge has noticed (its watch looks once a second)."""
    clock = runner.app[keys.CLOCK]
    seen = clock.steps
    source.offset += by
    await eventually(lambda: clock.steps > seen, timeout_s=10)


@pytest.mark.parametrize("hours", [2, -2])
async def test_a_waiting_rule_keeps_its_duration_across_a_step(
    edge_app: EdgeRunner, devices: DeviceFactory, time_source: SteppedTime, hours: int
) -> None:
    rules = edge_app.app[keys.RULES]
    await rules.save(left_open(for_s=3), by="test")
    contact = await devices("contact-front", "contact")
    await contact.set_open(True)
    await eventually(lambda: rules.timers.pending("left-open", "for"), timeout_s=10)
    due = rules.timers.due_at("left-open", "for")
    assert due is not None

    await step(edge_app, time_source, timedelta(hours=hours))
    moved = rules.timers.due_at("left-open", "for")
    assert moved is not None and abs((moved - due) - timedelta(hours=hours)) < timedelta(seconds=1)

    async def ran() -> list[Any]:
        return await rules.history.recent("left-open")

    runs = await eventually(ran, timeout_s=15)  # a backward step without the fix: waits two hours more
    assert [r.outcome for r in runs] == ["ran"], runs  # a forward step without the fix: "missed" (2 h late)
    alarms = edge_app.app[keys.ACCESS].supervisor.alarms
    assert any(a.alarm == "left_open" for a in await alarms.open_alarms())


async def next_command(lock: Any, action: str) -> Command:
    """The next command of `action` the lock receives (others, e.g. the relock at start, are skipped)."""
    while (command := await asyncio.wait_for(lock.commands.get(), 15)).action != action:
        pass
    return command


@pytest.mark.parametrize("time_source", [BEFORE_OPENING], indirect=True)
async def test_a_door_schedule_follows_a_step_at_once(
    edge_app: EdgeRunner, devices: DeviceFactory, time_source: SteppedTime
) -> None:
    lock = await devices("lock-front", "lock")
    state = edge_app.app[keys.SITE_STATE]
    await eventually(lambda: state.doors["front"].mode == "secure", timeout_s=10)

    await step(edge_app, time_source, timedelta(hours=4))  # 10:00: inside the window
    # Without the step notice the door would wait for its periodic check (up to 5 minutes).
    assert (await next_command(lock, "unlock")).duration_s is None  # held unlocked
    assert state.doors["front"].mode == "unlocked (schedule)"

    await step(edge_app, time_source, timedelta(hours=-4))  # back to 06:00: outside again
    await next_command(lock, "lock")
    assert state.doors["front"].mode == "secure"


@pytest.mark.parametrize("hours", [48, -2])
async def test_a_queued_notification_keeps_its_retry_wait_and_day_across_a_step(
    tmp_path: Path, time_source: SteppedTime, hours: int
) -> None:
    webhook_secret(tmp_path / "hook.secret")
    async with webhook_receiver(statuses=[503, 503, 204]) as hook:
        data = site_config_dict(tmp_path / "edge")
        channel = {"type": "webhook", "url": hook.url, "secret_file": str(tmp_path / "hook.secret")}
        data["rules"] = {"channels": {"guard-co": channel}, "first_retry_s": 3, "max_retry_s": 3}
        runner = EdgeRunner(EdgeConfig.model_validate(data), clock=WallClock(time_source.now))
        await runner.start()
        try:
            notifier = runner.app[keys.RULES].notifier
            await notifier.enqueue("manual", "guard-co", {"rule": {"id": "manual", "name": "Manual"}})
            await eventually(lambda: len(hook.received) == 1, timeout_s=30)  # failed: the retry waits 3 s
            await step(runner, time_source, timedelta(hours=hours))
            # Backward without the fix: the retry waits two hours more. Forward: the retry runs at once, fails,
            # and the notification is given up as older than its day (retry_for_s).
            await eventually(lambda: len(hook.received) == 3, timeout_s=30)
            await eventually(lambda: notifier.sent == 1, timeout_s=5)
        finally:
            await runner.stop()
