"""The HR JSON API: people's HR fields, weekly shifts, entry/exit doors, and the attendance day grid (+ CSV).

Reads need `hr.read`, edits `hr.write` (cloud/permissions.py; the `hr` role has both). Sites are checked through
the tenant scope, so a user limited to some sites edits and sees only those.
"""

from __future__ import annotations

from datetime import date

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import select

from cloud import people
from cloud.analytics.api import csv_response
from cloud.api_inputs import BadBody, body_of, check_site, key_of
from cloud.appkeys import DB
from cloud.auth import require_principal
from cloud.config import format_validation_error
from cloud.hr import attendance, timeline
from cloud.hr.api_models import (
    AttendanceDayOut,
    AttendanceQuery,
    CorrectionIn,
    CorrectionOut,
    DoorIn,
    DoorList,
    DoorOut,
    ProfileIn,
    ProfileOut,
    ShiftIn,
    ShiftList,
    ShiftOut,
    TimelineOut,
    TimelineQuery,
)
from cloud.hr.csv_rows import AttendanceRow, TimelineRow, rows_of, timeline_rows_of
from cloud.hr.models import HrDoor, HrProfile, HrShift
from cloud.openapi import documented
from cloud.permissions import requires
from cloud.responses import api_error, error_response, json_model

BASE = "/api/v1/hr"


def _profile_out(person_id: str, row: HrProfile | None) -> ProfileOut:
    fields = ProfileIn.model_fields
    values = {name: getattr(row, name) for name in fields} if row else {}
    return ProfileOut(person_id=person_id, **values)


@requires("hr.read")
@documented(ProfileOut)
async def handle_get_profile(request: web.Request) -> web.Response:
    """GET /api/v1/hr/people/{person_id}: the person's HR fields."""
    principal = require_principal(request)
    person_id = key_of(request, "person_id")
    async with request.app[DB]() as session:
        try:
            await people.find_person(session, principal.tenant_id, person_id)
        except people.PersonNotFound:
            return error_response(404, "not_found", "no such person")
        row = await session.get(HrProfile, (principal.tenant_id, person_id))
        return json_model(_profile_out(person_id, row))


@requires("hr.write")
@documented(ProfileOut, request=ProfileIn)
async def handle_put_profile(request: web.Request) -> web.Response:
    """PUT /api/v1/hr/people/{person_id}: set the person's department, job title, employment dates, home site
    and weekly shift."""
    principal = require_principal(request)
    person_id = key_of(request, "person_id")
    try:
        body = await body_of(request, ProfileIn)
    except BadBody as bad:
        return bad.response
    async with request.app[DB].begin() as session:
        try:
            await people.find_person(session, principal.tenant_id, person_id)
        except people.PersonNotFound:
            return error_response(404, "not_found", "no such person")
        await check_site(session, principal, body.home_site_id)
        if body.shift_id is not None and await session.get(HrShift, (principal.tenant_id, body.shift_id)) is None:
            return error_response(404, "not_found", f"no such shift: {body.shift_id}")
        row = await session.get(HrProfile, (principal.tenant_id, person_id))
        if row is None:
            row = HrProfile(tenant_id=principal.tenant_id, person_id=person_id)
            session.add(row)
        for name, value in body.model_dump().items():
            setattr(row, name, value)
    return json_model(ProfileOut(person_id=person_id, **body.model_dump()))


def _shift_out(row: HrShift) -> ShiftOut:
    return ShiftOut(
        id=row.id,
        name=row.name,
        site_id=row.site_id,
        start=row.start,
        end=row.end,
        weekdays=list(row.weekdays),
        grace_minutes=row.grace_minutes,
    )


@requires("hr.read")
@documented(ShiftList)
async def handle_shifts(request: web.Request) -> web.Response:
    """GET /api/v1/hr/shifts: the tenant's weekly shifts."""
    principal = require_principal(request)
    async with request.app[DB]() as session:
        rows = await session.scalars(
            select(HrShift).where(HrShift.tenant_id == principal.tenant_id).order_by(HrShift.id)
        )
        return json_model(ShiftList(shifts=[_shift_out(r) for r in rows]))


@requires("hr.write")
@documented(ShiftOut, request=ShiftIn)
async def handle_put_shift(request: web.Request) -> web.Response:
    """PUT /api/v1/hr/shifts/{shift_id}: create or replace a weekly shift (site local times)."""
    principal = require_principal(request)
    shift_id = key_of(request, "shift_id")
    try:
        body = await body_of(request, ShiftIn)
    except BadBody as bad:
        return bad.response
    async with request.app[DB].begin() as session:
        await check_site(session, principal, body.site_id)
        row = await session.get(HrShift, (principal.tenant_id, shift_id))
        if row is None:
            row = HrShift(tenant_id=principal.tenant_id, id=shift_id)
            session.add(row)
        for name, value in body.model_dump().items():
            setattr(row, name, value)
        row.weekdays = sorted(body.weekdays)
        return json_model(_shift_out(row))


