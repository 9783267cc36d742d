"""Site rules as data: "when this happens, if these hold, do that" (docs/RULES.md).

Shared by the edge (which runs them, `edge.rules`) and the cloud (which may send them in a site's configuration
document, `sync.downlink.SiteConfigDocument.rules`). Every part is a pydantic model with unknown keys refused, so
a rule the console or the cloud accepts is one the box can run.
"""

from __future__ import annotations

from datetime import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sync.mqtt_topics import device_topic_root
from sync.policy import SLUG, Weekday

EventKind = Literal["event", "audit", "detection", "device_status", "telemetry"]
MatchValue = str | int | float | bool | None
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class RuleModel(BaseModel):
    """Base of the rule models: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class EventFilter(RuleModel):
    """Which journaled events match: every field given must equal the event's; absent fields match anything."""

    kind: EventKind | None = Field(default=None, description="Journal kind: event, audit, detection, telemetry, ...")
    type: str | None = Field(
        default=None,
        max_length=64,
        description="Event type: door_contact, alarm, access_decision, lockdown, zone_entered, track_started, ...",
    )
    zone: str | None = Field(default=None, pattern=SLUG, description="Site zone of the door, device or camera")
    category: str | None = Field(default=None, max_length=32, description="Object class seen: person, vehicle")
    door: str | None = Field(default=None, pattern=SLUG, description="Door id")
    device: str | None = Field(default=None, pattern=SLUG, description="Device id (reader, lock, contact, sensor)")
    sensor: str | None = Field(default=None, pattern=SLUG, description="Sensor device id (telemetry)")
    camera: str | None = Field(default=None, pattern=SLUG, description="Camera id")
    region: str | None = Field(default=None, max_length=64, description="Image zone or line name of a camera")
    alarm: str | None = Field(default=None, max_length=32, description="Alarm kind: forced, held, jammed, ...")
    plate: str | None = Field(default=None, max_length=16, description="Licence plate text (exact, upper case)")
    match: dict[str, MatchValue] = Field(
        default_factory=dict,
        max_length=16,
        description="Other payload keys that must have these values, e.g. {'granted': false} or {'open': true}",
    )


class EventTrigger(RuleModel):
    """Fires on each matching event; with `for_s`, only if the conditions still hold that long after it."""

    type: Literal["event"] = "event"
    filter: EventFilter = Field(default_factory=EventFilter, description="Which events fire the rule")
    for_s: float | None = Field(
        default=None,
        gt=0,
        le=7 * 86400,
        description="Wait this long (durable across restarts), then run if the conditions still hold",
    )
    cancel_on: EventFilter | None = Field(default=None, description="An event matching this cancels a waiting run")


class AbsenceTrigger(RuleModel):
    """Fires when no matching event has happened for `minutes` (re-armed by each match; durable)."""

    type: Literal["absence"] = "absence"
    filter: EventFilter = Field(description="The events whose absence fires the rule")
    minutes: float = Field(gt=0, le=7 * 1440, description="Quiet time before the rule fires")


class TimeTrigger(RuleModel):
    """Fires at a local time of day on the given weekdays (site time zone; runs on APScheduler)."""

    type: Literal["time"] = "time"
    at: time = Field(description="Local time, HH:MM[:SS]")
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1, description="Weekdays")


class ThresholdTrigger(RuleModel):
    """Fires when a sensor reading crosses a threshold (once per crossing; hysteresis re-arms it)."""

    type: Literal["threshold"] = "threshold"
    sensor: str = Field(pattern=SLUG, description="Sensor device id")
    metric: str = Field(min_length=1, max_length=64, description="Reading name, e.g. temperature_c")
    above: float | None = Field(default=None, description="Fire when the value rises above this")
    below: float | None = Field(default=None, description="Fire when the value falls below this")
    hysteresis: float = Field(default=0.0, ge=0, description="How far back the value must go to re-arm")

    @model_validator(mode="after")
    def _one_bound(self) -> ThresholdTrigger:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of above or below")
        return self


