"""MJPEG live view of a camera's annotated frames (multipart/x-mixed-replace, works in any browser)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from edge.vision.live import LiveFeed, TooManyViewers

BOUNDARY = "outpost-frame"
IDLE_TIMEOUT_S = 30.0

# The live feed of each camera, by camera id.
LIVE_FEEDS = web.AppKey("live_feeds", dict[str, LiveFeed])


async def live_mjpeg(request: web.Request) -> web.StreamResponse:
    """Stream the camera's newest annotated frames until the viewer leaves or the site stops."""
    feed = request.app[LIVE_FEEDS].get(request.match_info["camera_id"])
    if feed is None:
        return web.json_response({"error": "unknown_camera"}, status=404)
    try:
        queue = feed.subscribe()
    except TooManyViewers:
        return web.json_response({"error": "too_many_viewers"}, status=503)
    response = web.StreamResponse(
        headers={
            "Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
            "Cache-Control": "no-store",
        }
    )
    try:
        await response.prepare(request)
        while True:
            try:
                jpeg = await asyncio.wait_for(queue.get(), IDLE_TIMEOUT_S)
            except TimeoutError:
                break  # the camera produced nothing for a while; the browser may reconnect
            if jpeg is None:
                break  # the site is stopping
            head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
            await response.write(head.encode() + jpeg + b"\r\n")
    except ConnectionResetError:
        pass  # the viewer went away
    finally:
        feed.unsubscribe(queue)
    return response


def add_routes(app: web.Application) -> None:
    """Register the live view route."""
    app.router.add_get("/api/v1/cameras/{camera_id}/live.mjpeg", live_mjpeg)
