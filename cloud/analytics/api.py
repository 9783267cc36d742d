"""The analytics JSON API (and its CSV exports): occupancy and traffic, access stats, alarms, device health,
sensor trends, detections per class, and the tenant overview. Reads only rollup and state tables."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Sequence

from aiohttp import web
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.analytics import queries
from cloud.analytics.api_models import (
    AccessStatsOut,
    AcknowledgeRequest,
    AlarmOut,
    AlarmsOut,
    DeviceOut,
    DevicesOut,
    OverviewOut,
    OverviewQuery,
    Point,
    RangeQuery,
    Ranked,
    SeriesColumns,
    SeriesOut,
    SiteHealthOut,
    Total,
    TotalsOut,
)
from cloud.analytics.hq_acks import acknowledge_at_hq
from cloud.appkeys import DB
from cloud.auth import require_permission, require_principal
from cloud.config import format_validation_error
from cloud.db.models import Site
from cloud.openapi import documented
from cloud.permissions import requires
from cloud.responses import api_error, error_response, invalid_request, json_model
from cloud.siteconfig import NOTIFIER
from cloud.tenancy import Principal, SiteNotFound, TenantScope
from webguard.params import parse_id

BASE = "/api/v1/analytics"
TRAFFIC_METRICS = ("occupancy.", "traffic.", "crossings.")
TRAFFIC_SCOPES = ("zone", "camera", "area", "line")
DETECTION_METRICS = ("objects.", "dwell.")
SENSOR_METRICS = ("sensor.",)
ACCESS_METRICS = ("access.",)
# Spreadsheet programs run a cell starting with these as a formula: exported text gets a leading quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def parse_range(request: web.Request) -> RangeQuery:
    """The request's range query, or raise 400 `bad_query`."""
    try:
        return RangeQuery.model_validate(dict(request.query))
    except ValidationError as err:
        raise api_error(web.HTTPBadRequest, "bad_query", format_validation_error(err, root="(query)")) from err


async def _site(session: AsyncSession, principal: Principal, site_id: str | None) -> Site | None:
    if site_id is None:
        return None
    try:
        return await TenantScope(session, principal).site(site_id)
    except SiteNotFound as err:
        raise api_error(web.HTTPNotFound, "not_found", "no such site") from err


def _scope(query: RangeQuery, allowed: Sequence[str]) -> str:
    scope = query.scope or allowed[0]
    if scope not in allowed:
        raise api_error(web.HTTPBadRequest, "bad_query", f"scope must be one of {', '.join(allowed)}")
    return scope


