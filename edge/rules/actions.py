"""Carry out a rule's actions through the same paths an operator's commands take (audited)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from edge.access.alarms import AlarmBook
from edge.access.service import AccessService, DoorOffline, UnknownDoor, UnknownZone
from edge.devices.gateway import DeviceGateway, UnknownDevice
from edge.rules.engine import ActionFailed, Firing
from edge.rules.notify import Notifier
from edge.storage.journal import Journal
from edge.storage.media import MediaQueue
from firmware_adapters.base import AdapterError
from firmware_adapters.messages import Command
from sync.media import media_name
from sync.mqtt_topics import device_topic_root
from sync.rules import (
    Action,
    AlarmAction,
    BookmarkAction,
    DoorAction,
    LockdownAction,
    MqttAction,
    NotifyAction,
    RelayAction,
    Rule,
    WebhookAction,
)

log = logging.getLogger(__name__)
LATEST_FRAME = "latest.jpg"  # edge.vision.pipeline.LATEST_NAME: each camera's newest annotated frame
Publish = Callable[[str, bytes, bool], Awaitable[None]]


_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def fill(text: str, values: Mapping[str, str]) -> str:
    """`text` with {placeholders} replaced; unknown ones stay as written (never an error)."""
    if "{" not in text:
        return text
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


@dataclass
class ActionPorts:
    """What actions act through (absent parts make their actions fail with a clear reason)."""

    journal: Journal
    access: AccessService | None = None
    alarms: AlarmBook | None = None
    gateway: DeviceGateway | None = None
    notifier: Notifier | None = None
    publish: Publish | None = None
    media: MediaQueue | None = None
    snapshot_dir: Path | None = None
    door_ids: frozenset[str] = frozenset()
    device_topic_roots: frozenset[str] = frozenset()  # beyond sync.mqtt_topics' fixed ones (bridges, discovery)


class ActionRunner:
    """Runs a rule's actions in order; the first failure stops the rest and fails the run."""

    def __init__(self, ports: ActionPorts) -> None:
        self.ports = ports

    async def __call__(self, rule: Rule, firing: Firing) -> list[str]:
        """Run every action; return one line per action for the history."""
        lines: list[str] = []
        for index, action in enumerate(rule.actions):
            try:
                lines.append(await self._one(rule, firing, action))
            except ActionFailed as err:
                raise ActionFailed(f"actions.{index} ({action.type}): {err}" + _done(lines)) from err
        return lines

    async def _one(self, rule: Rule, firing: Firing, action: Action) -> str:
        by = f"rule:{rule.id}"
        values = firing.values
        p = self.ports
        if isinstance(action, DoorAction):
            if p.access is None:
                raise ActionFailed("no access service")
            try:
                await p.access.command_door(action.door, action.action, by)
            except (UnknownDoor, DoorOffline) as err:
                raise ActionFailed(str(err) or f"unknown door {action.door}") from err
            return f"door {action.door}: {action.action}"
        if isinstance(action, LockdownAction):
            if p.access is None:
                raise ActionFailed("no access service")
            try:
                changed = await p.access.set_lockdown(action.zone, action.active, by, fill(action.reason, values))
            except UnknownZone as err:
                raise ActionFailed(f"unknown zone {err}") from err
            where = action.zone or "site"
            return f"lockdown {where} {'on' if action.active else 'off'}{'' if changed else ' (already)'}"
        if isinstance(action, RelayAction):
            return await self._relay(rule, action)
        if isinstance(action, MqttAction):
            if p.publish is None:
                raise ActionFailed("no MQTT broker")
            topic = fill(action.topic, values)
            if root := device_topic_root(topic, p.device_topic_roots):  # also after its placeholders are filled
                raise ActionFailed(f"publish to {topic}: {root!r} belongs to the site's devices")
            payload = (
                json.dumps(_fill_json(action.payload, values)).encode()
                if isinstance(action.payload, dict)
                else fill(action.payload, values).encode()
            )
            try:
                await p.publish(topic, payload, action.retain)
            except (ConnectionError, PermissionError, ValueError, OSError) as err:
                raise ActionFailed(f"publish to {topic}: {err}") from err
            return f"mqtt {topic}"
        if isinstance(action, WebhookAction | NotifyAction):
            if p.notifier is None:
                raise ActionFailed("no notifier")
            body = _notification(rule, firing, action)
            try:
                message_id = await p.notifier.enqueue(rule.id, action.channel, body)
            except KeyError as err:
                raise ActionFailed(f"unknown channel {action.channel}") from err
            return f"{action.type} {action.channel} queued ({message_id})"
        if isinstance(action, AlarmAction):
            return await self._alarm(action, values)
        if isinstance(action, BookmarkAction):
            return await self._bookmark(rule, firing, action)
        raise ActionFailed(f"unsupported action {action.type}")  # pragma: no cover - the union is exhaustive

    async def _relay(self, rule: Rule, action: RelayAction) -> str:
        p = self.ports
        if p.gateway is None:
            raise ActionFailed("no device gateway")
        on = action.state == "on"
        command = Command(action="unlock" if on else "lock", duration_s=action.duration_s if on else None)
        try:
            await p.gateway.send(action.device, command)
        except (UnknownDevice, AdapterError, ConnectionError) as err:
            raise ActionFailed(f"relay {action.device}: {err}") from err
        await p.journal.record(
            "audit",
            {
                "type": "relay_command",
                "device_id": action.device,
                "state": action.state,
                "by": f"rule:{rule.id}",
                "command_id": command.id,
                "duration_s": action.duration_s,
            },
            source=f"rule:{rule.id}",
            summary=f"rule {rule.name} switched {action.device} {action.state}",
        )
        return f"relay {action.device} {action.state}"

    async def _alarm(self, action: AlarmAction, values: Mapping[str, str]) -> str:
        p = self.ports
        detail = fill(action.detail, values)
        is_door = action.source in p.door_ids
        if is_door and p.access is not None:
            if action.op == "raise":
                await p.access.supervisor.raise_alarm(action.source, action.alarm, detail)
            else:
                await p.access.supervisor.clear_alarm(action.source, action.alarm)
        else:
            if p.alarms is None:
                raise ActionFailed("no alarm list")
            if action.op == "raise":
                await p.alarms.raised(action.source, action.alarm, detail, datetime.now(UTC))
            else:
                await p.alarms.cleared(action.source, action.alarm)
        return f"alarm {action.alarm} on {action.source} {action.op}d"

    async def _bookmark(self, rule: Rule, firing: Firing, action: BookmarkAction) -> str:
        p = self.ports
        now = datetime.now(UTC)
        name: str | None = None
        if action.snapshot:
            if p.snapshot_dir is None:
                raise ActionFailed("no snapshot folder")
            folder = p.snapshot_dir / action.camera
            name = f"bookmark-{rule.id}-{now.strftime('%Y%m%dT%H%M%S%f')}.jpg"
            try:
                await asyncio.to_thread(shutil.copyfile, folder / LATEST_FRAME, folder / name)
            except OSError as err:
                raise ActionFailed(f"no frame from camera {action.camera}: {err.strerror or err}") from err
        label = fill(action.label, firing.values) or rule.name
        await p.journal.record(
            "event",
            {
                "type": "bookmark",
                "camera_id": action.camera,
                "label": label,
                "rule_id": rule.id,
                "snapshot": name,
                "clip_from": (now - timedelta(seconds=action.clip_before_s)).isoformat(),
                "clip_until": (now + timedelta(seconds=action.clip_after_s)).isoformat(),
                "of_journal_id": firing.journal_id,
            },
            source=action.camera,
            summary=f"bookmark on {action.camera}: {label}",
        )
        if name is not None and p.snapshot_dir is not None and p.media is not None:
            await p.media.register(p.snapshot_dir / action.camera / name, "snapshot", media_name(name, action.camera))
        return f"bookmark {action.camera}" + (f" ({name})" if name else "")


def _notification(rule: Rule, firing: Firing, action: WebhookAction | NotifyAction) -> dict[str, Any]:
    values = firing.values
    body: dict[str, Any] = {
        "type": "outpost.rule.fired",
        "rule": {"id": rule.id, "name": rule.name},
        "at": firing.at.isoformat(),
        "trigger": firing.trigger,
        "journal_id": firing.journal_id,
        "event": {k: v for k, v in values.items() if k not in ("rule", "rule_id")},
    }
    if isinstance(action, NotifyAction):
        body["subject"] = fill(action.subject, values)
        body["message"] = fill(action.message, values)
    else:
        body["data"] = _fill_json(action.data, values)
    return body


def _fill_json(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return fill(value, values)
    if isinstance(value, dict):
        return {k: _fill_json(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_json(v, values) for v in value]
    return value


def _done(lines: list[str]) -> str:
    return f" (done before it: {'; '.join(lines)})" if lines else ""
