"""Turn a site's newly stored records into typed facts, rollup deltas and state changes (pure, no database).

The same derivation serves ingest (one batch's new records) and the rebuild (all records, in chunks), so a
rebuild is a recompute from raw rows by the one rule. Everything derived is order-independent: rollups add
counts and integer sums and keep max/min; state keeps the first/last time or the newest value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from cloud.analytics.buckets import LocalBuckets
from cloud.analytics.payloads import (
    AccessDecisionPayload,
    AlarmPayload,
    CountPayload,
    DevicePayload,
    DeviceStatusPayload,
    TelemetryPayload,
    TrackPayload,
)

# [n, total in thousandths, peak, low]
Agg = list[Any]
HourKey = tuple[str, str, str, datetime]  # scope, scope_id, metric, bucket
DayKey = tuple[str, str, str, date]
MAX_METRIC_KEY = 56
MAX_SCOPE_ID = 140  # the rollups' column; cut here, so ids equal once cut share one row (one upsert per key)


def _milli(value: float) -> int:
    return round(value * 1000)


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None or (b is not None and b > a) else a


def _earlier(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None or (b is not None and b < a) else a


def _bump(table: dict[Any, Agg], key: tuple[Any, ...], value: float | None) -> None:
    agg = table.get(key)
    if agg is None:
        agg = table[key] = [0, 0, None, None]
    agg[0] += 1
    if value is not None:
        agg[1] += _milli(value)
        agg[2] = value if agg[2] is None or value > agg[2] else agg[2]
        agg[3] = value if agg[3] is None or value < agg[3] else agg[3]


@dataclass
class Derived:
    """What one set of records adds to the analytics tables of one site."""

    tenant_id: str
    site_id: str
    facts: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"access": [], "detection": [], "alarm": [], "device_status": [], "sensor": []}
    )
    hourly: dict[HourKey, Agg] = field(default_factory=dict)
    daily: dict[DayKey, Agg] = field(default_factory=dict)
    alarms: dict[int, dict[str, Any]] = field(default_factory=dict)
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    occupancy: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    records: int = 0
    unparsed: int = 0

    def add(
        self, scope: str, scope_id: str, metric: str, where: tuple[datetime, date], value: float | None = None
    ) -> None:
        """Count one event (or sample `value`) into the hour and day buckets."""
        bucket, day = where
        scope_id = scope_id[:MAX_SCOPE_ID]
        _bump(self.hourly, (scope, scope_id, metric, bucket), value)
        _bump(self.daily, (scope, scope_id, metric, day), value)

    def seen(self, device_id: str, at: datetime) -> dict[str, Any]:
        """The device's state row, noting it was seen at `at`."""
        state = self.devices.get(device_id)
        if state is None:
            state = self.devices[device_id] = {
                "device_id": device_id,
                "device_kind": None,
                "online": None,
                "firmware": None,
                "status_at": None,
                "last_seen_at": at,
                "battery": None,
                "battery_at": None,
            }
        state["last_seen_at"] = _later(state["last_seen_at"], at)
        return state


def derive(tenant_id: str, site_id: str, buckets: LocalBuckets, records: Iterable[Mapping[str, Any]]) -> Derived:
    """Derive facts and rollup deltas from records (mappings with seq, kind, occurred_at, payload)."""
    out = Derived(tenant_id, site_id)
    for record in records:
        out.records += 1
        at: datetime = record["occurred_at"]
        where = buckets.of(at)
        out.add("site", "", "records", where)
        payload = record["payload"]
        if not isinstance(payload, dict):
            continue
        try:
            _derive_one(out, record["seq"], record["kind"], at, where, payload)
        except ValidationError:
            out.unparsed += 1
    return out


def _derive_one(
    out: Derived, seq: int, kind: str, at: datetime, where: tuple[datetime, date], payload: dict[str, Any]
) -> None:
    key = {"tenant_id": out.tenant_id, "site_id": out.site_id, "seq": seq, "occurred_at": at}
    kind_type = payload.get("type")
    if kind == "audit" and kind_type == "access_decision":
        _access(out, key, where, AccessDecisionPayload.model_validate(payload))
    elif kind == "event" and kind_type == "alarm":
        _alarm(out, key, at, where, AlarmPayload.model_validate(payload))
    elif kind == "detection":
        if payload.get("kind") == "count":
            _count(out, key, at, where, CountPayload.model_validate(payload))
        else:
            _track(out, key, where, TrackPayload.model_validate(payload))
    elif kind == "device_status":
        _device_status(out, key, at, where, DeviceStatusPayload.model_validate(payload))
    elif kind == "telemetry":
        _telemetry(out, key, at, where, TelemetryPayload.model_validate(payload))
    elif isinstance(payload.get("device_id"), str):
        out.seen(DevicePayload.model_validate(payload).device_id, at)


def _access(out: Derived, key: dict[str, Any], where: tuple[datetime, date], p: AccessDecisionPayload) -> None:
    out.facts["access"].append(
        {**key, "door_id": p.door_id, "person_id": p.person_id, "credential": p.credential, "granted": p.granted}
        | {"reason": p.reason}
    )
    result = "access.granted" if p.granted else "access.denied"
    out.add("door", p.door_id or "", result, where)
    if not p.granted and p.credential:
        out.add("credential", p.credential, result, where)


