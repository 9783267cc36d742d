"""Home Assistant MQTT discovery from a real edge: a real MQTT client plays Home Assistant on its own account.

Every discovery payload is checked against Home Assistant's documented schema (`ha_schema`, written apart from the
code), every topic it names must carry a payload its component understands, Home Assistant's account cannot touch
a door it is not allowed to (barrier message for the negative check), allowed LOCK/UNLOCK are audited as
`homeassistant` and acknowledged, and an entity removed from the config gets an empty retained config. With the
embedded broker and with a real Mosquitto the edge runs on a free port.
"""

from __future__ import annotations

import asyncio
import functools
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from edge import keys
from edge.app import EdgeRunner
from edge.broker.directory import hash_password
from edge.broker.passwords import mosquitto_hash
from edge.config import EdgeConfig
from firmware_adapters.messages import Telemetry
from firmware_adapters.simulated import SimulatedContact, SimulatedDeviceConfig, SimulatedLock, SimulatedSensor
from tests.edge.homeassistant.ha_schema import check_discovery, check_state
from tests.edge.site import DEVICE_PASSWORDS, site_config_dict
from tests.paho_device import PahoDevice
from tests.polling import eventually

HA_PASSWORD = "home-assistant-pw"
LOCK_BACK_PASSWORD = "lock-back-pw"
NODE = "test-site"
BASE = f"outpost-ha/{NODE}"


@functools.cache
def password_hash(password: str, mode: str) -> str:
    """One hash per password and broker (hashing is deliberately slow)."""
    return mosquitto_hash(password) if mode == "external" else hash_password(password)


def ha_config_dict(data_dir: Path, mode: str = "embedded", **homeassistant: Any) -> dict[str, Any]:
    """The small test site plus a back door (lock only) and Home Assistant enabled; front commandable."""
    config = site_config_dict(data_dir)
    config["devices"].append({"id": "lock-back", "kind": "lock", "zone": "lobby", "password_hash": ""})
    config["doors"].append({"id": "back", "name": "Back door", "zone": "lobby", "lock": "lock-back"})
    passwords = {**DEVICE_PASSWORDS, "lock-back": LOCK_BACK_PASSWORD}
    for device in config["devices"]:
        device["password_hash"] = password_hash(passwords[device["id"]], mode)
    if mode == "external":
        config["mqtt"] = {"mode": "external", "host": "127.0.0.1", "port": 0}
    config["homeassistant"] = {
        "enabled": True,
        "password_hash": password_hash(HA_PASSWORD, mode),
        "command_doors": ["front"],
        **homeassistant,
    }
    return config


class HomeAssistant(PahoDevice):
    """A real MQTT client with Home Assistant's account, subscribed as Home Assistant subscribes."""

    def __init__(self, port: int) -> None:
        super().__init__(port, "homeassistant", "homeassistant", HA_PASSWORD, will=("homeassistant/status", "offline"))

    async def start(self) -> HomeAssistant:
        assert await self.connect()
        assert await self.subscribe("homeassistant/#") == [1]
        assert await self.subscribe(f"{BASE}/#") == [1]
        return self

    def retained(self) -> dict[str, bytes]:
        """The latest payload per topic."""
        return dict(self.messages)

    def discovery(self) -> dict[str, bytes]:
        return {t: p for t, p in self.retained().items() if t.endswith("/config") and t.startswith("homeassistant/")}

    def payloads(self, topic: str) -> list[bytes]:
        return [p for t, p in list(self.messages) if t == topic]


async def start_edge(config: EdgeConfig) -> EdgeRunner:
    runner = EdgeRunner(config)
    await runner.start()
    return runner


async def start_lock(port: int, device_id: str, password: str) -> SimulatedLock:
    lock = SimulatedLock(SimulatedDeviceConfig(device_id=device_id, password=password, port=port))
    await lock.start()
    return lock


