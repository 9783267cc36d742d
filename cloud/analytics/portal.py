"""HQ portal pages over the analytics: tenant overview, site drill-down, charts, alarms across sites."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web
from pydantic import ValidationError

from cloud.analytics import queries
from cloud.analytics.api_models import OverviewQuery, RangeQuery, SeriesOut
from cloud.analytics.buckets import buckets_for
from cloud.analytics.charts import Chart, line_chart
from cloud.analytics.hq_acks import acknowledge_at_hq
from cloud.appkeys import DB
from cloud.auth import require_permission, require_principal
from cloud.config import format_validation_error
from cloud.permissions import requires
from cloud.siteconfig import NOTIFIER
from cloud.tenancy import SiteNotFound, TenantScope
from webguard.params import parse_id

BASE = "/portal"


@dataclass(frozen=True)
class View:
    """What an analytics chart shows: a scope and lines of (label, metric, statistic)."""

    title: str
    scope: str
    lines: tuple[tuple[str, str, str], ...]


VIEWS: dict[str, View] = {
    "traffic": View("Traffic (line crossings)", "zone", (("In", "crossings.in", "n"), ("Out", "crossings.out", "n"))),
    "occupancy": View(
        "Occupancy (peak of the cameras' counts)",
        "zone",
        (("People", "occupancy.person", "peak"), ("Vehicles", "occupancy.vehicle", "peak")),
    ),
    "access": View("Access decisions", "door", (("Granted", "access.granted", "n"), ("Denied", "access.denied", "n"))),
    "detections": View(
        "Objects seen", "camera", (("People", "objects.person", "n"), ("Vehicles", "objects.vehicle", "n"))
    ),
    "sensors": View(
        "Sensors (mean)",
        "device",
        (("Temperature", "sensor.temperature", "mean"), ("Battery", "sensor.battery", "mean")),
    ),
}


def _bucket_values(series: SeriesOut, starts: Sequence[datetime], metric: str, stat: str) -> list[float | None]:
    """One value per bucket start: counts added up, peaks maxed, means weighted by samples (None: no data)."""
    index = {start: i for i, start in enumerate(starts)}
    n = [0] * len(starts)
    total = [0.0] * len(starts)
    peak: list[float | None] = [None] * len(starts)
    for point in series.points:
        i = index.get(point.bucket)
        if i is None or point.metric != metric:
            continue
        n[i] += point.n
        total[i] += point.sum
        if point.peak is not None:
            peak[i] = point.peak if peak[i] is None else max(peak[i] or 0.0, point.peak)
    if stat == "n":
        return [float(v) for v in n]
    if stat == "peak":
        return peak
    return [total[i] / n[i] if n[i] else None for i in range(len(starts))]


def _starts(win: queries.Window, granularity: str) -> list[datetime]:
    buckets = buckets_for(win.timezone)
    if granularity == "hour":
        return buckets.hours(win.start, win.end)
    days = (win.end_day - win.start_day).days + 1
    return [buckets.day_start(win.start_day + timedelta(days=i)) for i in range(days)]


def _labels(starts: Sequence[datetime], win: queries.Window, granularity: str) -> list[str]:
    tz = buckets_for(win.timezone).tz
    fmt = "%a %H:%M" if granularity == "hour" else "%b %d"
    return [s.astimezone(tz).strftime(fmt) for s in starts]


def _pending_from(starts: Sequence[datetime], granularity: str, mark: datetime | None) -> int | None:
    if mark is None:
        return None
    step = timedelta(hours=1) if granularity == "hour" else timedelta(days=1)
    for i, start in enumerate(starts):
        if start + step > mark:
            return i
    return None


def _page(request: web.Request, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
    context = {"principal": require_principal(request), **context}
    return aiohttp_jinja2.render_template(template, request, context, status=status)


@requires("analytics.read")
async def handle_overview_page(request: web.Request) -> web.Response:
    """GET /portal/overview: every site's health, sortable, filterable, paged."""
    principal = require_principal(request)
    try:
        query = OverviewQuery.model_validate(dict(request.query))
    except ValidationError as err:
        query, error = OverviewQuery(), format_validation_error(err, root="(query)")
    else:
        error = ""
    async with queries.reading(request.app[DB]) as session:
        out = await queries.overview(session, principal, query)
    pages = max(1, -(-out.total // query.per_page))

    def link(**changes: Any) -> str:
        params = {"q": query.q, "status": query.status, "sort": query.sort, "order": query.order}
        params |= {"per_page": query.per_page, "page": query.page} | changes
        return f"{BASE}/overview?" + urlencode({k: v for k, v in params.items() if v not in ("", None)})

    def sort_link(key: str) -> str:
        order = "desc" if query.sort == key and query.order == "asc" else "asc"
        return link(sort=key, order=order, page=1)

    context = {"out": out, "query": query, "pages": pages, "link": link, "sort_link": sort_link, "error": error}
    return _page(request, "hq_overview.html", context, status=400 if error else 200)


@requires("analytics.read")
async def handle_site_page(request: web.Request) -> web.Response:
    """GET /portal/overview/sites/{site_id}: one site's health, devices, alarms, occupancy and access."""
    principal = require_principal(request)
    async with queries.reading(request.app[DB]) as session:
        try:
            site = await TenantScope(session, principal).site(request.match_info["site_id"])
        except SiteNotFound as err:
            raise web.HTTPNotFound(text="no such site") from err
        health = await queries.overview(session, principal, OverviewQuery(), site_id=site.id)
        win = queries.window(RangeQuery(site=site.id), site)
        devices = await queries.devices(session, principal, site)
        alarms = await queries.alarms(session, principal, win)
        occupancy = await queries.occupancy_now(session, principal, site.id)
        credentials, doors = await queries.top_denied(session, principal, win)
        detections = await queries.totals(session, principal, win, "camera", ("objects.",))
    context = {
        "site": site,
        "health": health.sites[0],
        "devices": devices,
        "alarms": alarms,
        "occupancy": occupancy,
        "credentials": credentials,
        "doors": doors,
        "detections": detections,
        "win": win,
    }
    return _page(request, "hq_site.html", context)


@requires("analytics.read")
async def handle_analytics_page(request: web.Request) -> web.Response:
    """GET /portal/analytics: charts over a time range in the site's time zone, optionally against another period."""
    principal = require_principal(request)
    params = dict(request.query)
    view_name = params.pop("view", "access")
    compare_text = params.pop("compare", "")
    error = ""
    view = VIEWS.get(view_name)
    if view is None:
        view_name, view, error = "access", VIEWS["access"], f"unknown view {view_name!r}"
    try:
        query = RangeQuery.model_validate(params)
        compare = date.fromisoformat(compare_text) if compare_text else None
    except (ValidationError, ValueError) as err:
        detail = format_validation_error(err, root="(query)") if isinstance(err, ValidationError) else str(err)
        query, compare, error = RangeQuery(), None, detail
    charts: list[Chart] = []
    async with queries.reading(request.app[DB]) as session:
        scope = TenantScope(session, principal)
        sites = await scope.sites()
        site = None
        if query.site is not None:
            try:
                site = await scope.site(query.site)
            except SiteNotFound:
                query, error = RangeQuery(), "no such site"
        win = queries.window(query, site)
        series = await queries.series(session, principal, win, query.granularity, view.scope, _metrics(view))
        other = None
        if compare is not None:
            span = win.end_day - win.start_day
            other_query = RangeQuery.model_validate(
                {**params, "from": compare.isoformat(), "to": (compare + span).isoformat()}
            )
            other_win = queries.window(other_query, site)
            other = (
                other_win,
                await queries.series(session, principal, other_win, query.granularity, view.scope, _metrics(view)),
            )
    starts = _starts(win, query.granularity)
    lines: list[tuple[str, str, Sequence[float | None], bool]] = []
    for i, (label, metric, stat) in enumerate(view.lines):
        lines.append((label, f"s{i}", _bucket_values(series, starts, metric, stat), False))
        if other is not None:
            other_starts = _starts(other[0], query.granularity)
            values = _bucket_values(other[1], other_starts, metric, stat)
            lines.append((f"{label} ({other[0].start_day}...)", f"s{i}", values, True))
    pending = _pending_from(starts, query.granularity, series.complete_up_to)
    charts.append(line_chart(view.title, _labels(starts, win, query.granularity), lines, pending))
    csv_params = {k: v for k, v in params.items() if k in ("site", "from", "to", "granularity")}
    context = {
        "views": VIEWS,
        "view_name": view_name,
        "query": query,
        "win": win,
        "site": site,
        "sites": sites,
        "charts": charts,
        "series": series,
        "compare": compare,
        "error": error,
        "pending": pending is not None,
        "csv_link": f"/api/v1/analytics/{_api_name(view_name)}?" + urlencode({**csv_params, "format": "csv"}),
    }
    return _page(request, "hq_analytics.html", context, status=400 if error else 200)


def _metrics(view: View) -> tuple[str, ...]:
    return tuple(metric for _, metric, _ in view.lines)


def _api_name(view: str) -> str:
    return {"occupancy": "traffic"}.get(view, view)


@requires("alarms.read")
async def handle_alarms_page(request: web.Request) -> web.Response:
    """GET /portal/alarms: open alarms across sites (acknowledge), mean time to acknowledge this week."""
    principal = require_principal(request)
    async with queries.reading(request.app[DB]) as session:
        out = await queries.alarms(session, principal, queries.window(RangeQuery(), None))
    return _page(request, "hq_alarms.html", {"alarms": out})


@requires("alarms.write")
async def handle_acknowledge_form(request: web.Request) -> web.Response:
    """POST /portal/alarms/{site_id}/{alarm_id}/acknowledge: acknowledge at HQ, back to the alarms page."""
    principal = require_permission(request, "alarms.write")
    alarm_id = parse_id(request.match_info["alarm_id"])
    async with request.app[DB].begin() as session:
        try:
            site = await TenantScope(session, principal).site(request.match_info["site_id"])
        except SiteNotFound as err:
            raise web.HTTPNotFound(text="no such alarm") from err
        acked = None
        if alarm_id is not None:
            acked = await acknowledge_at_hq(session, principal, site.id, alarm_id)
    if acked is None:
        raise web.HTTPNotFound(text="no such alarm")
    request.app[NOTIFIER].notify([acked.site_id])  # committed: a waiting pull of the box answers now
    return web.Response(status=303, headers={"Location": f"{BASE}/alarms"})


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the HQ analytics pages."""
    router.add_get(f"{BASE}/overview", handle_overview_page)
    router.add_get(f"{BASE}/overview/sites/{{site_id}}", handle_site_page)
    router.add_get(f"{BASE}/analytics", handle_analytics_page)
    router.add_get(f"{BASE}/alarms", handle_alarms_page)
    router.add_post(f"{BASE}/alarms/{{site_id}}/{{alarm_id}}/acknowledge", handle_acknowledge_form)
