"""The box's side of Home Assistant's MQTT integration: discovery, states, and commands through the access service.

The bridge is a broker client under its own account (in-process with the embedded broker, TCP with Mosquitto).
It publishes every entity's discovery config (retained), then the states those configs name (retained), then
"online" on the box's status topic, which is also its last will over TCP. It follows the site through the journal
(every door, device, alarm, lockdown and detection change is journaled) and republishes what changed. Commands
from Home Assistant go to `AccessService.command_door` / `set_lockdown` as the operator `homeassistant`, exactly
as the console's do (same checks, same audit), and are answered on the command's `ack` topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

from edge.access.commands import CommandOutcome
from edge.access.service import AccessService, DoorOffline, UnknownDoor
from edge.config import EdgeConfig
from edge.devices.state import SiteState
from edge.homeassistant.entities import EntityBuilder, HaEntity
from edge.homeassistant.states import Pending, contact_state, device_state, door_alarms, lock_state, site_alarms
from edge.homeassistant.store import DiscoveryStore
from edge.homeassistant.topics import HaTopics, bridge_acl
from edge.storage.journal import Journal, JournalEntry
from edge.vision.pipeline import CameraPipeline
from firmware_adapters.base import AdapterError, MqttEndpoint
from firmware_adapters.broker_link import BrokerLink
from firmware_adapters.mqtt_link import open_link

log = logging.getLogger(__name__)

OPERATOR = "homeassistant"  # who Home Assistant's commands are audited as
LockPayload = TypeAdapter(Literal["LOCK", "UNLOCK"])
SwitchPayload = TypeAdapter(Literal["ON", "OFF"])


class HomeAssistantBridge:
    """Publishes the box to Home Assistant and carries out its commands (see the module docstring)."""

    def __init__(
        self,
        config: EdgeConfig,
        *,
        state: SiteState,
        access: AccessService,
        journal: Journal,
        store: DiscoveryStore,
        cameras: dict[str, CameraPipeline],
        software_version: str,
    ) -> None:
        self._config = config
        self.topics = HaTopics.of(config)
        self._builder = EntityBuilder(config, self.topics, software_version)
        self._state = state
        self._access = access
        self._journal = journal
        self._store = store
        self._cameras = {cid: p for cid, p in cameras.items() if config.homeassistant.exposes_camera(cid)}
        self._doors = [d for d in config.doors if config.homeassistant.exposes_door(d.id)]
        self._lock_doors = {d.lock: d.id for d in self._doors}
        self._contact_doors = {d.contact: d.id for d in self._doors if d.contact}
        self._entities: dict[str, HaEntity] = {}  # by discovery topic
        self._published: dict[str, dict[str, Any] | None] = {}  # the store's view
        self._pending: dict[str, Pending] = {}
        self._images: dict[str, float] = {}  # camera id -> mtime of the frame last published
        self._dirty: set[tuple[str, str]] = set()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._link: BrokerLink | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._followers: set[asyncio.Task[None]] = set()  # waiting for a lock's answer to a command
        self._unsubscribe: Callable[[], None] = lambda: None
        self.commands_handled = 0

    @property
    def subscriptions(self) -> tuple[str, ...]:
        """What the bridge's account reads."""
        return bridge_acl(self.topics)[1]

    def entities(self) -> list[HaEntity]:
        """The entities published now, doors and box first."""
        return list(self._entities.values())

    # --- lifecycle -----------------------------------------------------------------------------------------

    async def start(self, endpoint: MqttEndpoint) -> None:
        """Connect, publish discovery and states, then follow the journal; raise AdapterError if it cannot connect."""
        self._published = await self._store.load()
        for entity in self._builder.static_entities():
            self._entities[self.topics.discovery(entity.component, entity.object_id)] = entity
        for topic, payload in self._published.items():
            # Reading entities announced before keep their place (if the device and reading are still exposed).
            parts = topic.split("/")
            if payload is None or topic in self._entities or len(parts) != 5 or not parts[3].startswith("device_"):
                continue
            device_id = self._reading_owner(parts[3])
            if device_id is not None:
                reading = self._builder.reading_entity(device_id, parts[3].removeprefix(f"device_{device_id}_"))
                if reading is not None:
                    self._entities[topic] = reading
        self._unsubscribe = self._journal.subscribe(self._on_journal)
        self._link = open_link(
            endpoint, self.subscriptions, self._on_message, name="homeassistant", on_connect=self._announce
        )
        await self._link.start()
        self._tasks = [
            asyncio.create_task(self._publish_changes(), name="homeassistant-states"),
            asyncio.create_task(self._publish_images(), name="homeassistant-images"),
        ]

    async def stop(self) -> None:
        """Say "offline" (a clean stop publishes it before the last will would), stop publishing, disconnect."""
        self._unsubscribe()
        # Both loops also end on `_stopping`: a cancellation can be lost inside a publish's wait_for (Python 3.11).
        self._stopping.set()
        self._wake.set()
        for task in [*self._tasks, *self._followers]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._followers, return_exceptions=True)
        if self._link is not None:
            try:
                await self._link.publish(self.topics.status, b"offline", retain=True)
            except AdapterError as err:
                log.warning("Home Assistant: could not publish offline: %s", err)
            await self._link.stop()

    def _reading_owner(self, object_id: str) -> str | None:
        rest = object_id.removeprefix("device_")
        owners = [d.id for d in self._config.devices if rest.startswith(f"{d.id}_")]
        return max(owners, key=len) if owners else None

    # --- publishing ----------------------------------------------------------------------------------------

    async def _publish(self, topic: str, payload: bytes | str | dict[str, Any], retain: bool = True) -> None:
        if self._link is None:
            return
        if isinstance(payload, dict):
            data = json.dumps(payload, separators=(",", ":")).encode()
        else:
            data = payload.encode() if isinstance(payload, str) else payload
        await self._link.publish(topic, data, retain=retain)

    async def _announce(self) -> None:
        """(Re)publish everything; on a broker error leave it to the next (re)connection, which announces again."""
        try:
            await self._announce_all()
        except AdapterError as err:
            log.warning("Home Assistant: announcing stopped: %s", err)

    async def _announce_all(self) -> None:
        """(Re)publish every discovery config, clear removed ones, publish all states, then say online."""
        current = {topic: entity.config for topic, entity in self._entities.items()}
        removed = [topic for topic in self._published if topic not in current]
        for topic in removed:
            # Empty retained: Home Assistant removes the entity and the broker drops the retained config.
            await self._publish(topic, b"")
        # States before configs: Home Assistant subscribes to a state topic when the config arrives and then
        # finds the retained state there.
        await self._publish_all_states()
        for topic, config in current.items():
            await self._publish(topic, config)
        changes: dict[str, dict[str, Any] | None] = {t: None for t in removed}
        changes.update({t: c for t, c in current.items() if self._published.get(t) != c})
        await self._store.save(changes)
        self._published.update(changes)
        await self._publish(self.topics.status, "online")
        log.info("Home Assistant: %d entities published, %d removed", len(current), len(removed))

    async def _publish_all_states(self) -> None:
        await self._publish_lockdown()
        await self._publish_site_alarms()
        for door in self._doors:
            await self._publish_door(door.id)
        for device_id in self._state.devices:
            if self._config.homeassistant.exposes_device(device_id):
                await self._publish_device(device_id)
        for camera_id in self._cameras:
            await self._publish_analytics(camera_id)

    async def _publish_door(self, door_id: str) -> None:
        door = self._state.doors[door_id]
        pending = self._pending.get(door_id)
        if pending is not None and (
            door.locked is (pending == "LOCKING") or "command_failed" in door.alarms or not door.lock_online
        ):
            del self._pending[door_id]  # the lock reported the commanded state, or the command failed
            pending = None
        await self._publish(self.topics.door(door_id, "state"), lock_state(door, pending))
        await self._publish(self.topics.door(door_id, "contact"), contact_state(door))
        await self._publish(self.topics.door(door_id, "alarms"), door_alarms(door))

    async def _publish_site_alarms(self) -> None:
        await self._publish(self.topics.alarms, site_alarms(list(self._state.doors.values())))

    async def _publish_lockdown(self) -> None:
        site = any(lockdown.zone is None for lockdown in self._access.lockdowns.active())
        await self._publish(self.topics.lockdown("state"), "ON" if site else "OFF")

    async def _publish_device(self, device_id: str) -> None:
        state = device_state(self._state.devices[device_id])
        await self._publish(self.topics.device(device_id), state)  # before the configs of readings it carries
        new: dict[str, dict[str, Any] | None] = {}
        for key in state:
            entity = self._builder.reading_entity(device_id, key)
            if entity is None:
                continue
            topic = self.topics.discovery(entity.component, entity.object_id)
            if topic not in self._entities:
                self._entities[topic] = entity
                await self._publish(topic, entity.config)
                new[topic] = entity.config
        await self._store.save(new)
        self._published.update(new)

    async def _publish_analytics(self, camera_id: str) -> None:
        await self._publish(self.topics.camera(camera_id, "analytics"), self._cameras[camera_id].analytics())

    def _on_journal(self, entry: JournalEntry) -> None:
        """Note what an entry changed (called on the loop after each commit; must not block)."""
        payload = entry.payload
        dirty = self._dirty
        if entry.kind in ("device_status", "telemetry"):
            device_id = str(payload.get("device_id"))
            dirty.add(("device", device_id))
            if device_id in self._lock_doors:
                dirty.add(("door", self._lock_doors[device_id]))
            if device_id in self._contact_doors:
                dirty.add(("door", self._contact_doors[device_id]))
        elif entry.kind == "event" and payload.get("type") in ("door_contact", "alarm"):
            if payload.get("door_id") is not None:
                dirty.add(("door", str(payload["door_id"])))
            dirty.add(("alarms", ""))
        elif entry.kind == "audit" and payload.get("type") == "lockdown":
            dirty.add(("lockdown", ""))
        elif entry.kind == "detection" and payload.get("camera_id") in self._cameras:
            dirty.add(("camera", str(payload["camera_id"])))
        else:
            return
        self._wake.set()

    async def _publish_changes(self) -> None:
        exposed_doors = {d.id for d in self._doors}
        while not self._stopping.is_set():
            await self._wake.wait()
            self._wake.clear()
            dirty, self._dirty = self._dirty, set()
            for kind, item in sorted(dirty):
                try:
                    if kind == "door" and item in exposed_doors:
                        await self._publish_door(item)
                    elif kind == "device" and item in self._state.devices:
                        if self._config.homeassistant.exposes_device(item):
                            await self._publish_device(item)
                    elif kind == "alarms":
                        await self._publish_site_alarms()
                    elif kind == "lockdown":
                        await self._publish_lockdown()
                    elif kind == "camera":
                        await self._publish_analytics(item)
                except AdapterError as err:  # the broker is away: the next (re)connect publishes everything
                    log.warning("Home Assistant: state of %s %s not published: %s", kind, item, err)

    async def _publish_images(self) -> None:
        interval = self._config.homeassistant.image_interval_s
        while not self._stopping.is_set():
            for camera_id, pipeline in self._cameras.items():
                try:
                    await self._publish_image(camera_id, pipeline.latest_path)
                    await self._publish_analytics(camera_id)
                except (AdapterError, OSError) as err:
                    log.warning("Home Assistant: snapshot of %s not published: %s", camera_id, err)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval)

    async def _publish_image(self, camera_id: str, path: Path) -> None:
        """Publish the camera's latest annotated frame if it changed since the last one published."""

        def read() -> tuple[float, bytes] | None:
            try:
                mtime = path.stat().st_mtime
                if mtime == self._images.get(camera_id):
                    return None
                return mtime, path.read_bytes()
            except FileNotFoundError:
                return None

        frame = await asyncio.to_thread(read)
        if frame is not None:
            await self._publish(self.topics.camera(camera_id, "image"), frame[1])
            self._images[camera_id] = frame[0]

    # --- commands ------------------------------------------------------------------------------------------

    async def _on_message(self, topic: str, payload: bytes) -> None:
        try:
            await self._handle(topic, payload)
        except AdapterError as err:  # the broker went away mid-answer; the reconnection announces everything
            log.warning("Home Assistant: answering %s failed: %s", topic, err)
        except Exception:  # supervision point: one failing command must not end the link that carries the next
            log.exception("Home Assistant: handling %s failed", topic)

    async def _handle(self, topic: str, payload: bytes) -> None:
        if topic == self.topics.ha_status:
            if payload == b"online":  # Home Assistant (re)started: it wants discovery and states again
                await self._announce()
            return
        parts = topic.split("/")
        if topic == self.topics.lockdown("set"):
            await self._lockdown_command(payload)
        elif len(parts) >= 2 and topic == self.topics.door(parts[-2], "set"):
            await self._door_command(parts[-2], payload)

    async def _door_command(self, door_id: str, payload: bytes) -> None:
        ack_topic = self.topics.door(door_id, "ack")
        if not self._config.homeassistant.commands_door(door_id):
            # The broker's ACL already keeps Home Assistant out; this catches any other account allowed there.
            log.warning("Home Assistant: command to door %s refused: not in homeassistant.command_doors", door_id)
            await self._ack(ack_topic, ok=False, error="not_allowed", detail=f"{door_id} is not commandable")
            return
        try:
            action = LockPayload.validate_python(payload.decode("utf-8", "replace"))
        except ValidationError:
            await self._ack(ack_topic, ok=False, error="bad_payload", detail="expected LOCK or UNLOCK")
            return
        try:
            command = await self._access.command_door(door_id, action.lower(), by=OPERATOR)
        except UnknownDoor:
            await self._ack(ack_topic, ok=False, error="unknown_door", detail=door_id)
            return
        except DoorOffline as err:
            await self._ack(ack_topic, ok=False, error="door_offline", detail=str(err))
            return
        self.commands_handled += 1
        self._pending[door_id] = "UNLOCKING" if action == "UNLOCK" else "LOCKING"
        await self._publish_door(door_id)
        await self._ack(ack_topic, ok=True, stage="accepted", command_id=command.id, action=command.action)
        outcome = self._access.commander.outcome_of(command.id)
        if outcome is not None:
            task = asyncio.create_task(self._ack_outcome(ack_topic, command.id, command.action, outcome))
            self._followers.add(task)
            task.add_done_callback(self._followers.discard)

    async def _ack_outcome(
        self, topic: str, command_id: str, action: str, outcome: asyncio.Future[CommandOutcome]
    ) -> None:
        """Tell Home Assistant how the lock answered: acknowledged, refused, or no answer after the retries."""
        try:
            result = await asyncio.shield(outcome)  # stopping the bridge must not cancel the commander's future
        except asyncio.CancelledError:
            if not outcome.cancelled():
                raise  # the bridge is stopping
            result = CommandOutcome(acked=False, ok=False, attempts=0, detail="superseded by a newer command")
        try:
            await self._ack(
                topic,
                ok=result.ok,
                stage="lock",
                command_id=command_id,
                action=action,
                lock_acked=result.acked,
                detail=result.detail,
            )
        except AdapterError as err:
            log.warning("Home Assistant: lock outcome of %s not published: %s", command_id, err)

    async def _lockdown_command(self, payload: bytes) -> None:
        ack_topic = self.topics.lockdown("ack")
        if not self._config.homeassistant.command_lockdown:
            log.warning("Home Assistant: lockdown command refused: homeassistant.command_lockdown is off")
            await self._ack(ack_topic, ok=False, error="not_allowed", detail="lockdown is not commandable")
            return
        try:
            value = SwitchPayload.validate_python(payload.decode("utf-8", "replace"))
        except ValidationError:
            await self._ack(ack_topic, ok=False, error="bad_payload", detail="expected ON or OFF")
            return
        changed = await self._access.set_lockdown(None, value == "ON", by=OPERATOR, reason="from Home Assistant")
        self.commands_handled += 1
        await self._publish_lockdown()
        await self._ack(ack_topic, ok=True, active=value == "ON", changed=changed)

    async def _ack(self, topic: str, *, ok: bool, **fields: object) -> None:
        await self._publish(topic, {"ok": ok, "by": OPERATOR, **fields}, retain=False)
