"""The notification queue is durable: a webhook failing, then the box restarting, then the endpoint recovering
still delivers the message once, with the same webhook-id and a valid signature; MQTT channels publish JSON."""

from __future__ import annotations

import json
from pathlib import Path

from standardwebhooks.webhooks import Webhook

from edge import keys
from edge.app import EdgeRunner
from edge.broker.directory import hash_password
from edge.config import EdgeConfig
from tests.edge.rules.receivers import webhook_receiver, webhook_secret
from tests.edge.site import site_config_dict
from tests.paho_device import PahoDevice
from tests.polling import eventually


async def test_webhook_retries_with_backoff_and_survives_a_restart(tmp_path: Path) -> None:
    secret = webhook_secret(tmp_path / "hook.secret")
    # Down for the first two attempts, then up.
    async with webhook_receiver(statuses=[503, 500, 204]) as hook:
        config = site_config_dict(tmp_path / "edge")
        config["rules"] = {
            "channels": {
                "guard-co": {"type": "webhook", "url": hook.url, "secret_file": str(tmp_path / "hook.secret")}
            },
            "first_retry_s": 0.3,
            "max_retry_s": 1,
        }
        edge_config = EdgeConfig.model_validate(config)
        first = EdgeRunner(edge_config)
        await first.start()
        try:
            notifier = first.app[keys.RULES].notifier
            message_id = await notifier.enqueue("manual", "guard-co", {"rule": {"id": "manual", "name": "Manual"}})
            await eventually(lambda: len(hook.received) == 1)  # the first attempt failed (503)
            problems = await eventually(notifier.problems)
            assert problems[0].status == "pending" and "HTTP 503" in problems[0].last_error
        finally:
            await first.stop()  # still queued: the box goes down before the retry
        second = EdgeRunner(edge_config)
        await second.start()
        try:
            notifier = second.app[keys.RULES].notifier
            sent = await eventually(lambda: _status(notifier, message_id, "sent"), timeout_s=10)
            assert sent.attempts == 3
            assert await notifier.problems() == []
            ids = [headers["webhook-id"] for headers, _body in hook.received]
            assert ids == [message_id] * 3  # one message, retried under one id
            headers, body = hook.received[-1]
            assert Webhook(secret).verify(body, headers)["rule"]["id"] == "manual"
            stamps = [int(h["webhook-timestamp"]) for h, _ in hook.received]
            assert stamps == sorted(stamps)
        finally:
            await second.stop()


async def test_gives_up_after_the_retry_period_and_says_why(tmp_path: Path) -> None:
    webhook_secret(tmp_path / "hook.secret")
    async with webhook_receiver(statuses=[500]) as hook:
        config = site_config_dict(tmp_path / "edge")
        config["rules"] = {
            "channels": {
                "guard-co": {"type": "webhook", "url": hook.url, "secret_file": str(tmp_path / "hook.secret")}
            },
            "first_retry_s": 0.2,
            "max_retry_s": 0.2,
            "retry_for_s": 0.5,
        }
        edge = EdgeRunner(EdgeConfig.model_validate(config))
        await edge.start()
        try:
            notifier = edge.app[keys.RULES].notifier
            message_id = await notifier.enqueue("manual", "guard-co", {"rule": {"id": "manual", "name": "Manual"}})
            failed = await eventually(lambda: _status(notifier, message_id, "failed"), timeout_s=10)
            assert failed.attempts >= 2 and "HTTP 500" in failed.last_error
            assert len(hook.received) == failed.attempts
        finally:
            await edge.stop()


async def test_mqtt_channel_publishes_the_notification(tmp_path: Path) -> None:
    config = site_config_dict(tmp_path / "edge")
    config["mqtt"]["accounts"] = [
        {"username": "hq-bridge", "password_hash": hash_password("bridge-pw"), "subscribe": ["#"]}
    ]
    config["rules"] = {"channels": {"ops-topic": {"type": "mqtt", "topic": "site/notifications"}}}
    edge = EdgeRunner(EdgeConfig.model_validate(config))
    await edge.start()
    bridge = PahoDevice(edge.mqtt_port, "hq-bridge-1", "hq-bridge", "bridge-pw")
    try:
        assert await bridge.connect()
        await bridge.subscribe("site/notifications")
        message_id = await edge.app[keys.RULES].notifier.enqueue(
            "manual", "ops-topic", {"rule": {"id": "manual", "name": "Manual"}, "message": "hello"}
        )
        got = await eventually(lambda: [p for t, p in bridge.messages if t == "site/notifications"])
        assert json.loads(got[0]) == {"id": message_id, "rule": {"id": "manual", "name": "Manual"}, "message": "hello"}
    finally:
        bridge.close()
        await edge.stop()


async def _status(notifier, message_id: str, status: str):  # type: ignore[no-untyped-def]
    for record in await notifier.recent(50):
        if record.message_id == message_id and record.status == status:
            return record
    return None
