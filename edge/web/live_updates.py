"""Live console updates over Server-Sent Events: doors, lockdowns, alarms, camera counts, sync and new events.

The dashboard opens one ``EventSource`` on ``/api/v1/live``. The stream starts with ``hello`` (the box's boot id and
the whole current state), then sends ``update`` as soon as a journal record commits or the in-memory door, lockdown
or camera-count state changes (checked every `TICK_S`; the sync state every `SYNC_S`), and ``ping`` every `PING_S`
so the browser notices a connection that died silently. At shutdown every stream ends; the browser reconnects by
itself (``retry``), shows a "connection lost" banner meanwhile, and takes the whole state again from the next
``hello``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

from aiohttp import web

from edge import keys
from edge.access.reason_words import reason_in_words
from edge.storage.journal import JournalEntry
from edge.web.access_view import lockdowns_json
from edge.web.door_frames_view import door_frame_links
from edge.web.sync_view import sync_status

TICK_S = 1.0
PING_S = 5.0
SYNC_S = 2.0
COALESCE_S = 0.1
RETRY_MS = 2000
QUEUE_MAX = 500


class LiveHub:
    """Fans committed journal records out to every open stream; ends them all at shutdown."""

    def __init__(self) -> None:
        self.boot_id = secrets.token_hex(8)
        self._queues: dict[asyncio.Queue[JournalEntry | None], bool] = {}  # queue -> overflowed

    def publish(self, entry: JournalEntry) -> None:
        """Queue `entry` for each stream; a stream too far behind is told to take the whole state again."""
        for queue in self._queues:
            if queue.qsize() < QUEUE_MAX:
                queue.put_nowait(entry)
            else:
                self._queues[queue] = True

    def subscribe(self) -> asyncio.Queue[JournalEntry | None]:
        """A new stream's queue."""
        queue: asyncio.Queue[JournalEntry | None] = asyncio.Queue()
        self._queues[queue] = False
        return queue

    def unsubscribe(self, queue: asyncio.Queue[JournalEntry | None]) -> None:
        """Forget a stream's queue."""
        self._queues.pop(queue, None)

    def overflowed(self, queue: asyncio.Queue[JournalEntry | None]) -> bool:
        """True once if records were dropped for this stream since the last call."""
        dropped = self._queues.get(queue, False)
        if dropped:
            self._queues[queue] = False
        return dropped

    def close(self) -> None:
        """End every stream (on shutdown, before aiohttp waits for open requests)."""
        for queue in self._queues:
            queue.put_nowait(None)

    @property
    def streams(self) -> int:
        """How many streams are open."""
        return len(self._queues)


LIVE_HUB = web.AppKey("live_hub", LiveHub)


def event_json(entry: JournalEntry, frames: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """One journal record as the console's event list shows it (the same shape as GET /api/v1/events)."""
    return {
        "id": entry.id,
        "kind": entry.kind,
        "occurred_at": entry.occurred_at.isoformat(),
        "source": entry.source,
        "summary": entry.summary,
        "payload": entry.payload,
        "door_frame": frames.get(entry.id),
        "reason_words": (
            reason_in_words(entry.payload.get("reason"))
            if entry.payload.get("type") in ("access_decision", "plate_decision")
            else None
        ),
    }


def _state(app: web.Application) -> dict[str, Any]:
    """The in-memory part of the live state: doors, lockdowns, zones and each camera's state and counts (tracks in
    view, occupancy per zone, line crossings)."""
    counts: dict[str, Any] = {}
    for camera_id, pipeline in app[keys.CAMERAS].items():
        analytics = pipeline.analytics()
        counts[camera_id] = {key: analytics.get(key, {}) for key in ("tracks", "zones", "lines")}
        counts[camera_id]["state"] = analytics.get("state")
    return {
        "doors": [d.as_json() for d in app[keys.SITE_STATE].doors.values()],
        "lockdowns": lockdowns_json(app[keys.ACCESS]),
        "zones": [{"id": z.id, "name": z.name} for z in app[keys.CONFIG].zones],
        "counts": counts,
    }


async def _alarms(app: web.Application) -> list[dict[str, Any]]:
    return [a.as_json() for a in await app[keys.ACCESS].supervisor.alarms.open_alarms()]


def _message(event: str, data: dict[str, Any], retry: int | None = None) -> bytes:
    head = f"retry: {retry}\n" if retry is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def _next_batch(queue: asyncio.Queue[JournalEntry | None]) -> list[JournalEntry | None]:
    """Wait up to TICK_S for records; then take what else arrives within COALESCE_S (one update for a burst)."""
    try:
        first = await asyncio.wait_for(queue.get(), TICK_S)
    except TimeoutError:
        return []
    batch = [first]
    if first is not None:
        await asyncio.sleep(COALESCE_S)  # coalescing window, not synchronisation
        while not queue.empty():
            batch.append(queue.get_nowait())
    return batch


async def live_stream(request: web.Request) -> web.StreamResponse:
    """Stream the console's live updates (text/event-stream) until the browser leaves or the box stops."""
    app = request.app
    hub = app[LIVE_HUB]
    queue = hub.subscribe()
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    try:
        await response.prepare(request)
        state = _state(app)
        sync = await sync_status(app)
        hello = {"boot": hub.boot_id, **state, "alarms": await _alarms(app), "sync": sync, "resync": True}
        await response.write(_message("hello", hello, retry=RETRY_MS))
        last_write = last_sync = time.monotonic()
        while True:
            batch = await _next_batch(queue)
            entries = [e for e in batch if e is not None]
            now_state = _state(app)
            update: dict[str, Any] = {}
            if now_state != state or entries:
                update.update(now_state)
                state = now_state
            if entries:
                frames = door_frame_links(entries)
                update["events"] = [event_json(e, frames) for e in entries]
                update["alarms"] = await _alarms(app)
            if time.monotonic() - last_sync >= SYNC_S:  # the sync state changes by itself (backlog, errors)
                last_sync = time.monotonic()
                now_sync = await sync_status(app)
                if now_sync != sync:
                    update["sync"] = sync = now_sync
            if hub.overflowed(queue):
                update["resync"] = True
            if update:
                await response.write(_message("update", update))
                last_write = time.monotonic()
            elif time.monotonic() - last_write >= PING_S:
                await response.write(_message("ping", {"boot": hub.boot_id}))
                last_write = time.monotonic()
            if None in batch:
                break  # the box is stopping
    except (ConnectionResetError, ConnectionError):
        pass  # the browser went away
    finally:
        hub.unsubscribe(queue)
    return response


async def _start(app: web.Application) -> None:
    app[keys.JOURNAL].subscribe(app[LIVE_HUB].publish)  # the journal lives exactly as long as the app


async def _stop(app: web.Application) -> None:
    app[LIVE_HUB].close()


def install(app: web.Application) -> None:
    """Create the hub, subscribe it to the journal once the database is up, and register the stream route."""
    app[LIVE_HUB] = LiveHub()
    app.on_startup.append(_start)
    app.on_shutdown.append(_stop)
    app.router.add_get("/api/v1/live", live_stream)