@pytest.fixture(params=["embedded", "external"])
async def site(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """A started edge with Home Assistant enabled, two locks and the sensor online, and Home Assistant connected."""
    config = EdgeConfig.model_validate(ha_config_dict(tmp_path / "edge", request.param))
    runner = await start_edge(config)
    port = runner.mqtt_port
    started: list[Any] = []
    try:
        started.append(await start_lock(port, "lock-front", DEVICE_PASSWORDS["lock-front"]))
        started.append(await start_lock(port, "lock-back", LOCK_BACK_PASSWORD))
        sensor = SimulatedSensor(
            SimulatedDeviceConfig(device_id="temp-lobby", password=DEVICE_PASSWORDS["temp-lobby"], port=port),
            interval_s=60,
        )
        await sensor.start()
        started.append(sensor)
        ha = await HomeAssistant(port).start()
        started.append(ha)
        yield {"runner": runner, "ha": ha, "front": started[0], "back": started[1], "mode": request.param}
    finally:
        for item in reversed(started):
            if isinstance(item, PahoDevice):
                item.close()
            else:
                await item.stop()
        await runner.stop()


async def test_every_discovery_payload_follows_home_assistants_schema(site: dict[str, Any]) -> None:
    ha: HomeAssistant = site["ha"]
    temperature = f"homeassistant/sensor/{NODE}/device_temp-lobby_temperature_c/config"
    await eventually(lambda: temperature in ha.discovery() and f"{BASE}/door/front/state" in ha.retained())
    await eventually(lambda: ha.retained().get(f"{BASE}/door/front/state") == b"LOCKED")
    await eventually(lambda: ha.retained().get(f"{BASE}/status") == b"online")
    retained = ha.retained()
    components: dict[str, str] = {}
    for topic, payload in ha.discovery().items():
        component, config = check_discovery(topic, payload)
        check_state(component, config, retained)
        assert config["availability"][0]["topic"] == f"{BASE}/status"
        components[config["unique_id"]] = component
    assert retained[f"{BASE}/status"] == b"online"
    box = f"outpost_{NODE}"
    assert components[f"{box}_door_front_lock"] == "lock"  # commandable
    assert components[f"{box}_door_back_lock"] == "binary_sensor"  # read-only: no command topic at all
    assert components[f"{box}_door_front_contact"] == "binary_sensor"
    assert components[f"{box}_lockdown"] == "binary_sensor"  # command_lockdown is off
    for unique_id in ("door_front_forced_open", "door_front_held_open", "alarm", "device_temp-lobby_humidity_pct"):
        assert f"{box}_{unique_id}" in components
    assert len(components) == len(set(components))
    sensor = json.loads(ha.discovery()[temperature])
    assert (sensor["device_class"], sensor["unit_of_measurement"]) == ("temperature", "°C")
    assert sensor["device"]["via_device"] == box
    assert json.loads(retained[f"{BASE}/device/temp-lobby/state"])["online"] is True
    # Home Assistant may not publish discovery itself (it could fake entities).
    directory = site["runner"].app[keys.BROKER].directory
    assert not directory.may_publish("homeassistant", f"homeassistant/lock/{NODE}/x/config")


async def test_allowed_unlock_and_lock_are_audited_and_acknowledged(site: dict[str, Any]) -> None:
    ha: HomeAssistant = site["ha"]
    front: SimulatedLock = site["front"]
    journal = site["runner"].app[keys.JOURNAL]
    await eventually(lambda: ha.retained().get(f"{BASE}/door/front/state") == b"LOCKED")
    await ha.publish(f"{BASE}/door/front/set", "UNLOCK")
    unlock = await asyncio.wait_for(front.commands.get(), 5)
    assert unlock.action == "unlock"
    await eventually(lambda: len(ha.payloads(f"{BASE}/door/front/ack")) == 2)
    accepted, done = (json.loads(p) for p in ha.payloads(f"{BASE}/door/front/ack"))
    assert accepted == {
        "ok": True,
        "by": "homeassistant",
        "stage": "accepted",
        "command_id": unlock.id,
        "action": "unlock",
    }
    assert (done["stage"], done["ok"], done["lock_acked"], done["command_id"]) == ("lock", True, True, unlock.id)
    await eventually(lambda: b"UNLOCKED" in ha.payloads(f"{BASE}/door/front/state"))
    await ha.publish(f"{BASE}/door/front/set", "LOCK")
    lock = await asyncio.wait_for(front.commands.get(), 5)
    assert lock.action == "lock"
    await eventually(lambda: len(ha.payloads(f"{BASE}/door/front/ack")) == 4)
    assert [json.loads(p)["command_id"] for p in ha.payloads(f"{BASE}/door/front/ack")[2:]] == [lock.id, lock.id]
    await eventually(lambda: ha.retained().get(f"{BASE}/door/front/state") == b"LOCKED")
    states = ha.payloads(f"{BASE}/door/front/state")
    assert states.index(b"UNLOCKING") < states.index(b"UNLOCKED") < states.index(b"LOCKING")
    audits = [e for e in await journal.recent(20, "audit") if e.payload.get("type") == "manual_command"]
    assert [(e.payload["action"], e.payload["by"], e.payload["command_id"]) for e in reversed(audits)] == [
        ("unlock", "homeassistant", unlock.id),
        ("lock", "homeassistant", lock.id),
    ]
    assert all(e.source == "console:homeassistant" for e in audits)
    # A payload that is neither LOCK nor UNLOCK is answered, not acted on.
    await ha.publish(f"{BASE}/door/front/set", "OPEN-SESAME")
    await eventually(lambda: len(ha.payloads(f"{BASE}/door/front/ack")) == 5)
    assert json.loads(ha.payloads(f"{BASE}/door/front/ack")[4])["error"] == "bad_payload"
    assert front.commands.empty()


async def test_home_assistant_cannot_touch_a_door_or_the_lockdown_unless_allowed(site: dict[str, Any]) -> None:
    ha: HomeAssistant = site["ha"]
    back: SimulatedLock = site["back"]
    front: SimulatedLock = site["front"]
    app = site["runner"].app
    await eventually(lambda: app[keys.SITE_STATE].doors["back"].lock_online)
    denied_before = app[keys.BROKER].directory.denied
    await ha.publish(f"{BASE}/door/back/set", "UNLOCK")  # not in command_doors
    await ha.publish(f"{BASE}/lockdown/set", "ON")  # command_lockdown is off
    await ha.publish(f"{BASE}/door/front/set", "UNLOCK")  # the barrier: allowed, after the two above
    assert (await asyncio.wait_for(front.commands.get(), 5)).action == "unlock"
    await eventually(lambda: ha.payloads(f"{BASE}/door/front/ack"))
    assert back.commands.empty()
    assert not app[keys.ACCESS].lockdowns.active()
    audits = [e.payload for e in await app[keys.JOURNAL].recent(20, "audit")]
    assert [a["door_id"] for a in audits if a.get("type") == "manual_command"] == ["front"]
    assert not [a for a in audits if a.get("type") == "lockdown"]
    assert not ha.payloads(f"{BASE}/door/back/ack") and not ha.payloads(f"{BASE}/lockdown/ack")
    if site["mode"] == "embedded":  # Mosquitto drops refused publishes without counting them for us
        assert app[keys.BROKER].directory.denied >= denied_before + 2


async def test_lockdown_switch_when_allowed(tmp_path: Path) -> None:
    config = EdgeConfig.model_validate(ha_config_dict(tmp_path / "edge", command_lockdown=True, doors=["front"]))
    runner = await start_edge(config)
    ha = await HomeAssistant(runner.mqtt_port).start()
    try:
        switch = f"homeassistant/switch/{NODE}/lockdown/config"
        await eventually(lambda: switch in ha.discovery())
        component, payload = check_discovery(switch, ha.discovery()[switch])
        assert payload["command_topic"] == f"{BASE}/lockdown/set"
        await ha.publish(f"{BASE}/lockdown/set", "ON")
        await eventually(lambda: ha.payloads(f"{BASE}/lockdown/ack"))
        assert json.loads(ha.payloads(f"{BASE}/lockdown/ack")[0])["ok"] is True
        await eventually(lambda: ha.retained().get(f"{BASE}/lockdown/state") == b"ON")
        check_state(component, payload, ha.retained())
        [lockdown] = runner.app[keys.ACCESS].lockdowns.active()
        assert (lockdown.zone, lockdown.set_by) == (None, "homeassistant")
        assert not any(t.startswith(f"homeassistant/lock/{NODE}/door_back") for t in ha.discovery())
    finally:
        ha.close()
        await runner.stop()


@pytest.mark.parametrize("mode", ["embedded", "external"])
async def test_removed_entities_get_an_empty_retained_config(tmp_path: Path, mode: str) -> None:
    data_dir = tmp_path / "edge"
    back_lock = f"homeassistant/binary_sensor/{NODE}/door_back_lock/config"
    runner = await start_edge(EdgeConfig.model_validate(ha_config_dict(data_dir, mode)))
    ha = await HomeAssistant(runner.mqtt_port).start()
    try:
        await eventually(lambda: back_lock in ha.discovery())
        before = {t: json.loads(p)["unique_id"] for t, p in ha.discovery().items()}
    finally:
        ha.close()
        await runner.stop()

    # The back door leaves Home Assistant's list; the front door becomes commandable no more either.
    runner = await start_edge(
        EdgeConfig.model_validate(ha_config_dict(data_dir, mode, doors=["front"], command_doors=[]))
    )
    ha = await HomeAssistant(runner.mqtt_port).start()
    late = PahoDevice(runner.mqtt_port, "homeassistant", "homeassistant", HA_PASSWORD)
    try:
        await ha.publish("homeassistant/status", "online")  # Home Assistant's birth message after its reconnect
        await eventually(lambda: b"" in ha.payloads(back_lock))
        front_lock = f"homeassistant/lock/{NODE}/door_front_lock/config"
        await eventually(lambda: b"" in ha.payloads(front_lock))  # now a read-only binary_sensor instead
        after = {t: json.loads(p)["unique_id"] for t, p in ha.discovery().items() if p}
        assert f"homeassistant/binary_sensor/{NODE}/door_front_lock/config" in after
        kept = set(before) & set(after)
        assert kept and all(before[t] == after[t] for t in kept)  # unique ids stable across the restart
        ha.close()
        # A client connecting now gets no retained config of the removed entities (the broker dropped them).
        assert await late.connect()
        assert await late.subscribe("homeassistant/#") == [1]
        assert await late.subscribe(f"{BASE}/status") == [1]  # its retained "online" comes at once
        await late.publish("homeassistant/status", "online")  # the bridge answers with everything: a barrier
        await eventually(lambda: late.messages.count((f"{BASE}/status", b"online")) == 2)
        assert not [p for t, p in late.messages if t in (back_lock, front_lock) and p]
    finally:
        late.close()
        ha.close()
        await runner.stop()


async def test_camera_snapshot_and_counts(tmp_path: Path, vtest_path: Path, nanodet_path: Path) -> None:
    config_dict = ha_config_dict(tmp_path / "edge", image_interval_s=1)
    config_dict["cameras"] = [
        {
            "id": "plaza",
            "name": "Plaza",
            "zone": "lobby",
            "source": str(vtest_path),
            "fps": 5,
            "zones": [{"name": "square", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]], "categories": ["person"]}],
            "lines": [{"name": "kerb", "a": [0.0, 0.55], "b": [1.0, 0.55]}],
        }
    ]
    config_dict["vision"] = {"detector": {"model_path": str(nanodet_path), "threads": 1}}
    runner = await start_edge(EdgeConfig.model_validate(config_dict))
    ha = await HomeAssistant(runner.mqtt_port).start()
    try:
        image = f"homeassistant/image/{NODE}/camera_plaza_snapshot/config"
        await eventually(lambda: f"{BASE}/camera/plaza/image" in ha.retained(), timeout_s=30)
        configs = {t: check_discovery(t, p) for t, p in ha.discovery().items() if "/camera_plaza_" in t}
        assert image in configs
        sensors = {c["unique_id"]: c for component, c in configs.values() if component == "sensor"}
        box = f"outpost_{NODE}"
        assert sensors[f"{box}_camera_plaza_zone_square_person"]["state_class"] == "measurement"
        assert sensors[f"{box}_camera_plaza_line_kerb_in_vehicle"]["state_class"] == "total_increasing"
        assert len(sensors) == 1 + 2 * 2  # square: person; kerb: in/out x person/vehicle
        retained = ha.retained()
        for component, config in configs.values():
            check_state(component, config, retained)
    finally:
        ha.close()
        await runner.stop()