Trigger = Annotated[EventTrigger | AbsenceTrigger | TimeTrigger | ThresholdTrigger, Field(discriminator="type")]


class TimeWindowCondition(RuleModel):
    """Holds during a weekly local time window; holidays of the named calendars are excluded (or the only days)."""

    type: Literal["time_window"] = "time_window"
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1, description="Start days")
    start: time = Field(description="Local start, HH:MM")
    end: time = Field(description="Local end, HH:MM (exclusive); before start spans midnight")
    holidays: list[str] = Field(default_factory=list, description="Holiday calendar ids (site config/document)")
    on_holidays: Literal["exclude", "only"] = Field(
        default="exclude", description="exclude: not on those holidays; only: only on them"
    )


class DoorCondition(RuleModel):
    """Holds while a door is in a state (from its contact; lockdown of its zone or the site)."""

    type: Literal["door"] = "door"
    door: str = Field(pattern=SLUG, description="Door id")
    state: Literal["open", "closed", "lockdown", "not_lockdown"] = Field(description="Required state")


class ZoneCondition(RuleModel):
    """Holds while a zone is locked down (or not), or people are seen in it (or not) by its cameras."""

    type: Literal["zone"] = "zone"
    zone: str = Field(pattern=SLUG, description="Zone id")
    state: Literal["lockdown", "not_lockdown", "occupied", "empty"] = Field(description="Required state")


class SensorCondition(RuleModel):
    """Holds while a reading is above (or below) a threshold; with hysteresis it stays held until it is
    `hysteresis` back across."""

    type: Literal["sensor"] = "sensor"
    sensor: str = Field(pattern=SLUG, description="Sensor device id")
    metric: str = Field(min_length=1, max_length=64, description="Reading name")
    above: float | None = Field(default=None, description="Holds above this")
    below: float | None = Field(default=None, description="Holds below this")
    hysteresis: float = Field(default=0.0, ge=0, description="Band before it stops holding")

    @model_validator(mode="after")
    def _one_bound(self) -> SensorCondition:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of above or below")
        return self


class CountCondition(RuleModel):
    """Holds when at least `at_least` matching events happened within the last `within_s` (this one included)."""

    type: Literal["count"] = "count"
    filter: EventFilter = Field(description="Which events count")
    at_least: int = Field(ge=1, le=10_000, description="How many")
    within_s: float = Field(gt=0, le=86400, description="Window length")


class QuietCondition(RuleModel):
    """Holds when no matching event (other than the triggering one) happened in the last `minutes`."""

    type: Literal["quiet"] = "quiet"
    filter: EventFilter = Field(description="Which events break the quiet")
    minutes: float = Field(gt=0, le=1440, description="Quiet time")


Condition = Annotated[
    TimeWindowCondition | DoorCondition | ZoneCondition | SensorCondition | CountCondition | QuietCondition,
    Field(discriminator="type"),
]


class DoorAction(RuleModel):
    """Lock, unlock (for the door's unlock time) or hold a door unlocked, through the access service (audited)."""

    type: Literal["door"] = "door"
    door: str = Field(pattern=SLUG, description="Door id")
    action: Literal["lock", "unlock", "hold"] = Field(description="What to do")


class LockdownAction(RuleModel):
    """Start or lift a lockdown of the site or one zone (audited)."""

    type: Literal["lockdown"] = "lockdown"
    active: bool = Field(description="True: lock down; False: lift")
    zone: str | None = Field(default=None, pattern=SLUG, description="Zone id; none = the whole site")
    reason: str = Field(default="", max_length=200, description="Shown in the audit")


class RelayAction(RuleModel):
    """Switch a relay (a lock-kind device such as a Tasmota/Shelly relay) on or off."""

    type: Literal["relay"] = "relay"
    device: str = Field(pattern=SLUG, description="Relay device id")
    state: Literal["on", "off"] = Field(description="Switch on or off")
    duration_s: float | None = Field(default=None, gt=0, le=3600, description="On for this long, then off")


