"""Rule MQTT actions and notification channels stay off the devices' topics (sync.mqtt_topics).

A message under `outpost/`, `zigbee2mqtt/`, `cmnd/`... would reach the adapters as a device's own, or a device
as the site's command: refused when the rule or channel is saved, and again once placeholders are filled.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from edge.config import EdgeConfig
from edge.rules.actions import ActionPorts, ActionRunner
from edge.rules.engine import ActionFailed, Firing
from edge.storage.database import Database
from edge.storage.journal import Journal
from sync.rules import Rule
from tests.edge.site import site_config_dict


def mqtt_rule(topic: str) -> dict[str, Any]:
    return {
        "id": "relay-alerts",
        "name": "Relay alerts",
        "trigger": {"type": "event", "filter": {"type": "door_contact"}},
        "actions": [{"type": "mqtt", "topic": topic, "payload": "{summary}"}],
    }


@pytest.mark.parametrize(
    "topic", ["outpost/reader-front/event", "zigbee2mqtt/front_lock/set", "cmnd/strike_front/POWER1", "$SYS/x"]
)
def test_a_rule_publishing_under_a_device_root_is_refused(topic: str) -> None:
    with pytest.raises(ValidationError, match="belongs to the site's devices"):
        Rule.model_validate(mqtt_rule(topic))


def test_a_notification_channel_under_a_device_root_is_refused(tmp_path: Path) -> None:
    config = site_config_dict(tmp_path)
    config["rules"] = {"channels": {"ops": {"type": "mqtt", "topic": "shellies/gate/relay/0/command"}}}
    with pytest.raises(ValidationError, match="belongs to the site's devices"):
        EdgeConfig.model_validate(config)


async def test_a_filled_placeholder_cannot_reach_a_device_root(db: Database) -> None:
    published: list[tuple[str, bytes]] = []

    async def publish(topic: str, payload: bytes, retain: bool) -> None:
        published.append((topic, payload))

    runner = ActionRunner(ActionPorts(journal=Journal(db), publish=publish, device_topic_roots=frozenset({"z2m"})))
    rule = Rule.model_validate(mqtt_rule("{door}/alert"))
    at = datetime.now(UTC)
    assert await runner(rule, Firing(rule.id, at, "event", values={"door": "front", "summary": "open"}))
    assert published == [("front/alert", b"open")]
    for door in ("cmnd", "z2m"):  # a fixed root, and a bridge's base topic of this site
        with pytest.raises(ActionFailed, match="belongs to the site's devices"):
            await runner(rule, Firing(rule.id, at, "event", values={"door": door, "summary": "open"}))
    assert len(published) == 1
