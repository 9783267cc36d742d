"""The console's events timeline: filters, keyset pages, a thumbnail per pictured record, one record's detail with
its full image and clip, and the CSV of a filtered set (streamed). Times are shown in the site's time zone.

Routes (all reads, so any console role may make them: edge.web.roles): ``GET /events``, ``GET /events.csv``,
``GET /events/{id}``, ``GET /events/{id}/image.jpg``, ``GET /events/{id}/thumbnail.jpg``, ``GET /events/{id}/clip.mp4``.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from pydantic import ValidationError

from edge import keys
from edge.access.reason_words import reason_in_words
from edge.config import EdgeConfig
from edge.storage import event_query
from edge.storage.journal import JournalEntry
from edge.web.auth import CSRF_FIELD, SESSION
from edge.web.event_filters import DEFAULT_LIMIT, KINDS, EventQueryIn, invalid_detail
from edge.web.event_media import EventMedia, media_of, thumbnail_jpeg
from edge.web.site_time import in_zone
from webguard.params import parse_id

CSV_COLUMNS = (
    "id",
    "time",
    "kind",
    "type",
    "summary",
    "door",
    "camera",
    "zone",
    "person",
    "granted",
    "reason",
    "reason_words",
    "source",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_MEDIA_CACHE = "private, max-age=3600"


def local_time(when: datetime, timezone: str) -> str:
    """`when` in the site's zone, e.g. ``2026-03-01 08:15:02``."""
    return in_zone(when, timezone).strftime("%Y-%m-%d %H:%M:%S")


def describe(entry: JournalEntry, config: EdgeConfig) -> dict[str, Any]:
    """What the timeline shows of a record: names for ids, the zone of its door, the decision and its reason."""
    p = entry.payload
    doors = {d.id: d for d in config.doors}
    door = doors.get(p["door_id"]) if isinstance(p.get("door_id"), str) else None
    cameras = {c.id: c.name for c in config.cameras}
    zones = {z.id: z.name for z in config.zones}
    camera_id = p.get("camera_id") if isinstance(p.get("camera_id"), str) else None
    decision = p.get("type") in ("access_decision", "plate_decision")
    zone_id = door.zone if door else p.get("zone") if isinstance(p.get("zone"), str) else None
    kind_of = p.get("type") if isinstance(p.get("type"), str) else p.get("kind")
    return {
        "id": entry.id,
        "kind": entry.kind,
        "type": kind_of if isinstance(kind_of, str) else "",
        "summary": entry.summary,
        "source": entry.source,
        "door_id": door.id if door else p.get("door_id") if isinstance(p.get("door_id"), str) else None,
        "door": door.name if door else p.get("door_id") if isinstance(p.get("door_id"), str) else None,
        "camera_id": camera_id,
        "camera": cameras.get(camera_id, camera_id) if camera_id else None,
        "zone_id": zone_id,
        "zone": zones.get(zone_id, zone_id) if zone_id else None,
        "person": p.get("person") if isinstance(p.get("person"), str) else p.get("vehicle") or None,
        "granted": p.get("granted") if decision and isinstance(p.get("granted"), bool) else None,
        "reason": p.get("reason") if decision else None,
        "reason_words": reason_in_words(p.get("reason")) if decision else None,
    }


async def _frames(request: web.Request, entries: Sequence[JournalEntry]) -> dict[int, JournalEntry]:
    """The newest door_snapshot event of each record in `entries` that has one."""
    found: dict[int, JournalEntry] = {}
    for snap in await event_query.snapshots_of(request.app[keys.DATABASE], [e.id for e in entries]):
        of = snap.payload.get("of_journal_id")
        if isinstance(of, int) and (of not in found or found[of].id < snap.id):
            found[of] = snap
    return found


def _existing(media: dict[int, EventMedia]) -> dict[int, tuple[bool, bool]]:
    """Whether each record's image and clip exist on disk (blocking: run in a thread)."""
    return {
        record_id: (m.image is not None and m.image.is_file(), m.clip is not None and m.clip.is_file())
        for record_id, m in media.items()
    }


async def _media_files(request: web.Request, entries: Sequence[JournalEntry]) -> dict[int, tuple[bool, bool]]:
    storage = request.app[keys.CONFIG].storage
    frames = await _frames(request, entries)
    media = {e.id: media_of(e, frames.get(e.id), storage) for e in entries}
    return await asyncio.to_thread(_existing, media)


def _context(request: web.Request, **extra: Any) -> dict[str, Any]:
    config = request.app[keys.CONFIG]
    return {
        "site": config.site,
        "session": request[SESSION],
        CSRF_FIELD: request[SESSION].csrf_token,
        "timezone": config.site.timezone,
        **extra,
    }


async def events_page(request: web.Request) -> web.Response:
    """The timeline: filter form, a page of records newest first, links to older and newer pages and the CSV."""
    config = request.app[keys.CONFIG]
    tz = ZoneInfo(config.site.timezone)
    options = {
        "kinds": KINDS,
        "doors": [(d.id, d.name) for d in config.doors],
        "cameras": [(c.id, c.name) for c in config.cameras],
        "zones": [(z.id, z.name) for z in config.zones],
    }
    try:
        query = EventQueryIn.from_query(request.query)
    except ValidationError as err:
        context = _context(request, error=invalid_detail(err), rows=[], form=dict(request.query), **options)
        return aiohttp_jinja2.render_template("events.html", request, context, status=400)
    result = await event_query.page(
        request.app[keys.DATABASE], query.to_filter(config), query.limit, query.before, query.after
    )
    files = await _media_files(request, result.entries)
    rows = [
        {
            **describe(e, config),
            "at": local_time(e.occurred_at, config.site.timezone),
            "iso": e.occurred_at.isoformat(),
            "pictured": files[e.id][0],
        }
        for e in result.entries
    ]
    filters = query.query_string_items()
    if query.limit != DEFAULT_LIMIT:
        filters["limit"] = str(query.limit)
    context = _context(
        request,
        error=None,
        rows=rows,
        form={**filters, "from": _form_time(query.since, tz), "to": _form_time(query.until, tz)},
        older_url=f"/events?{urlencode({**filters, 'before': result.older.encode()})}" if result.older else None,
        newer_url=f"/events?{urlencode({**filters, 'after': result.newer.encode()})}" if result.newer else None,
        newest_url=f"/events?{urlencode(filters)}" if query.before or query.after else None,
        csv_url=f"/events.csv?{urlencode(query.query_string_items())}",
        filtered=bool(query.query_string_items()),
        **options,
    )
    return aiohttp_jinja2.render_template("events.html", request, context)


