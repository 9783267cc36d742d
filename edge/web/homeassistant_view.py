"""The console's view of Home Assistant discovery: on or off, Home Assistant's account and what it may command,
and the entities exposed (dashboard section and `GET /api/v1/homeassistant`)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from edge import keys


def home_assistant_status(app: web.Application) -> dict[str, Any]:
    """Whether discovery is on, who Home Assistant logs in as, what it may command, and the entities published."""
    config = app[keys.CONFIG]
    ha = config.homeassistant
    bridge = app.get(keys.HOME_ASSISTANT)
    commandable = [d.id for d in config.doors if ha.commands_door(d.id)] if ha.enabled else []
    status: dict[str, Any] = {
        "enabled": ha.enabled,
        "running": bridge is not None,
        "username": ha.username if ha.enabled else None,
        "command_doors": commandable,
        "command_lockdown": ha.enabled and ha.command_lockdown,
        "discovery_prefix": ha.discovery_prefix,
        "entities": [],
    }
    if bridge is None:
        return status
    status["node_id"] = bridge.topics.node
    status["status_topic"] = bridge.topics.status
    status["commands_handled"] = bridge.commands_handled
    status["entities"] = [
        {
            "component": entity.component,
            "device": entity.config["device"]["name"],
            "name": entity.name,
            "unique_id": entity.unique_id,
            "commandable": entity.commandable,
        }
        for entity in sorted(bridge.entities(), key=lambda e: (e.config["device"]["name"], e.name, e.unique_id))
    ]
    return status


async def get_home_assistant(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/homeassistant: the discovery status and the entities exposed."""
    return web.json_response(home_assistant_status(request.app))


def add_routes(app: web.Application) -> None:
    """Register the Home Assistant route of the console API."""
    app.router.add_get("/api/v1/homeassistant", get_home_assistant)
