"""Door, relay and lockdown actions go through the access path: the lock receives the command, the audit names
the rule; a lock that is offline fails the run with the reason in the history."""

from __future__ import annotations

from typing import Any

import httpx

from edge import keys
from edge.app import EdgeRunner
from sync.rules import Rule
from tests.edge.site import DeviceFactory
from tests.polling import eventually

PANIC: dict[str, Any] = {"type": "event", "filter": {"kind": "event", "type": "panic_button"}}


async def test_hold_relay_and_lockdown_actions(edge_app: EdgeRunner, devices: DeviceFactory) -> None:
    lock = await devices("lock-front", "lock")
    rules = edge_app.app[keys.RULES]
    journal = edge_app.app[keys.JOURNAL]
    access = edge_app.app[keys.ACCESS]
    await eventually(lambda: edge_app.app[keys.SITE_STATE].doors["front"].lock_online)
    rule = {
        "id": "panic",
        "name": "Panic: open the front door, then lock the lobby down",
        "trigger": PANIC,
        "actions": [
            {"type": "door", "door": "front", "action": "hold"},
            {"type": "relay", "device": "lock-front", "state": "on", "duration_s": 5},
            {"type": "lockdown", "active": True, "zone": "lobby", "reason": "panic at {device}"},
        ],
    }
    await rules.save(Rule.model_validate(rule), by="test")
    await journal.record("event", {"type": "panic_button", "device_id": "reader-front"}, summary="panic")
    held = await lock.commands.get()
    assert held.action == "unlock" and held.duration_s is None  # held until a lock command
    relay = await lock.commands.get()
    assert relay.action == "unlock" and relay.duration_s == 5
    runs = await eventually(lambda: rules.history.recent("panic"))  # after every action, audits included
    assert runs[0].outcome == "ran"
    assert access.lockdowns.applies("lobby")
    audits = [e.payload for e in await journal.recent(20, "audit")]
    manual = next(a for a in audits if a.get("type") == "manual_command")
    assert manual["by"] == "rule:panic" and manual["hold"] is True
    assert any(a.get("type") == "relay_command" and a["by"] == "rule:panic" for a in audits)
    lockdown = next(a for a in audits if a.get("type") == "lockdown")
    assert lockdown["reason"] == "panic at reader-front" and lockdown["by"] == "rule:panic"
    async with httpx.AsyncClient() as http:
        metrics = (await http.get(f"http://127.0.0.1:{edge_app.web_port}/metrics")).text
    assert 'outpost_edge_rule_firings_total{outcome="run"} 1.0' in metrics


async def test_offline_lock_fails_the_run_with_the_reason(edge_app: EdgeRunner) -> None:
    rules = edge_app.app[keys.RULES]
    rule = {
        "id": "unlock",
        "name": "Unlock",
        "trigger": PANIC,
        "actions": [{"type": "door", "door": "front", "action": "unlock"}],
    }
    await rules.save(Rule.model_validate(rule), by="test")
    await edge_app.app[keys.JOURNAL].record("event", {"type": "panic_button"}, summary="panic")
    runs = await eventually(lambda: rules.history.recent("unlock"))
    assert runs[0].outcome == "failed" and "actions.0 (door)" in runs[0].detail and "offline" in runs[0].detail