class MqttAction(RuleModel):
    """Publish a message on the site's broker."""

    type: Literal["mqtt"] = "mqtt"
    topic: str = Field(min_length=1, max_length=256, description="Topic (no wildcards); may use {placeholders}")
    payload: str | dict[str, Any] = Field(default="", description="Text (with {placeholders}) or JSON object")
    retain: bool = Field(default=False, description="Retained message")

    @model_validator(mode="after")
    def _no_wildcards(self) -> MqttAction:
        if "+" in self.topic or "#" in self.topic:
            raise ValueError("topic must not contain MQTT wildcards (+ or #)")
        if root := device_topic_root(self.topic):
            raise ValueError(f"topic must not start with {root!r}: that level belongs to the site's devices")
        return self


class WebhookAction(RuleModel):
    """POST a signed JSON event to a webhook channel (queued durably, retried for a day)."""

    type: Literal["webhook"] = "webhook"
    channel: str = Field(pattern=SLUG, description="Id of a webhook channel in rules.channels")
    data: dict[str, Any] = Field(default_factory=dict, description="Extra fields for the body")


class NotifyAction(RuleModel):
    """Send a message through a channel (e-mail, webhook or MQTT; queued durably)."""

    type: Literal["notify"] = "notify"
    channel: str = Field(pattern=SLUG, description="Id of a channel in rules.channels")
    subject: str = Field(default="{rule}: {summary}", max_length=200, description="Subject, with {placeholders}")
    message: str = Field(default="{summary}", max_length=4000, description="Text, with {placeholders}")


class AlarmAction(RuleModel):
    """Raise or clear an alarm in the site's alarm list (on a door or any other source id)."""

    type: Literal["alarm"] = "alarm"
    op: Literal["raise", "clear"] = Field(description="Raise or clear")
    source: str = Field(pattern=SLUG, description="Door id, or another id the alarm is about")
    alarm: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$", description="Alarm kind, e.g. intrusion")
    detail: str = Field(default="", max_length=200, description="Detail text, with {placeholders}")


class BookmarkAction(RuleModel):
    """Bookmark a camera: keep its current frame as a snapshot and mark the clip window around now."""

    type: Literal["bookmark"] = "bookmark"
    camera: str = Field(pattern=SLUG, description="Camera id")
    label: str = Field(default="", max_length=120, description="What the bookmark is about")
    snapshot: bool = Field(default=True, description="Keep the current frame as a snapshot")
    clip_before_s: float = Field(default=10, ge=0, le=300, description="Clip window before now")
    clip_after_s: float = Field(default=20, ge=0, le=300, description="Clip window after now")


Action = Annotated[
    DoorAction
    | LockdownAction
    | RelayAction
    | MqttAction
    | WebhookAction
    | NotifyAction
    | AlarmAction
    | BookmarkAction,
    Field(discriminator="type"),
]


class RateLimit(RuleModel):
    """At most `max_runs` runs per `per_s` seconds; further firings are recorded as suppressed."""

    max_runs: int = Field(default=10, ge=1, le=10_000, description="Runs allowed per window")
    per_s: float = Field(default=60, gt=0, le=86400, description="Window length in seconds")


class Rule(RuleModel):
    """One site rule."""

    id: str = Field(pattern=SLUG, description="Rule id (slug)")
    name: str = Field(min_length=1, max_length=120, description="Human name")
    enabled: bool = Field(default=True, description="False: kept but never run")
    description: str = Field(default="", max_length=2000, description="What it is for")
    trigger: Trigger = Field(description="What starts the rule")
    conditions: list[Condition] = Field(default_factory=list, max_length=16, description="All must hold")
    actions: list[Action] = Field(min_length=1, max_length=16, description="Run in order")
    rate_limit: RateLimit = Field(default_factory=RateLimit, description="Runs allowed per window")
    catch_up_s: float = Field(
        default=900,
        ge=0,
        le=86400,
        description="A timer that fell due while the box was down runs at start if at most this late; else missed",
    )


__all__ = ["Action", "Condition", "EventFilter", "Rule", "Trigger"]