def _form_time(value: object, tz: ZoneInfo) -> str:
    """A filter time as the page's date-time field shows it (site time, to the minute); a day as its start."""
    if isinstance(value, datetime):
        local = value.astimezone(tz) if value.tzinfo else value
        return local.strftime("%Y-%m-%dT%H:%M")
    return f"{value}T00:00" if value is not None else ""


async def _entry(request: web.Request) -> JournalEntry:
    record_id = parse_id(request.match_info["event_id"])
    entry = None if record_id is None else await event_query.get(request.app[keys.DATABASE], record_id)
    if entry is None:
        raise web.HTTPNotFound(text="No such event.")
    return entry


async def _media(request: web.Request, entry: JournalEntry) -> EventMedia:
    frame = (await _frames(request, [entry])).get(entry.id)
    return media_of(entry, frame, request.app[keys.CONFIG].storage)


async def event_detail(request: web.Request) -> web.Response:
    """One record: every fact in words, the full image and the clip if any, the raw payload."""
    config = request.app[keys.CONFIG]
    entry = await _entry(request)
    files = await _media_files(request, [entry])
    of = entry.payload.get("of_journal_id") if entry.payload.get("type") == "door_snapshot" else None
    context = _context(
        request,
        event={
            **describe(entry, config),
            "at": local_time(entry.occurred_at, config.site.timezone),
            "utc": entry.occurred_at.isoformat(),
            "payload": entry.payload,
            "of": of if isinstance(of, int) else None,
        },
        has_image=files[entry.id][0],
        has_clip=files[entry.id][1],
    )
    return aiohttp_jinja2.render_template("event_detail.html", request, context)


async def event_image(request: web.Request) -> web.StreamResponse:
    """The record's full image (door frame or camera snapshot)."""
    media = await _media(request, await _entry(request))
    if media.image is None or not await asyncio.to_thread(media.image.is_file):
        raise web.HTTPNotFound(text="This event has no image.")
    return web.FileResponse(media.image, headers={"Cache-Control": _MEDIA_CACHE})


async def event_thumbnail(request: web.Request) -> web.StreamResponse:
    """A small image of the record (the door frame's own thumbnail, or one made from the snapshot)."""
    media = await _media(request, await _entry(request))
    if media.thumbnail is not None and await asyncio.to_thread(media.thumbnail.is_file):
        return web.FileResponse(media.thumbnail, headers={"Cache-Control": _MEDIA_CACHE})
    small = await asyncio.to_thread(thumbnail_jpeg, media.image) if media.image is not None else None
    if small is None:
        raise web.HTTPNotFound(text="This event has no image.")
    return web.Response(body=small, content_type="image/jpeg", headers={"Cache-Control": _MEDIA_CACHE})


async def event_clip(request: web.Request) -> web.StreamResponse:
    """The record's clip (MP4), as a download."""
    entry = await _entry(request)
    media = await _media(request, entry)
    if media.clip is None or not await asyncio.to_thread(media.clip.is_file):
        raise web.HTTPNotFound(text="This event has no clip.")
    disposition = f'attachment; filename="event-{entry.id}.mp4"'
    return web.FileResponse(media.clip, headers={"Cache-Control": _MEDIA_CACHE, "Content-Disposition": disposition})


def _cell(value: object) -> str:
    """A CSV cell; text that a spreadsheet would run as a formula is prefixed with an apostrophe."""
    text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


async def events_csv(request: web.Request) -> web.StreamResponse:
    """Every record of the filtered set as CSV, newest first, streamed a page at a time (times in site time)."""
    config = request.app[keys.CONFIG]
    try:
        query = EventQueryIn.from_query(request.query)
    except ValidationError as err:
        raise web.HTTPBadRequest(text=invalid_detail(err)) from err
    tz = ZoneInfo(config.site.timezone)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="events-{config.site.id}.csv"',
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    async for batch in event_query.every_page(request.app[keys.DATABASE], query.to_filter(config)):
        for entry in batch:
            row = describe(entry, config)
            row["time"] = entry.occurred_at.astimezone(tz).isoformat()
            row["door"], row["camera"], row["zone"] = row["door_id"], row["camera_id"], row["zone_id"]
            writer.writerow([_cell(row[column]) for column in CSV_COLUMNS])
        await response.write(buffer.getvalue().encode())
        buffer.seek(0)
        buffer.truncate()
    await response.write(buffer.getvalue().encode())
    await response.write_eof()
    return response


def add_routes(app: web.Application) -> None:
    """Register the events pages, media and CSV."""
    app.router.add_get("/events", events_page)
    app.router.add_get("/events.csv", events_csv)
    app.router.add_get("/events/{event_id}", event_detail)
    app.router.add_get("/events/{event_id}/image.jpg", event_image)
    app.router.add_get("/events/{event_id}/thumbnail.jpg", event_thumbnail)
    app.router.add_get("/events/{event_id}/clip.mp4", event_clip)
