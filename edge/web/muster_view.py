"""The console's muster list: per zone, who badged in and not out, next to the people the zone's cameras count
(`GET /api/v1/access/muster`; shown on the dashboard during a lockdown)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from edge import keys


def muster_json(app: web.Application) -> dict[str, Any]:
    """{"lockdown": bool, "zones": [{"zone", "name", "badged_in": [...], "camera_count": n|None, "cameras": [...]}]}"""
    config = app[keys.CONFIG]
    muster = app[keys.MUSTER]
    pipelines = app.get(keys.CAMERAS, {})
    zones = []
    for zone in config.zones:
        cameras = [c.id for c in config.cameras if c.zone == zone.id and c.id in pipelines]
        counted = [pipelines[c].analytics().get("tracks", {}).get("person", 0) for c in cameras]
        zones.append(
            {
                "zone": zone.id,
                "name": zone.name,
                "badged_in": [p.as_json() for p in muster.inside(zone.id)],
                "camera_count": sum(counted) if cameras else None,
                "cameras": cameras,
            }
        )
    return {"lockdown": bool(app[keys.ACCESS].lockdowns.active()), "zones": zones}


async def get_muster(request: web.Request) -> web.Response:
    """GET /api/v1/access/muster."""
    return web.json_response(muster_json(request.app))


def add_routes(app: web.Application) -> None:
    """Register the muster route."""
    app.router.add_get("/api/v1/access/muster", get_muster)