def _cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_response(rows: Sequence[BaseModel], model: type[BaseModel], name: str) -> web.Response:
    """Answer rows as a CSV download (a header row of the model's fields; formulas defused)."""
    out = io.StringIO()
    writer = csv.writer(out)
    fields = list(model.model_fields)
    writer.writerow(fields)
    for row in rows:
        data = row.model_dump(mode="json")
        writer.writerow([_cell("" if data[f] is None else data[f]) for f in fields])
    response = web.Response(text=out.getvalue(), content_type="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


def _table(query: RangeQuery, tables: Sequence[str]) -> str:
    table = query.table or tables[0]
    if table not in tables:
        raise api_error(web.HTTPBadRequest, "bad_query", f"table must be one of {', '.join(tables)}")
    return table


async def _series(request: web.Request, scopes: Sequence[str], metrics: Sequence[str]) -> tuple[RangeQuery, SeriesOut]:
    principal = require_principal(request)
    query = parse_range(request)
    scope = _scope(query, scopes)
    async with queries.reading(request.app[DB]) as session:
        win = queries.window(query, await _site(session, principal, query.site))
        return query, await queries.series(session, principal, win, query.granularity, scope, metrics)


@requires("analytics.read")
@documented(SeriesOut, query=RangeQuery, csv=True)
async def handle_traffic(request: web.Request) -> web.Response:
    """GET /api/v1/analytics/traffic: occupancy (the cameras' counts) and traffic in/out over time."""
    query, series = await _series(request, TRAFFIC_SCOPES, TRAFFIC_METRICS)
    if query.format == "csv":
        return csv_response(series.points, Point, "traffic")
    return json_model(series)


@requires("analytics.read")
@documented(SeriesColumns, query=RangeQuery)
async def handle_traffic_columns(request: web.Request) -> web.Response:
    """GET /api/v1/analytics/traffic/columns?site=: one site's occupancy and traffic as columns (long ranges)."""
    principal = require_principal(request)
    query = parse_range(request)
    scope = _scope(query, TRAFFIC_SCOPES)
    if query.site is None:
        raise api_error(web.HTTPBadRequest, "bad_query", "columns need one site (site=...)")
    async with queries.reading(request.app[DB]) as session:
        site = await _site(session, principal, query.site)
        assert site is not None
        win = queries.window(query, site)
        out = await queries.series_columns(session, principal, win, site, query.granularity, scope, TRAFFIC_METRICS)
    return json_model(out)


async def _totals(request: web.Request, scopes: Sequence[str], metrics: Sequence[str], name: str) -> web.Response:
    principal = require_principal(request)
    query = parse_range(request)
    scope = _scope(query, scopes)
    table = _table(query, ("series", "totals"))
    async with queries.reading(request.app[DB]) as session:
        win = queries.window(query, await _site(session, principal, query.site))
        series = await queries.series(session, principal, win, query.granularity, scope, metrics)
        totals = await queries.totals(session, principal, win, scope, metrics)
    if query.format == "csv":
        if table == "totals":
            return csv_response(totals, Total, f"{name}-totals")
        return csv_response(series.points, Point, name)
    return json_model(TotalsOut(series=series, totals=totals))


@requires("analytics.read")
@documented(TotalsOut, query=RangeQuery, csv=True)
async def handle_detections(request: web.Request) -> web.Response:
    """GET /api/v1/analytics/detections: objects seen and dwell per class, per camera or zone."""
    return await _totals(request, ("camera", "zone"), DETECTION_METRICS, "detections")


@requires("analytics.read")
@documented(TotalsOut, query=RangeQuery, csv=True)
async def handle_sensors(request: web.Request) -> web.Response:
    """GET /api/v1/analytics/sensors: sensor readings (mean, min, max) per device over time."""
    return await _totals(request, ("device",), SENSOR_METRICS, "sensors")


async def _top_denied(
    db: async_sessionmaker[AsyncSession], principal: Principal, win: queries.Window
) -> tuple[list[Ranked], list[Ranked]]:
    async with queries.reading(db) as session:
        return await queries.top_denied(session, principal, win)


@requires("analytics.read")
@documented(AccessStatsOut, query=RangeQuery, csv=True)
async def handle_access(request: web.Request) -> web.Response:
    """GET /api/v1/analytics/access: grants and denials per door and hour/day, top denied credentials and doors."""
    principal = require_principal(request)
    query = parse_range(request)
    table = _table(query, ("series", "credentials", "doors"))
    async with queries.reading(request.app[DB]) as session:
        win = queries.window(query, await _site(session, principal, query.site))
        # Two independent aggregates over the same tenant-wide rows: on two connections PostgreSQL runs them
        # side by side (the read takes the longer of the two, not their sum).
        series, (credentials, doors) = await asyncio.gather(
            queries.series(session, principal, win, query.granularity, "door", ACCESS_METRICS),
            _top_denied(request.app[DB], principal, win),
        )
    if query.format == "csv":
        if table == "series":
            return csv_response(series.points, Point, "access")
        return csv_response(credentials if table == "credentials" else doors, Ranked, f"denied-{table}")
    return json_model(AccessStatsOut(series=series, top_denied_credentials=credentials, top_denied_doors=doors))


@requires("alarms.read")
@documented(AlarmsOut, query=RangeQuery, csv=True)
async def handle_alarms(request: web.Request) -> web.Response:
    """GET /api/v1/analytics/alarms: open alarms across sites and the mean time to acknowledge."""
    principal = require_principal(request)
    query = parse_range(request)
    async with queries.reading(request.app[DB]) as session:
        win = queries.window(query, await _site(session, principal, query.site))
        out = await queries.alarms(session, principal, win)
    if query.format == "csv":
        return csv_response(out.open, AlarmOut, "open-alarms")
    return json_model(out)


@requires("alarms.write")
@documented(AlarmOut, request=AcknowledgeRequest)
async def handle_acknowledge(request: web.Request) -> web.Response:
    """POST /api/v1/analytics/alarms/{site_id}/{alarm_id}/acknowledge: acknowledge an alarm at HQ."""
    principal = require_permission(request, "alarms.write")
    raw = await request.read()
    try:
        AcknowledgeRequest.model_validate_json(raw or b"{}")
    except ValidationError as err:
        return invalid_request(err)
    alarm_id = parse_id(request.match_info["alarm_id"])
    if alarm_id is None:
        return error_response(404, "not_found", "no such alarm")
    async with request.app[DB].begin() as session:
        await _site(session, principal, request.match_info["site_id"])
        out = await acknowledge_at_hq(session, principal, request.match_info["site_id"], alarm_id)
    if out is None:
        return error_response(404, "not_found", "no such alarm")
    request.app[NOTIFIER].notify([out.site_id])  # committed: a waiting pull of the box answers now
    return json_model(out)


@requires("analytics.read")
@documented(DevicesOut, query=RangeQuery, csv=True)
async def handle_devices(request: web.Request) -> web.Response:
    """GET /api/v1/analytics/devices: device health (offline now, battery low, last seen)."""
    principal = require_principal(request)
    query = parse_range(request)
    async with queries.reading(request.app[DB]) as session:
        out = await queries.devices(session, principal, await _site(session, principal, query.site))
    if query.format == "csv":
        return csv_response(out.devices, DeviceOut, "devices")
    return json_model(out)


def parse_overview(request: web.Request) -> OverviewQuery:
    """The overview's filter/sort/page, or raise 400 `bad_query`."""
    try:
        return OverviewQuery.model_validate(dict(request.query))
    except ValidationError as err:
        raise api_error(web.HTTPBadRequest, "bad_query", format_validation_error(err, root="(query)")) from err


@requires("analytics.read")
@documented(OverviewOut, query=OverviewQuery, csv=True)
async def handle_overview(request: web.Request) -> web.Response:
    """GET /api/v1/analytics/overview: every site's health at a glance, filtered, sorted and paged."""
    principal = require_principal(request)
    query = parse_overview(request)
    async with queries.reading(request.app[DB]) as session:
        out = await queries.overview(session, principal, query)
    if query.format == "csv":
        return csv_response(out.sites, SiteHealthOut, "sites")
    return json_model(out)


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the analytics API."""
    router.add_get(f"{BASE}/overview", handle_overview)
    router.add_get(f"{BASE}/traffic", handle_traffic)
    router.add_get(f"{BASE}/traffic/columns", handle_traffic_columns)
    router.add_get(f"{BASE}/access", handle_access)
    router.add_get(f"{BASE}/alarms", handle_alarms)
    router.add_post(f"{BASE}/alarms/{{site_id}}/{{alarm_id}}/acknowledge", handle_acknowledge)
    router.add_get(f"{BASE}/devices", handle_devices)
    router.add_get(f"{BASE}/sensors", handle_sensors)
    router.add_get(f"{BASE}/detections", handle_detections)
