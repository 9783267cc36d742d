"""`outpost-provision pair-device` / `add-door`: each kind's printed settings let a real MQTT client into the real
broker, on its own topics only; the terminal QR code decodes (OpenCV) to the same settings."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import aiomqtt
import cv2
import numpy as np
import pytest
import tomli_w

from edge.app import EdgeRunner
from edge.broker.passwords import hash_password
from edge.config import load_config
from tests.edge.site import site_config_dict
from tests.net import free_port
from tests.provisioning.installer_helpers import parse_settings, provision

OBSERVER_PASSWORD = "observer-password-1"


def box_config(path: Path, data_dir: Path) -> int:
    """The test site on a fixed broker port (devices are told it), with an observer account that sees '#'."""
    port = free_port()
    config = site_config_dict(data_dir)
    config["mqtt"] = {
        "host": "127.0.0.1",
        "port": port,
        "accounts": [
            {"username": "observer", "password_hash": hash_password(OBSERVER_PASSWORD), "subscribe": ["#"]},
        ],
    }
    path.write_text(tomli_w.dumps(config))
    path.chmod(0o600)
    return port


def decode_terminal_qr(text: str) -> str:
    """Turn a QR code printed with half blocks back into pixels and decode it with OpenCV."""
    rows = [line for line in text.splitlines() if line and set(line) <= set("█▀▄ ")]
    modules: list[list[int]] = []
    for row in rows:
        modules.append([255 if ch in "█▀" else 0 for ch in row])  # upper half light?
        modules.append([255 if ch in "█▄" else 0 for ch in row])  # lower half light?
    image = np.array(modules, dtype=np.uint8)
    image = cv2.resize(image, (image.shape[1] * 8, image.shape[0] * 8), interpolation=cv2.INTER_NEAREST)
    decoded, _, _ = cv2.QRCodeDetector().detectAndDecode(image)
    assert decoded, "OpenCV found no QR code in the terminal output"
    return str(decoded)


async def connect(settings: dict[str, str]) -> aiomqtt.Client:
    return aiomqtt.Client(
        settings["broker host"],
        int(settings["broker port"]),
        username=settings["user"],
        password=settings["password"],
        identifier=settings["client id"],
        protocol=aiomqtt.ProtocolVersion.V311,
    )


async def next_topic(observer: aiomqtt.Client) -> str:
    async for message in observer.messages:
        return str(message.topic)
    raise AssertionError("observer stopped")


CASES: list[tuple[list[str], str, str]] = [
    # (pair-device arguments, a topic the device may publish to, one it may not)
    (
        ["native", "--id", "lock-back", "--role", "lock", "--zone", "yard"],
        "outpost/lock-back/status",
        "outpost/lock-front/status",
    ),
    (["zigbee2mqtt", "--id", "z2m-bridge"], "zigbee2mqtt/bridge/state", "outpost/reader-front/event"),
    (["tasmota", "--id", "strike-back", "--topic", "strike_back"], "tele/strike_back/LWT", "tele/other_relay/LWT"),
    (
        ["shelly", "--id", "gate-relay", "--topic", "shelly1-A1B2C3"],
        "shellies/shelly1-A1B2C3/online",
        "shellies/x/online",
    ),
]


@pytest.mark.parametrize(("pair_args", "allowed", "denied"), CASES, ids=[c[0][0] for c in CASES])
async def test_paired_device_connects_with_the_printed_settings_and_stays_in_its_acl(
    tmp_path: Path, pair_args: list[str], allowed: str, denied: str
) -> None:
    config_path = tmp_path / "edge.toml"
    port = box_config(config_path, tmp_path / "box")
    rc, out, err = await provision(
        "pair-device", *pair_args, "--config", str(config_path), "--broker-host", "127.0.0.1", "--qr"
    )
    assert rc == 0, err
    [settings] = parse_settings(out)
    assert (settings["broker host"], settings["broker port"]) == ("127.0.0.1", str(port))
    assert settings["user"] == settings["client id"] == pair_args[2]
    assert settings["password"] not in config_path.read_text()  # only its hash is stored
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o600
    from_qr = json.loads(decode_terminal_qr(out))
    assert from_qr["password"] == settings["password"] and from_qr["port"] == port
    assert from_qr["username"] == settings["user"] and from_qr["host"] == settings["broker host"]

    box = EdgeRunner(load_config(config_path, environ={}))
    await box.start()
    try:
        observer = aiomqtt.Client(
            "127.0.0.1",
            port,
            username="observer",
            password=OBSERVER_PASSWORD,
            identifier="observer",
            protocol=aiomqtt.ProtocolVersion.V311,
        )
        async with observer, await connect(settings) as device:
            await observer.subscribe("#", qos=1)
            await device.publish(allowed, b"first", qos=1)
            assert await asyncio.wait_for(next_topic(observer), 10) == allowed
            await device.publish(denied, b"not allowed", qos=1)
            await device.publish(allowed, b"barrier", qos=1)
            # The barrier arrives after the denied message would have: it must come next.
            assert await asyncio.wait_for(next_topic(observer), 10) == allowed
    finally:
        await box.stop()


async def test_add_door_pairs_lock_reader_and_contact_into_a_valid_config(tmp_path: Path) -> None:
    config_path = tmp_path / "edge.toml"
    box_config(config_path, tmp_path / "box")
    settings_file = tmp_path / "usb" / "back-door.txt"
    rc, out, err = await provision(
        "add-door",
        "back",
        "--name",
        "Back door",
        "--zone",
        "yard",
        "--lock",
        "tasmota",
        "--topic",
        "back_strike",
        "--config",
        str(config_path),
        "--broker-host",
        "127.0.0.1",
        "--output",
        str(settings_file),
    )
    assert rc == 0, err
    assert "lock-back, reader-back, contact-back" in out
    assert stat.S_IMODE(settings_file.stat().st_mode) == 0o600
    written = parse_settings(settings_file.read_text())
    assert [s["device"] for s in written] == ["lock-back", "reader-back", "contact-back"]
    assert all(s["password"] not in out for s in written)  # written to the file only
    config = load_config(config_path, environ={})
    door = next(d for d in config.doors if d.id == "back")
    assert (door.lock, door.contact, [r.device for r in door.readers]) == ("lock-back", "contact-back", ["reader-back"])

    before = config_path.read_text()
    rc, _, err = await provision("add-door", "back", "--name", "Again", "--config", str(config_path))
    assert rc == 1 and "already in the config" in err
    rc, _, err = await provision("pair-device", "hue", "--id", "x", "--config", str(config_path))
    assert rc == 1 and "--kind:" in err
    rc, _, err = await provision("pair-device", "native", "--id", "Bad Id", "--config", str(config_path))
    assert rc == 1 and "--id:" in err
    rc, _, err = await provision("pair-device", "shelly", "--id", "gate", "--config", str(config_path))
    assert rc == 1 and "needs --topic" in err
    rc, _, err = await provision("pair-device", "native", "--id", "reader-back", "--config", str(config_path))
    assert rc == 1 and "already has an MQTT account" in err
    assert config_path.read_text() == before  # refused changes write nothing
