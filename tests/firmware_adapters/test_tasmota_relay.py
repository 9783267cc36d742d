"""Tasmota / Shelly relays end to end against the real embedded broker of a started edge app.

The relay is played by a test client that answers like the firmware (its own device account and ACL), and in
one test by Mosquitto's own command-line clients, an MQTT implementation with no Outpost code in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from edge import keys
from edge.broker.directory import hash_password
from firmware_adapters.simulated import SimulatedDeviceConfig, SimulatedReader
from firmware_adapters.tasmota.codec import pulse_time_seconds
from tests.edge.site import DEVICE_HASHES, DEVICE_PASSWORDS
from tests.firmware_adapters.sinks import spy_acks
from tests.firmware_adapters.sites import EdgeStarter, adapter_site
from tests.polling import eventually

STRIKE_PASSWORD = "strike-front-pw"
STRIKE_HASH = hash_password(STRIKE_PASSWORD)


def relay_site(data_dir: Path, **adapter: Any) -> dict[str, Any]:
    devices = [
        {"id": "reader-front", "kind": "reader", "zone": "lobby", "password_hash": DEVICE_HASHES["reader-front"]},
        {
            "id": "strike-front",
            "kind": "lock",
            "zone": "lobby",
            "password_hash": STRIKE_HASH,
            "adapter": {"type": "tasmota", "topic": "strike_front", **adapter},
        },
    ]
    doors = [
        {"id": "front", "name": "Front door", "zone": "lobby", "lock": "strike-front", "readers": ["reader-front"]}
    ]
    return adapter_site(data_dir, devices, doors)


class EmulatedRelay:
    """Answers commands as Tasmota (one relay: RESULT {"POWER":..} and stat/POWER) or Shelly Gen1 firmware do."""

    def __init__(self, port: int, flavour: str = "tasmota", topic: str = "strike_front") -> None:
        self.port = port
        self.flavour = flavour
        self.topic = topic
        self.commands: asyncio.Queue[tuple[float, str, str]] = asyncio.Queue()
        self.power = False
        self.pulse_time = 0
        self._client: aiomqtt.Client | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pulse: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="emulated-relay")
        await asyncio.wait_for(self._ready.wait(), 10)

    async def stop(self) -> None:
        for task in (self._pulse, self._task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def _pub(self, suffix: str, payload: str, *, retain: bool = False) -> None:
        assert self._client is not None
        await self._client.publish(suffix, payload, qos=1, retain=retain)

    async def _report(self) -> None:
        if self.flavour == "shelly":
            await self._pub(f"shellies/{self.topic}/relay/0", "on" if self.power else "off")
        else:
            state = "ON" if self.power else "OFF"
            await self._pub(f"stat/{self.topic}/RESULT", json.dumps({"POWER": state}))
            await self._pub(f"stat/{self.topic}/POWER", state)

    async def _pulse_off(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.power = False
        await self._report()

    async def _run(self) -> None:
        if self.flavour == "shelly":
            will = aiomqtt.Will(f"shellies/{self.topic}/online", "false", qos=1, retain=True)
            command_filter = f"shellies/{self.topic}/relay/+/command"
        else:
            will = aiomqtt.Will(f"tele/{self.topic}/LWT", "Offline", qos=1, retain=True)
            command_filter = f"cmnd/{self.topic}/#"
        async with aiomqtt.Client(
            "127.0.0.1",
            self.port,
            identifier=f"DVES_{self.topic}",
            username="strike-front",
            password=STRIKE_PASSWORD,
            protocol=aiomqtt.ProtocolVersion.V311,
            will=will,
        ) as client:
            self._client = client
            await client.subscribe(command_filter, qos=1)
            if self.flavour == "shelly":
                await self._pub(f"shellies/{self.topic}/online", "true", retain=True)
            else:
                await self._pub(f"tele/{self.topic}/LWT", "Online", retain=True)
            await self._report()
            self._ready.set()
            loop = asyncio.get_running_loop()
            async for message in client.messages:
                topic = str(message.topic)
                payload = bytes(message.payload).decode()  # type: ignore[arg-type]
                self.commands.put_nowait(
                    (loop.time(), topic.rsplit("/", 1)[-1] if "cmnd/" in topic else topic, payload)
                )
                name = topic.rsplit("/", 1)[-1]
                if name.startswith("PulseTime"):
                    self.pulse_time = int(payload)
                    await self._pub(
                        f"stat/{self.topic}/RESULT", json.dumps({name: {"Set": self.pulse_time, "Remaining": 0}})
                    )
                elif name.startswith("POWER") or name == "command":
                    self.power = payload.upper() == "ON"
                    if self._pulse is not None:
                        self._pulse.cancel()
                    await self._report()
                    if self.power and self.pulse_time:
                        self._pulse = asyncio.create_task(self._pulse_off(pulse_time_seconds(self.pulse_time)))


async def test_granted_badge_pulses_the_tasmota_strike(start_edge: EdgeStarter, tmp_path: Path) -> None:
    edge = await start_edge(relay_site(tmp_path / "edge"))
    await edge.app[keys.CREDENTIALS].add_person("Ada Lovelace", ["04A1B2C3"])
    state = edge.app[keys.SITE_STATE]
    acks = spy_acks(edge)
    relay = EmulatedRelay(edge.mqtt_port)
    await relay.start()
    reader = SimulatedReader(
        SimulatedDeviceConfig(device_id="reader-front", password=DEVICE_PASSWORDS["reader-front"], port=edge.mqtt_port)
    )
    await reader.start()
    try:
        await eventually(lambda: state.doors["front"].status == "locked")
        await reader.present("04:a1:b2:c3")
        _, first, value = await asyncio.wait_for(relay.commands.get(), 5)
        assert (first, value) == ("PulseTime1", "50")  # door unlock_s defaults to 5 s -> 50 x 0.1 s
        on_at, second, value = await asyncio.wait_for(relay.commands.get(), 5)
        assert (second, value) == ("POWER1", "ON")
        ack = await asyncio.wait_for(acks.get(), 5)
        assert ack.ok, ack.detail
        await eventually(lambda: state.doors["front"].status == "unlocked")
        # The relay ends the pulse itself: no command from the site is needed to lock again.
        await eventually(lambda: state.doors["front"].status == "locked", timeout_s=8)
        assert asyncio.get_running_loop().time() - on_at >= 4.5
        assert relay.commands.empty()
    finally:
        await reader.stop()
        await relay.stop()


async def test_shelly_relay_is_switched_back_by_the_adapter(start_edge: EdgeStarter, tmp_path: Path) -> None:
    site = relay_site(tmp_path / "edge", flavour="shelly", pulse=False)
    site["devices"][1]["adapter"]["topic"] = "shelly1-98CDAC1F0E4A"
    site["doors"][0]["unlock_s"] = 1
    edge = await start_edge(site)
    state = edge.app[keys.SITE_STATE]
    relay = EmulatedRelay(edge.mqtt_port, flavour="shelly", topic="shelly1-98CDAC1F0E4A")
    await relay.start()
    try:
        await eventually(lambda: state.doors["front"].status == "locked")
        await edge.app[keys.ACCESS].command_door("front", "unlock", by="tester")
        on_at, topic, value = await asyncio.wait_for(relay.commands.get(), 5)
        assert (topic, value) == ("shellies/shelly1-98CDAC1F0E4A/relay/0/command", "on")
        await eventually(lambda: state.doors["front"].status == "unlocked")
        off_at, topic, value = await asyncio.wait_for(relay.commands.get(), 5)
        assert value == "off"
        assert 0.8 < off_at - on_at < 2.5
        await eventually(lambda: state.doors["front"].status == "locked")
    finally:
        await relay.stop()


async def _mosquitto(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def test_mosquitto_clients_play_the_relay(start_edge: EdgeStarter, tmp_path: Path) -> None:
    edge = await start_edge(relay_site(tmp_path / "edge"))
    state = edge.app[keys.SITE_STATE]
    acks = spy_acks(edge)
    common = [
        "-V",
        "mqttv311",
        "-h",
        "127.0.0.1",
        "-p",
        str(edge.mqtt_port),
        "-u",
        "strike-front",
        "-P",
        STRIKE_PASSWORD,
    ]

    async def pub(topic: str, message: str, *extra: str) -> None:
        proc = await _mosquitto(
            "mosquitto_pub", *common, "-i", "strike-front-pub", "-q", "1", "-t", topic, "-m", message, *extra
        )
        _, err = await asyncio.wait_for(proc.communicate(), 10)
        assert proc.returncode == 0, err.decode()

    # The "relay": a subscriber to its command topics whose Last Will is Tasmota's LWT.
    sub = await _mosquitto(
        "mosquitto_sub", *common, "-i", "strike-front", "-q", "1", "-v", "-t", "cmnd/strike_front/#",
        "--will-topic", "tele/strike_front/LWT", "--will-payload", "Offline", "--will-retain", "--will-qos", "1",
    )  # fmt: skip
    try:
        await pub("tele/strike_front/LWT", "Online", "-r")
        await pub("stat/strike_front/POWER", "OFF")
        await eventually(lambda: state.doors["front"].status == "locked")

        await edge.app[keys.ACCESS].command_door("front", "unlock", by="tester")
        assert sub.stdout is not None
        lines: list[str] = []
        while len(lines) < 2:
            line = (await asyncio.wait_for(sub.stdout.readline(), 5)).decode().strip()
            # amqtt 0.12.1 also hands a connecting client retained messages of other clients' subscriptions
            # (here the relay's own LWT); only the commands matter.
            if line.startswith("cmnd/"):
                lines.append(line)
        assert lines == ["cmnd/strike_front/PulseTime1 50", "cmnd/strike_front/POWER1 ON"]
        await pub("stat/strike_front/RESULT", '{"POWER":"ON"}')
        ack = await asyncio.wait_for(acks.get(), 5)
        assert ack.ok
        await eventually(lambda: state.doors["front"].status == "unlocked")
        await pub("stat/strike_front/POWER", "OFF")
        await eventually(lambda: state.doors["front"].status == "locked")

        # The relay drops off the network: the broker publishes its Last Will.
        sub.send_signal(signal.SIGKILL)
        await sub.wait()
        await eventually(lambda: state.doors["front"].status == "offline")
    finally:
        with contextlib.suppress(ProcessLookupError):
            sub.kill()
        await sub.wait()


@pytest.mark.parametrize("adapter", [{"flavour": "shelly"}, {"active_high": False}])
def test_pulse_needs_a_tasmota_strike(adapter: dict[str, Any], tmp_path: Path) -> None:
    from edge.config import EdgeConfig

    with pytest.raises(ValueError, match="pulse"):
        EdgeConfig.model_validate(relay_site(tmp_path, **adapter))