async def test_box_connection_lost_is_offline_through_its_last_will(tmp_path: Path) -> None:
    """External Mosquitto: the box's connection dies without a DISCONNECT, Mosquitto publishes the box's Last Will
    ("offline", retained), so every entity is unavailable."""
    runner = await start_edge(EdgeConfig.model_validate(ha_config_dict(tmp_path / "edge", mode="external")))
    ha = await HomeAssistant(runner.mqtt_port).start()
    try:
        await ha.wait_for(f"{BASE}/status", b"online")
        bridge = runner.app[keys.HOME_ASSISTANT]
        assert bridge is not None
        paho = bridge._link._client._client  # type: ignore[union-attr]  # noqa: SLF001 - reaching the real socket
        paho.socket().shutdown(socket.SHUT_RDWR)  # as a crash or a pulled cable would end it
        await ha.wait_for(f"{BASE}/status", b"offline")
    finally:
        ha.close()
        await runner.stop()


async def test_a_lock_that_never_answers_is_reported_to_home_assistant(tmp_path: Path) -> None:
    config = ha_config_dict(tmp_path / "edge")
    config["access"] = {"command_ack_timeout_s": 0.2, "command_retries": 1}
    runner = await start_edge(EdgeConfig.model_validate(config))
    lock = SimulatedLock(
        SimulatedDeviceConfig(device_id="lock-front", password=DEVICE_PASSWORDS["lock-front"], port=runner.mqtt_port),
        acknowledge=False,
    )
    await lock.start()
    ha = await HomeAssistant(runner.mqtt_port).start()
    try:
        await eventually(lambda: runner.app[keys.SITE_STATE].doors["front"].lock_online)
        await ha.publish(f"{BASE}/door/front/set", "UNLOCK")
        await eventually(lambda: len(ha.payloads(f"{BASE}/door/front/ack")) == 2)
        done = json.loads(ha.payloads(f"{BASE}/door/front/ack")[1])
        assert (done["stage"], done["ok"], done["lock_acked"]) == ("lock", False, False)
        assert "no ack after 2 attempts" in done["detail"]
    finally:
        ha.close()
        await lock.stop()
        await runner.stop()


