"""Rules on the running box: a door opening fires MQTT, an alarm, a signed webhook and an e-mail (all real)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from edge import keys
from edge.app import EdgeRunner
from edge.broker.directory import hash_password
from edge.config import EdgeConfig
from firmware_adapters.simulated import SimulatedContact, SimulatedDeviceConfig
from sync.rules import Rule
from tests.edge.rules.receivers import smtp_server, webhook_receiver, webhook_secret
from tests.edge.site import DEVICE_PASSWORDS, site_config_dict
from tests.paho_device import PahoDevice
from tests.polling import eventually

WATCHER_PASSWORD = "watcher-pw"


def rules_site(data_dir: Path, hook_url: str, smtp_port: int, secret_file: Path) -> dict[str, Any]:
    """The test site with a watcher MQTT account and webhook + e-mail channels."""
    config = site_config_dict(data_dir)
    config["mqtt"]["accounts"] = [
        {"username": "watcher", "password_hash": hash_password(WATCHER_PASSWORD), "subscribe": ["#"]}
    ]
    config["rules"] = {
        "channels": {
            "guard-co": {"type": "webhook", "url": hook_url, "secret_file": str(secret_file)},
            "ops-mail": {
                "type": "email",
                "host": "127.0.0.1",
                "port": smtp_port,
                "tls": "none",
                "sender": "outpost@site.example",
                "to": ["ops@site.example"],
            },
        },
        "first_retry_s": 0.2,
        "max_retry_s": 0.5,
    }
    return config


DOOR_OPEN_RULE = {
    "id": "front-opened",
    "name": "Front door opened",
    "trigger": {"type": "event", "filter": {"type": "door_contact", "door": "front", "match": {"open": True}}},
    "actions": [
        {"type": "mqtt", "topic": "site/alerts/{door}", "payload": {"door": "{door}", "what": "{summary}"}},
        {"type": "alarm", "op": "raise", "source": "front", "alarm": "intrusion", "detail": "rule: {summary}"},
        {"type": "webhook", "channel": "guard-co", "data": {"door": "{door}"}},
        {"type": "notify", "channel": "ops-mail", "subject": "{rule}", "message": "Door {door}: {summary}"},
    ],
}


@pytest.fixture
async def hooked_edge(tmp_path: Path) -> AsyncIterator[tuple[EdgeRunner, Any, Any, str]]:
    secret = webhook_secret(tmp_path / "guard-co.secret")
    async with webhook_receiver() as hook, smtp_server() as (smtp_port, mailbox):
        config = EdgeConfig.model_validate(
            rules_site(tmp_path / "edge", hook.url, smtp_port, tmp_path / "guard-co.secret")
        )
        runner = EdgeRunner(config)
        await runner.start()
        try:
            yield runner, hook, mailbox, secret
        finally:
            await runner.stop()


async def test_door_opening_fires_mqtt_alarm_webhook_and_email(
    hooked_edge: tuple[EdgeRunner, Any, Any, str],
) -> None:
    edge, hook, mailbox, secret = hooked_edge
    rules = edge.app[keys.RULES]
    await rules.save(Rule.model_validate(DOOR_OPEN_RULE), by="test")
    watcher = PahoDevice(edge.mqtt_port, "watcher-1", "watcher", WATCHER_PASSWORD)
    assert await watcher.connect()
    await watcher.subscribe("site/alerts/#")
    contact = SimulatedContact(
        SimulatedDeviceConfig(
            device_id="contact-front", password=DEVICE_PASSWORDS["contact-front"], port=edge.mqtt_port
        )
    )
    await contact.start()
    try:
        await contact.set_open(True)
        got = await eventually(lambda: [p for t, p in watcher.messages if t == "site/alerts/front"])
        body = json.loads(got[0])
        assert body["door"] == "front" and "opened" in body["what"]
        alarms = edge.app[keys.ACCESS].supervisor.alarms
        listed = await eventually(lambda: _alarm(alarms, "intrusion"))
        assert listed.door_id == "front" and "rule:" in listed.detail
        headers, raw = await eventually(lambda: hook.received[0] if hook.received else None)
        # The reference implementation verifies the signature (raises if it does not match).
        verified = Webhook(secret).verify(raw, headers)
        assert verified["rule"]["id"] == "front-opened" and verified["data"] == {"door": "front"}
        mail = await eventually(lambda: mailbox.messages[0] if mailbox.messages else None)
        assert mail["Subject"] == "Front door opened"
        assert "Door front:" in mail.get_payload()
        history = await eventually(lambda: _ran(rules))
        assert history[0].journal_id is not None and "webhook guard-co queued" in history[0].detail
        # A door closing does not match the filter: the rule ran exactly once.
        await contact.set_open(False)
        await contact.set_open(True)
        await eventually(lambda: len(hook.received) == 2)
        runs = await eventually(lambda: _runs(rules, 2))
        assert [r.outcome for r in runs] == ["ran", "ran"]
    finally:
        await contact.stop()
        watcher.close()


async def _alarm(alarms: Any, kind: str) -> Any:
    return next((a for a in await alarms.open_alarms() if a.alarm == kind), None)


async def _ran(rules: Any) -> Any:
    runs = await rules.history.recent("front-opened")
    return runs if runs and runs[0].outcome == "ran" else None


async def _runs(rules: Any, count: int) -> Any:
    runs = await rules.history.recent("front-opened")
    return runs if len(runs) >= count else None
