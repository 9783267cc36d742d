"""Check that a rule names only what the site has: doors, zones, devices, cameras, channels, holiday calendars."""

from __future__ import annotations

from edge.config import EdgeConfig
from sync.rules import (
    AlarmAction,
    BookmarkAction,
    DoorAction,
    DoorCondition,
    LockdownAction,
    NotifyAction,
    RelayAction,
    Rule,
    TimeWindowCondition,
    WebhookAction,
    ZoneCondition,
)


def reference_errors(rule: Rule, config: EdgeConfig) -> dict[str, str]:
    """Field path -> what it names that the site lacks (empty: every reference resolves)."""
    doors = {d.id for d in config.doors}
    zones = {z.id for z in config.zones}
    devices = {d.id for d in config.devices}
    cameras = {c.id for c in config.cameras}
    channels = config.rules.channels
    errors: dict[str, str] = {}
    for i, cond in enumerate(rule.conditions):
        where = f"conditions.{i}"
        if isinstance(cond, DoorCondition) and cond.door not in doors:
            errors[f"{where}.door"] = f"unknown door {cond.door!r}"
        elif isinstance(cond, ZoneCondition) and cond.zone not in zones:
            errors[f"{where}.zone"] = f"unknown zone {cond.zone!r}"
        elif isinstance(cond, TimeWindowCondition):
            missing = sorted(set(cond.holidays) - set(config.holidays))
            if missing:
                errors[f"{where}.holidays"] = f"unknown holiday calendar(s) {', '.join(missing)}"
    for i, action in enumerate(rule.actions):
        where = f"actions.{i}"
        if isinstance(action, DoorAction) and action.door not in doors:
            errors[f"{where}.door"] = f"unknown door {action.door!r}"
        elif isinstance(action, LockdownAction) and action.zone is not None and action.zone not in zones:
            errors[f"{where}.zone"] = f"unknown zone {action.zone!r}"
        elif isinstance(action, RelayAction) and action.device not in devices:
            errors[f"{where}.device"] = f"unknown device {action.device!r}"
        elif isinstance(action, BookmarkAction) and action.camera not in cameras:
            errors[f"{where}.camera"] = f"unknown camera {action.camera!r}"
        elif isinstance(action, NotifyAction | WebhookAction):
            channel = channels.get(action.channel)
            if channel is None:
                errors[f"{where}.channel"] = f"unknown channel {action.channel!r} (rules.channels in the config)"
            elif isinstance(action, WebhookAction) and channel.type != "webhook":
                errors[f"{where}.channel"] = f"channel {action.channel!r} is not a webhook channel"
        elif isinstance(action, AlarmAction) and not action.source:
            errors[f"{where}.source"] = "an alarm needs a source"
    return errors
