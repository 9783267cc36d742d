"""The [homeassistant] config section: off by default, checked references, and the broker accounts it yields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from edge.app import build_directory
from edge.broker.mosquitto import acl_file_text
from edge.config import EdgeConfig
from edge.homeassistant.topics import BRIDGE_USERNAME, HaTopics, bridge_acl
from tests.edge.homeassistant.test_discovery import ha_config_dict
from tests.edge.site import site_config_dict


def test_off_by_default_and_no_account(tmp_path: Path) -> None:
    config = EdgeConfig.model_validate(site_config_dict(tmp_path))
    assert config.homeassistant.enabled is False
    assert "homeassistant" not in build_directory(config).users


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"password_hash": None}, "password_hash is required when enabled"),
        ({"command_doors": ["nope"]}, "homeassistant.command_doors: unknown door 'nope'"),
        ({"doors": ["front"], "command_doors": ["back"]}, "door 'back' is not in homeassistant.doors"),
        ({"devices": ["ghost"]}, "homeassistant.devices: unknown device 'ghost'"),
        ({"cameras": ["ghost"]}, "homeassistant.cameras: unknown camera 'ghost'"),
        ({"username": "lock-front"}, "'lock-front' is already a broker account"),
        ({"doors": ["*", "front"]}, "'*' stands alone"),
        ({"node_id": "a/b"}, "node_id"),
        ({"surprise": True}, "surprise"),
        ({"state_prefix": "outpost"}, "'outpost' is used by devices or by discovery"),
        ({"state_prefix": "homeassistant"}, "'homeassistant' is used by devices or by discovery"),
    ],
)
def test_bad_sections_name_the_key(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    config = ha_config_dict(tmp_path)
    config["homeassistant"].update(change)
    with pytest.raises(ValidationError, match=message.replace("*", r"\*").replace("/", "/")):
        EdgeConfig.model_validate(config)


def test_external_mosquitto_needs_a_mosquitto_hash_for_home_assistant(tmp_path: Path) -> None:
    config = ha_config_dict(tmp_path, mode="external")
    config["homeassistant"]["password_hash"] = ha_config_dict(tmp_path)["homeassistant"]["password_hash"]  # argon2
    with pytest.raises(ValidationError, match="homeassistant.password_hash: not a mosquitto password hash"):
        EdgeConfig.model_validate(config)


def test_home_assistant_account_reads_everything_and_commands_only_what_is_allowed(tmp_path: Path) -> None:
    config = EdgeConfig.model_validate(ha_config_dict(tmp_path, mode="external"))
    directory = build_directory(config)
    user = directory.users["homeassistant"]
    base = HaTopics.of(config).base
    assert set(user.publish) == {"homeassistant/status", f"{base}/door/front/set"}
    assert set(user.subscribe) == {"homeassistant/#", f"{base}/#"}
    assert directory.may_publish("homeassistant", f"{base}/door/front/set")
    assert not directory.may_publish("homeassistant", f"{base}/door/back/set")
    assert not directory.may_publish("homeassistant", f"{base}/lockdown/set")
    assert not directory.may_publish("homeassistant", "outpost/lock-front/command")  # never the devices' topics
    assert not directory.may_subscribe("homeassistant", "outpost/#")
    # The same account in Mosquitto's ACL file (external mode).
    block = acl_file_text(directory).split("user homeassistant\n", 1)[1].split("\nuser ", 1)[0]
    assert f"topic write {base}/door/front/set" in block and "door/back" not in block
    assert f"topic read {base}/#" in block


def test_the_box_account_cannot_be_a_device(tmp_path: Path) -> None:
    topics = HaTopics.of(EdgeConfig.model_validate(ha_config_dict(tmp_path)))
    publish, subscribe = bridge_acl(topics)
    assert BRIDGE_USERNAME.startswith("_")  # device ids start with [a-z0-9]
    assert f"{topics.discovery_prefix}/+/{topics.node}/+/config" in publish
    assert topics.door("+", "set") in subscribe