def _alarm(out: Derived, key: dict[str, Any], at: datetime, where: tuple[datetime, date], p: AlarmPayload) -> None:
    out.facts["alarm"].append(
        {**key, "alarm_id": p.alarm_id, "door_id": p.door_id, "alarm": p.alarm, "state": p.state, "by": p.by}
    )
    out.add("door", p.door_id, f"alarm.{p.state}", where)
    state = out.alarms.get(p.alarm_id)
    if state is None:
        state = out.alarms[p.alarm_id] = {
            "alarm_id": p.alarm_id,
            "door_id": p.door_id,
            "alarm": p.alarm,
            "raised_at": None,
            "last_raised_at": None,
            "acknowledged_at": None,
            "acknowledged_by": None,
            "cleared_at": None,
        }
    if p.state == "raised":
        state["raised_at"] = _earlier(state["raised_at"], at)
        state["last_raised_at"] = _later(state["last_raised_at"], at)
    elif p.state == "acknowledged":
        if state["acknowledged_at"] is None or at < state["acknowledged_at"]:
            state["acknowledged_at"], state["acknowledged_by"] = at, p.by
    else:
        state["cleared_at"] = _later(state["cleared_at"], at)


def _count(out: Derived, key: dict[str, Any], at: datetime, where: tuple[datetime, date], p: CountPayload) -> None:
    out.facts["detection"].append(
        {**key, "event": "count", "camera_id": p.camera_id, "zone": p.zone, "category": p.category}
        | {"region": None, "direction": None, "count": p.count, "started_at": None, "dwell_s": None}
    )
    metric = f"occupancy.{p.category}"
    out.add("camera", p.camera_id, metric, where, p.count)
    if p.zone:
        out.add("zone", p.zone, metric, where, p.count)
    now = out.occupancy.get((p.camera_id, p.category))
    if now is None or (at, p.count) > (now["as_of"], now["count"]):
        out.occupancy[(p.camera_id, p.category)] = {
            "camera_id": p.camera_id,
            "category": p.category,
            "zone": p.zone,
            "count": p.count,
            "as_of": at,
        }


def _track(out: Derived, key: dict[str, Any], where: tuple[datetime, date], p: TrackPayload) -> None:
    out.facts["detection"].append(
        {**key, "event": p.kind, "camera_id": p.camera_id, "zone": p.zone, "category": p.category}
        | {"region": p.region, "direction": p.direction, "count": None}
        | {"started_at": p.first_seen_at, "dwell_s": p.dwell_s if p.kind == "track_ended" else None}
    )
    scopes = [("camera", p.camera_id)] + ([("zone", p.zone)] if p.zone else [])
    if p.kind == "track_started":
        for scope, scope_id in scopes:
            out.add(scope, scope_id, f"objects.{p.category}", where)
    elif p.kind == "track_ended" and p.dwell_s is not None:
        for scope, scope_id in scopes:
            out.add(scope, scope_id, f"dwell.{p.category}", where, p.dwell_s)
    elif p.kind in ("zone_entered", "zone_left") and p.region:
        metric = "traffic.in" if p.kind == "zone_entered" else "traffic.out"
        out.add("area", f"{p.camera_id}:{p.region}", metric, where)
    elif p.kind == "line_crossed" and p.region and p.direction:
        metric = f"crossings.{p.direction}"
        out.add("line", f"{p.camera_id}:{p.region}", metric, where)
        if p.zone:
            out.add("zone", p.zone, metric, where)
    elif p.kind == "loitering":
        for scope, scope_id in scopes:
            out.add(scope, scope_id, "loitering", where)


def _device_status(
    out: Derived, key: dict[str, Any], at: datetime, where: tuple[datetime, date], p: DeviceStatusPayload
) -> None:
    out.facts["device_status"].append(
        {**key, "device_id": p.device_id, "device_kind": p.kind, "online": p.online, "firmware": p.firmware}
    )
    out.add("device", p.device_id, "device.online" if p.online else "device.offline", where)
    state = out.seen(p.device_id, at)
    if state["status_at"] is None or (at, p.online) > (state["status_at"], state["online"]):
        state.update(status_at=at, online=p.online, device_kind=p.kind, firmware=p.firmware)


def _telemetry(
    out: Derived, key: dict[str, Any], at: datetime, where: tuple[datetime, date], p: TelemetryPayload
) -> None:
    state = out.seen(p.device_id, at)
    for name, value in p.values.items():
        if value is None or len(name) > MAX_METRIC_KEY:
            continue
        out.facts["sensor"].append({**key, "metric": name, "device_id": p.device_id, "value": value})
        out.add("device", p.device_id, f"sensor.{name}", where, value)
        if name == "battery" and (state["battery_at"] is None or (at, value) > (state["battery_at"], state["battery"])):
            state.update(battery=value, battery_at=at)
