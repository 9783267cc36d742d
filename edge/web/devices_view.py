"""Console page of devices: every device with its online state, last seen, battery, firmware and signal; the open
(latched) alarms and the PIN lockouts with their history.

Everyone logged in sees it; a guard acknowledges alarms (the JSON API, through console.js) and clears PIN lockouts
(the form here; edge.web.roles lists it for guards).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from edge import keys
from edge.access.credentials import CredentialFormatError
from edge.access.pin_lockout import ALARM as PIN_LOCKOUT
from edge.devices.state import ALARM_TEXT, DeviceState
from edge.storage.schema import events
from edge.web.auth import CSRF_FIELD, SESSION

HISTORY_SHOWN = 50
# Telemetry keys of the adapters (docs/MQTT.md): the first one a device reports is shown.
BATTERY_KEYS = ("battery_pct", "battery")
SIGNAL_KEYS = (
    ("linkquality", "LQI {:g}"),
    ("wifi_signal_dbm", "{:g} dBm"),
    ("rssi", "{:g} dBm"),
    ("wifi_rssi_pct", "{:g} %"),
)


class PinLockoutClearForm(BaseModel):
    """The form that ends a credential's PIN lockout."""

    model_config = ConfigDict(extra="ignore")  # the CSRF token comes along

    credential: str = Field(min_length=1, max_length=128, description="Card number as listed")
    reason: str = Field(default="", max_length=200, description="Why (audited)")


def _local(when: datetime | None, tz: ZoneInfo) -> str:
    if when is None:
        return "never"
    aware = when if when.tzinfo else when.replace(tzinfo=UTC)
    return aware.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def _battery(values: dict[str, float]) -> str:
    for key in BATTERY_KEYS:
        if key in values:
            low = " (low)" if values.get("battery_low", 0) >= 0.5 else ""
            return f"{values[key]:g} %{low}"
    return "low" if values.get("battery_low", 0) >= 0.5 else "–"


def _signal(values: dict[str, float]) -> str:
    for key, shown in SIGNAL_KEYS:
        if key in values:
            return shown.format(values[key])
    return "–"


def device_rows(request: web.Request) -> list[dict[str, Any]]:
    """The devices of the site's config with what they last reported."""
    config = request.app[keys.CONFIG]
    tz = ZoneInfo(config.site.timezone)
    state: dict[str, DeviceState] = request.app[keys.SITE_STATE].devices
    doors = {d.lock: d.name for d in config.doors} | {d.contact: d.name for d in config.doors if d.contact}
    doors |= {r: d.name for d in config.doors for r in d.reader_ids}
    rows = []
    for device in config.devices:
        live = state.get(device.id)
        values = live.values if live else {}
        rows.append(
            {
                "id": device.id,
                "name": device.name,
                "kind": device.kind,
                "zone": device.zone,
                "door": doors.get(device.id, ""),
                "adapter": device.adapter.type,
                "online": bool(live and live.online),
                "last_seen": _local(live.last_seen if live else None, tz),
                "battery": _battery(values),
                "firmware": (live.firmware if live else None) or "–",
                "signal": _signal(values),
            }
        )
    return rows


async def alarm_history(request: web.Request, alarm: str | None = None, exclude: str | None = None) -> list[Any]:
    """The newest alarm records (raised, cleared, acknowledged) of the journal, newest first."""
    alarm_type = events.c.payload["type"].as_string()
    query = select(events.c.occurred_at, events.c.summary, events.c.payload).where(
        events.c.kind == "event", alarm_type == "alarm"
    )
    if alarm is not None:
        query = query.where(events.c.payload["alarm"].as_string() == alarm)
    if exclude is not None:
        query = query.where(events.c.payload["alarm"].as_string() != exclude)
    async with request.app[keys.DATABASE].engine.connect() as conn:
        rows = (await conn.execute(query.order_by(events.c.id.desc()).limit(HISTORY_SHOWN))).all()
    tz = ZoneInfo(request.app[keys.CONFIG].site.timezone)
    return [
        {
            "at": _local(r.occurred_at, tz),
            "state": str((r.payload or {}).get("state", "")),
            "alarm": ALARM_TEXT.get(str((r.payload or {}).get("alarm", "")), str((r.payload or {}).get("alarm", ""))),
            "summary": r.summary,
        }
        for r in rows
    ]


async def _devices_page(
    request: web.Request, *, error: str | None = None, notice: str | None = None, status: int = 200
) -> web.StreamResponse:
    access = request.app[keys.ACCESS]
    tz = ZoneInfo(request.app[keys.CONFIG].site.timezone)
    lockouts = [
        {"lockout": lk, "since": _local(lk.since, tz), "until": _local(lk.until, tz)}
        for lk in access.pin_lockouts.active()
    ]
    context = {
        "site": request.app[keys.CONFIG].site,
        "session": request[SESSION],
        CSRF_FIELD: request[SESSION].csrf_token,
        "devices": device_rows(request),
        "lockouts": lockouts,
        "lockout_history": await alarm_history(request, alarm=PIN_LOCKOUT),
        "alarm_history": await alarm_history(request, exclude=PIN_LOCKOUT),
        "timezone": request.app[keys.CONFIG].site.timezone,
        "error": error,
        "notice": notice or request.query.get("done"),
    }
    return aiohttp_jinja2.render_template("devices.html", request, context, status=status)


async def devices_page(request: web.Request) -> web.StreamResponse:
    """Devices, open alarms, PIN lockouts and their history."""
    return await _devices_page(request)


async def clear_pin_lockout(request: web.Request) -> web.StreamResponse:
    """End a credential's PIN lockout from the page (guard or admin; audited with who cleared it)."""
    data = await request.post()
    try:
        form = PinLockoutClearForm.model_validate({k: str(v) for k, v in data.items()})
    except ValidationError:
        return await _devices_page(
            request, error="Not cleared: the card number or the reason is not valid.", status=400
        )
    try:
        lockout = await request.app[keys.ACCESS].clear_pin_lockout(
            form.credential, request[SESSION].username, form.reason.strip()
        )
    except CredentialFormatError as err:
        return await _devices_page(request, error=f"Not cleared: {err}", status=400)
    if lockout is None:
        return await _devices_page(request, error=f"{form.credential} is not locked out (any more).", status=404)
    done = urlencode({"done": f"PIN lockout of {form.credential} cleared"})
    raise web.HTTPSeeOther(f"/devices?{done}#lockouts")


def add_routes(app: web.Application) -> None:
    """Register the devices page (clearing a PIN lockout: guards, edge.web.roles)."""
    app.router.add_get("/devices", devices_page)
    app.router.add_post("/devices/pin-lockouts/clear", clear_pin_lockout)