async def test_battery_link_quality_and_alarms_reach_home_assistant(site: dict[str, Any]) -> None:
    ha: HomeAssistant = site["ha"]
    port = site["runner"].mqtt_port
    contact = SimulatedContact(
        SimulatedDeviceConfig(device_id="contact-front", password=DEVICE_PASSWORDS["contact-front"], port=port)
    )
    await contact.start()
    try:
        await contact.publish("telemetry", Telemetry(values={"battery_pct": 81, "linkquality": 120, "tamper": 0}))
        battery = f"homeassistant/sensor/{NODE}/device_contact-front_battery_pct/config"
        link = f"homeassistant/sensor/{NODE}/device_contact-front_linkquality/config"
        tamper = f"homeassistant/binary_sensor/{NODE}/device_contact-front_tamper/config"
        await eventually(lambda: {battery, link, tamper} <= set(ha.discovery()))
        for topic in (battery, link, tamper):
            component, config = check_discovery(topic, ha.discovery()[topic])
            check_state(component, config, ha.retained())
        battery_config, link_config = json.loads(ha.discovery()[battery]), json.loads(ha.discovery()[link])
        assert (battery_config["device_class"], battery_config["unit_of_measurement"]) == ("battery", "%")
        assert battery_config["entity_category"] == link_config["entity_category"] == "diagnostic"
        assert json.loads(ha.discovery()[tamper])["device_class"] == "tamper"
        # The front door is locked and nobody badged: opening it is a forced-open alarm.
        await eventually(lambda: ha.retained().get(f"{BASE}/door/front/state") == b"LOCKED")
        await contact.set_open(True)
        await eventually(lambda: json.loads(ha.retained()[f"{BASE}/door/front/alarms"])["forced_open"] == "ON")
        await eventually(lambda: json.loads(ha.retained()[f"{BASE}/alarms"])["active"] >= 1)
        assert ha.retained()[f"{BASE}/door/front/contact"] == b"ON"
        retained = ha.retained()
        for topic, payload in ha.discovery().items():
            if "door_front" in topic or topic.endswith(f"/{NODE}/alarm/config"):
                component, config = check_discovery(topic, payload)
                check_state(component, config, retained)
    finally:
        await contact.stop()
