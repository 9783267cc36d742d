"""Pair a new device from the console (admin): create its MQTT account and show its settings once.

The account goes into the box's config file (`edge.devices.pairing`, the installer's logic: validated, atomic,
mode 0600) and into the running broker's directory, so the device can connect at once. The password is in the
answer to the POST only (not stored, not logged, `Cache-Control: no-store`). The adapters and the device list are
built at start: the device's messages are routed after the next restart of the box, as the page says.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from pydantic import ValidationError

from edge import keys
from edge.config import ConfigError
from edge.devices.accounts import config_accounts
from edge.devices.pairing import DeviceSettings, PairArgs, PairingError, pair_device_in_file
from edge.web.auth import CSRF_FIELD, SESSION

KINDS = (
    ("native", "Outpost MQTT device (native firmware)"),
    ("zigbee2mqtt", "Zigbee2MQTT bridge"),
    ("tasmota", "Tasmota relay (door strike)"),
    ("shelly", "Shelly Gen1 relay (door strike)"),
)
ROLES = ("lock", "reader", "contact", "sensor")
_FIELDS = ("kind", "id", "role", "zone", "name", "topic", "relay")


async def _page(
    request: web.Request,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    settings: DeviceSettings | None = None,
    status: int = 200,
) -> web.StreamResponse:
    config = request.app[keys.CONFIG]
    context: dict[str, Any] = {
        "site": config.site,
        "session": request[SESSION],
        CSRF_FIELD: request[SESSION].csrf_token,
        "values": values or {"kind": "native", "role": "lock", "zone": config.zones[0].id if config.zones else "main"},
        "errors": errors or {},
        "settings": settings,
        "kinds": KINDS,
        "roles": ROLES,
        "zones": [z.id for z in config.zones],
        "config_path": request.app[keys.CONFIG_PATH],
    }
    response = aiohttp_jinja2.render_template("device_pair.html", request, context, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


async def pair_page(request: web.Request) -> web.StreamResponse:
    """The pairing form."""
    return await _page(request)


async def pair_submit(request: web.Request) -> web.StreamResponse:
    """Create the account (audited, without the password) and show the device's settings once."""
    data = await request.post()
    values = {k: str(data.get(k, "")).strip() for k in _FIELDS}
    raw: dict[str, Any] = {k: v for k, v in values.items() if v}
    if raw.get("kind") in ("tasmota", "shelly"):
        raw["role"] = "lock"
    errors: dict[str, str] = {}
    try:
        args = PairArgs.model_validate(raw)
    except ValidationError as err:
        for problem in err.errors(include_url=False, include_context=False, include_input=False):
            field = str(problem["loc"][0]) if problem["loc"] else "form"
            errors.setdefault(field, str(problem["msg"]).removeprefix("Value error, "))
        return await _page(request, values=values, errors=errors, status=422)
    path = request.app[keys.CONFIG_PATH]
    if path is None:
        errors["form"] = "this box was started without a config file, so it cannot pair devices here"
        return await _page(request, values=values, errors=errors, status=409)
    try:
        # Hashing the password (argon2) and writing the file block: off the event loop.
        settings, zone_added, paired = await asyncio.to_thread(pair_device_in_file, path, args)
    except (PairingError, ConfigError) as err:
        errors["form"] = str(err)
        return await _page(request, values=values, errors=errors, status=409)
    directory = request.app[keys.BROKER].directory
    for user in config_accounts(paired):
        if user.username == args.id:
            directory.add(user)  # it may connect now
    by = request[SESSION].username
    zone_note = f" (zone {args.zone} added)" if zone_added else ""
    await request.app[keys.JOURNAL].record(
        "audit",
        {"type": "device_paired", "device_id": args.id, "kind": args.kind, "zone": args.zone, "by": by},
        source=f"console:{by}",
        summary=f"{by} paired {args.kind} device {args.id}{zone_note}",
    )
    return await _page(request, values=values, settings=settings)


def add_routes(app: web.Application) -> None:
    """Register the pairing page (admin only: edge.web.roles lists neither route for others)."""
    app.router.add_get("/devices/pair", pair_page)
    app.router.add_post("/devices/pair", pair_submit)
