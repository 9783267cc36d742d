"""Console people pages: list with search, add a person, the person page and its edit form (edge.web.roles: reads
for every console user, changes for admins). Badges, enrolment by tap and visitors: edge.web.people_badges_view;
CSV import: edge.web.people_import_view. Every change goes through `PeopleAdmin` (audited, queued for HQ).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from pydantic import ValidationError

from edge import keys
from edge.access.credentials import CredentialFormatError, CredentialInUse, UnknownPerson
from edge.access.people import DuressPinConflict, UnknownLevel
from edge.access.people_overview import VISITOR_ROLE, PersonRow, find_people
from edge.web.auth import CSRF_FIELD, SESSION
from edge.web.people_forms import PersonEditIn, PersonRowIn, form_errors, localise
from webguard.params import parse_id


def site_tz(request: web.Request) -> ZoneInfo:
    """The site's time zone (forms and pages show site time)."""
    return ZoneInfo(request.app[keys.CONFIG].site.timezone)


def local_text(value: datetime | None, tz: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """`value` in site time, or '' for None."""
    return value.astimezone(tz).strftime(fmt) if value is not None else ""


def readers(request: web.Request) -> list[tuple[str, str]]:
    """(device id, label) of every badge reader, labelled with its door where it has one."""
    config = request.app[keys.CONFIG]
    doors = {r.device: d.name for d in config.doors for r in d.readers}
    return [
        (d.id, f"{d.name or d.id}" + (f" ({doors[d.id]})" if d.id in doors else ""))
        for d in config.devices
        if d.kind == "reader"
    ]


def base_context(request: web.Request) -> dict[str, Any]:
    """What every people page needs: site, session, CSRF token, time helpers."""
    tz = site_tz(request)
    return {
        "site": request.app[keys.CONFIG].site,
        "session": request[SESSION],
        CSRF_FIELD: request[SESSION].csrf_token,
        "timezone": tz.key,
        "now": datetime.now(UTC),
        "when": lambda value: local_text(value, tz),
        "levels": sorted(request.app[keys.PEOPLE].levels),
        "visitor_role": VISITOR_ROLE,
    }


def form_values(data: Any, names: tuple[str, ...]) -> dict[str, str]:
    """The named text fields of a posted form ('' when absent)."""
    return {name: str(data.get(name, "")) for name in names}


async def people_page(
    request: web.Request,
    *,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    """The people list (search by name or badge) with the add-person and visitor forms."""
    search = request.query.get("q", "")[:120]
    found = await find_people(request.app[keys.DATABASE], search)
    context = {
        **base_context(request),
        "people": found,
        "search": search,
        "errors": errors or {},
        "open_form": "visitor" if any(k.startswith("visitor_") for k in errors or {}) else "person" if errors else "",
        "values": values or {},
        "notice": request.query.get("done", "")[:200],
        "readers": readers(request),
    }
    return aiohttp_jinja2.render_template("people.html", request, context, status=status)


async def list_people(request: web.Request) -> web.Response:
    """GET /people."""
    return await people_page(request)


_ADD_FIELDS = ("name", "badges", "levels", "valid_from", "valid_until", "role", "pin")


async def add_person(request: web.Request) -> web.StreamResponse:
    """Add a person with badges, levels, validity, role and PIN (audited)."""
    data = await request.post()
    values = form_values(data, _ADD_FIELDS)
    values["levels"] = ";".join(str(v) for v in data.getall("levels", []))
    try:
        form = PersonRowIn.model_validate(values)
    except ValidationError as err:
        return await people_page(request, errors=form_errors(err), values=values, status=400)
    tz = site_tz(request)
    try:
        person_id = await request.app[keys.PEOPLE].add_person(
            form.name,
            form.badges,
            request[SESSION].username,
            person_valid=(localise(form.valid_from, tz), localise(form.valid_until, tz)),
            levels=form.levels,
            role=form.role,
            pin=form.pin,
            origin="console",
        )
    except (UnknownLevel, CredentialFormatError, DuressPinConflict) as err:
        return await people_page(request, errors={"form": [str(err)]}, values=values, status=422)
    except CredentialInUse as err:
        return await people_page(request, errors={"badges": [str(err)]}, values=values, status=409)
    raise web.HTTPSeeOther(f"/people/{person_id}?done=added")


async def load_person(request: web.Request) -> PersonRow:
    """The person named by the URL, or a 404."""
    person_id = parse_id(request.match_info["person_id"])
    found = [] if person_id is None else await find_people(request.app[keys.DATABASE], person_id=person_id)
    if not found:
        raise web.HTTPNotFound(text="No such person.")
    return found[0]


async def person_page(
    request: web.Request, *, errors: dict[str, list[str]] | None = None, status: int = 200
) -> web.Response:
    """One person: status, HQ/local marks, the edit form, badges, enrolment by tap."""
    person = await load_person(request)
    desk = request.app[keys.ACCESS].enrolments
    enrolment = desk.of_person(person.id)
    if enrolment is not None and enrolment.state != "waiting":
        desk.forget(person.id)  # the outcome is shown once, not on every later visit
    tz = site_tz(request)
    context = {
        **base_context(request),
        "person": person,
        "errors": errors or {},
        "notice": request.query.get("done", "")[:200],
        "readers": readers(request),
        "enrolment": enrolment,
        "input_time": lambda value: local_text(value, tz, "%Y-%m-%dT%H:%M"),
    }
    return aiohttp_jinja2.render_template("person.html", request, context, status=status)


async def show_person(request: web.Request) -> web.Response:
    """GET /people/{id}."""
    return await person_page(request)


async def edit_person(request: web.Request) -> web.StreamResponse:
    """Save the person form: name, active, levels, role, validity, PIN (audited; only what changed is sent on)."""
    person = await load_person(request)
    data = await request.post()
    values: dict[str, Any] = form_values(data, ("name", "valid_from", "valid_until", "role", "pin"))
    values["levels"] = [str(v) for v in data.getall("levels", [])]
    values["active"] = data.get("active") == "on"
    values["clear_pin"] = data.get("clear_pin") == "on"
    try:
        form = PersonEditIn.model_validate(values)
    except ValidationError as err:
        return await person_page(request, errors=form_errors(err), status=400)
    tz = site_tz(request)
    wanted: dict[str, Any] = {
        "name": form.name,
        "active": form.active,
        "levels": sorted(set(form.levels)),
        "role": form.role,
        "valid_from": localise(form.valid_from, tz),
        "valid_until": localise(form.valid_until, tz),
    }
    current: dict[str, Any] = {
        "name": person.name,
        "active": person.active,
        "levels": sorted(person.levels),
        "role": person.role,
        "valid_from": person.valid_from,
        "valid_until": person.valid_until,
    }
    fields = {k: v for k, v in wanted.items() if v != current[k]}
    if form.pin is not None:
        fields["pin"] = form.pin
    elif form.clear_pin and person.has_pin:
        fields["pin"] = None
    if not fields:
        raise web.HTTPSeeOther(f"/people/{person.id}?done=nothing+changed")
    try:
        await request.app[keys.PEOPLE].update_person(person.id, fields, request[SESSION].username, origin="console")
    except UnknownPerson as err:
        raise web.HTTPNotFound(text="No such person.") from err
    except (UnknownLevel, DuressPinConflict) as err:
        return await person_page(request, errors={"form": [str(err)]}, status=422)
    raise web.HTTPSeeOther(f"/people/{person.id}?done=saved")


def add_routes(app: web.Application) -> None:
    """Register the people pages (reads for everyone logged in, changes for admins: edge.web.roles)."""
    app.router.add_get("/people", list_people)
    app.router.add_post("/people", add_person)
    app.router.add_get(r"/people/{person_id:\d+}", show_person)
    app.router.add_post(r"/people/{person_id:\d+}", edit_person)