@requires("hr.read")
@documented(DoorList)
async def handle_doors(request: web.Request) -> web.Response:
    """GET /api/v1/hr/doors: the doors marked entry (`in`) or exit (`out`) for attendance."""
    principal = require_principal(request)
    async with request.app[DB]() as session:
        rows = await session.scalars(
            select(HrDoor).where(HrDoor.tenant_id == principal.tenant_id).order_by(HrDoor.site_id, HrDoor.door_id)
        )
        visible = [r for r in rows if principal.site_ids is None or r.site_id in principal.site_ids]
        return json_model(
            DoorList(
                doors=[
                    DoorOut.model_validate({"site_id": r.site_id, "door_id": r.door_id, "direction": r.direction})
                    for r in visible
                ]
            )
        )


@requires("hr.write")
@documented(DoorOut, request=DoorIn)
async def handle_put_door(request: web.Request) -> web.Response:
    """PUT /api/v1/hr/sites/{site_id}/doors/{door_id}: mark a door as an entry (`in`) or exit (`out`) door."""
    principal = require_principal(request)
    site_id, door_id = key_of(request, "site_id"), key_of(request, "door_id")
    try:
        body = await body_of(request, DoorIn)
    except BadBody as bad:
        return bad.response
    async with request.app[DB].begin() as session:
        await check_site(session, principal, site_id)
        row = await session.get(HrDoor, (principal.tenant_id, site_id, door_id))
        if row is None:
            row = HrDoor(tenant_id=principal.tenant_id, site_id=site_id, door_id=door_id)
            session.add(row)
        row.direction = body.direction
    return json_model(DoorOut(site_id=site_id, door_id=door_id, direction=body.direction))


@requires("hr.write")
@documented(CorrectionOut, request=CorrectionIn)
async def handle_put_correction(request: web.Request) -> web.Response:
    """PUT /api/v1/hr/people/{person_id}/days/{day}: HR sets the minutes a day counts, with a reason (audited);
    the badge events stay untouched."""
    principal = require_principal(request)
    person_id = key_of(request, "person_id")
    try:
        day = date.fromisoformat(request.match_info["day"])
    except ValueError:
        return error_response(404, "not_found", "no such day (YYYY-MM-DD)")
    try:
        body = await body_of(request, CorrectionIn)
    except BadBody as bad:
        return bad.response
    async with request.app[DB].begin() as session:
        try:
            await people.find_person(session, principal.tenant_id, person_id)
        except people.PersonNotFound:
            return error_response(404, "not_found", "no such person")
        out, before = await attendance.correct(session, principal, person_id, day, body)
    attendance.describe_correction(request, person_id, day, body, before)
    return json_model(out)


def parse_attendance_query(request: web.Request) -> AttendanceQuery:
    """The attendance query (`day`, optional `site`), or raise 400 `bad_query`."""
    query = {k: v for k, v in request.query.items() if k != "format"}
    try:
        return AttendanceQuery.model_validate(query)
    except ValidationError as err:
        raise api_error(web.HTTPBadRequest, "bad_query", format_validation_error(err, root="(query)")) from err


@requires("hr.read")
@documented(AttendanceDayOut, query=AttendanceQuery, csv=True)
async def handle_attendance(request: web.Request) -> web.Response:
    """GET /api/v1/hr/attendance?day=YYYY-MM-DD[&site=][&format=csv]: everyone's attendance that day."""
    principal = require_principal(request)
    query = parse_attendance_query(request)
    async with request.app[DB]() as session:
        await check_site(session, principal, query.site)
        days = await attendance.attendance(session, principal, query.day, query.site)
    if request.query.get("format") == "csv":
        return csv_response(rows_of(days), AttendanceRow, f"attendance-{query.day.isoformat()}")
    return json_model(AttendanceDayOut(day=query.day, people=days))


@requires("hr.read")
@documented(TimelineOut, query=TimelineQuery, csv=True)
async def handle_timeline(request: web.Request) -> web.Response:
    """GET /api/v1/hr/people/{person_id}/timeline[?start=YYYY-MM-DD][&end=YYYY-MM-DD][&format=csv]: the person's
    attendance day by day (default: the 14 days to today; at most 62 days)."""
    principal = require_principal(request)
    person_id = key_of(request, "person_id")
    try:
        query = timeline.parse_query({k: v for k, v in request.query.items() if k != "format"})
    except ValidationError as err:
        return error_response(400, "bad_query", format_validation_error(err, root="(query)"))
    async with request.app[DB]() as session:
        found = await timeline.person_timeline(session, principal, person_id, query)
    if found is None:
        return error_response(404, "not_found", "no such person at your sites")
    out = found[0]
    if request.query.get("format") == "csv":
        name = f"timeline-{person_id}-{query.start.isoformat()}-{query.end.isoformat()}"
        return csv_response(timeline_rows_of(out.days), TimelineRow, name)
    return json_model(out)


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the HR API."""
    router.add_get(f"{BASE}/attendance", handle_attendance)
    router.add_get(f"{BASE}/people/{{person_id}}", handle_get_profile)
    router.add_put(f"{BASE}/people/{{person_id}}", handle_put_profile)
    router.add_put(f"{BASE}/people/{{person_id}}/days/{{day}}", handle_put_correction)
    router.add_get(f"{BASE}/people/{{person_id}}/timeline", handle_timeline)
    router.add_get(f"{BASE}/shifts", handle_shifts)
    router.add_put(f"{BASE}/shifts/{{shift_id}}", handle_put_shift)
    router.add_get(f"{BASE}/doors", handle_doors)
    router.add_put(f"{BASE}/sites/{{site_id}}/doors/{{door_id}}", handle_put_door)
