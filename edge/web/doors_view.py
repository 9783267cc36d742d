"""Console pages of doors and schedules: door settings, weekly schedules as a week grid, holiday calendars.

Everyone logged in sees them; a guard opens and locks doors from them (the JSON door commands); only an admin
saves settings (edge.web.roles: every POST here is admin-only). What HQ manages for the site is shown as such and
not editable (edge.access.policy_edits). Errors go back next to the field they belong to (422).
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge import keys
from edge.access.policy_edits import DOOR_FIELDS, ManagedByHq, PolicyEditRefused, PolicyView, UnknownObject
from edge.config import DoorConfig
from edge.web.auth import CSRF_FIELD, SESSION
from edge.web.week_grid import DAY_NAMES, DAYS, HOLIDAY_ROW, Row, bars_of, parse_grid, rows_of, schedule_of, with_blanks
from sync.policy import SLUG, DoorPolicy, HolidayCalendar, Schedule

_CHECKS = ("first_person_in", "require_pin", "two_person")
RESERVED_IDS = frozenset({"new", "save"})  # /schedules/<these> and /holidays/<these> are console pages


class DoorSettingsForm(BaseModel):
    """The door settings form as typed (checkboxes: 'on' when ticked)."""

    model_config = ConfigDict(extra="ignore")  # the CSRF token comes along

    schedule: str = Field(default="always", max_length=64, description="Schedule when badges are honoured")
    unlock_schedule: str = Field(default="", max_length=64, description="Schedule holding the door unlocked")
    unlock_s: str = Field(default="", max_length=12, description="Unlock time, seconds")
    held_open_s: str = Field(default="", max_length=12, description="Held-open alarm after, seconds")
    first_person_in: str = Field(default="", max_length=4, description="Checkbox")
    require_pin: str = Field(default="", max_length=4, description="Checkbox")
    two_person: str = Field(default="", max_length=4, description="Checkbox")


class ScheduleIdForm(BaseModel):
    """The id of a schedule or holiday calendar being saved."""

    model_config = ConfigDict(extra="ignore")

    object_id: str = Field(pattern=SLUG, description="Id: lower-case letters, digits, - and _")


async def _page(request: web.Request, **context: Any) -> dict[str, Any]:
    return {
        "site": request.app[keys.CONFIG].site,
        "session": request[SESSION],
        CSRF_FIELD: request[SESSION].csrf_token,
        **context,
    }


def _door(view: PolicyView, door_id: str) -> DoorConfig:
    for door in view.effective.doors:
        if door.id == door_id:
            return door
    raise web.HTTPNotFound(text="no such door")


def _summary(door: DoorConfig) -> list[str]:
    facts = [f"unlocks {door.unlock_s:g} s", f"held-open alarm after {door.held_open_s:g} s"]
    facts.append("badges always" if door.schedule == "always" else f"badges during {door.schedule}")
    if door.unlock_schedule:
        first = " after the first badge" if door.first_person_in else ""
        facts.append(f"held unlocked during {door.unlock_schedule}{first}")
    if door.require_pin:
        facts.append("card and PIN")
    if door.two_person:
        facts.append("two-person rule")
    return facts


@aiohttp_jinja2.template("doors.html")
async def doors_page(request: web.Request) -> dict[str, Any]:
    """Doors (state, mode, settings, unlock/lock), schedules as week bars, holiday calendars."""
    view = await request.app[keys.POLICY].view()
    state = request.app[keys.SITE_STATE]
    zones = {z.id: z for z in view.effective.zones}
    doors = [
        {"config": d, "state": state.doors[d.id], "facts": _summary(d), "passback": zones[d.zone].passback}
        for d in view.effective.doors
        if d.id in state.doors
    ]
    schedules = [
        {"id": sid, "source": view.schedule_source(sid), "bars": bars_of(s), "holidays": s.holidays}
        for sid, s in sorted(view.effective.schedules.items())
    ]
    calendars = [
        {"id": cid, "name": c.name, "source": view.holidays_source(cid), "count": len(c.dates) + len(c.annual)}
        for cid, c in sorted(view.effective.holidays.items())
    ]
    return await _page(
        request,
        doors=doors,
        schedules=schedules,
        calendars=calendars,
        day_names=DAY_NAMES,
        days=DAYS,
        hq_version=view.hq_version if view.hq is not None else None,
        notice=request.query.get("saved"),
    )


# --- door settings -------------------------------------------------------------------------------------------


async def _door_editor(
    request: web.Request,
    view: PolicyView,
    door: DoorConfig,
    values: dict[str, Any],
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> web.StreamResponse:
    zone = next(z for z in view.effective.zones if z.id == door.zone)
    context = await _page(
        request,
        door=door,
        values=values,
        errors=errors or {},
        hq_fields=view.hq_door_fields.get(door.id, set()),
        hq_version=view.hq_version,
        schedules=sorted(view.effective.schedules),
        passback=zone.passback,
        zone_name=zone.name,
        mode=request.app[keys.SITE_STATE].doors[door.id].mode if door.id in request.app[keys.SITE_STATE].doors else "",
    )
    return aiohttp_jinja2.render_template("door_settings.html", request, context, status=status)


def _door_values(door: DoorConfig) -> dict[str, Any]:
    return {
        "schedule": door.schedule,
        "unlock_schedule": door.unlock_schedule or "",
        "unlock_s": f"{door.unlock_s:g}",
        "held_open_s": f"{door.held_open_s:g}",
        **{name: "on" if getattr(door, name) else "" for name in _CHECKS},
    }


async def door_settings_page(request: web.Request) -> web.StreamResponse:
    """One door's settings (a form for admins, read-only for the others)."""
    view = await request.app[keys.POLICY].view()
    door = _door(view, request.match_info["door_id"])
    return await _door_editor(request, view, door, _door_values(door))


def _door_field(message: str) -> str:
    """The form field an error message is about (else the whole form)."""
    for name in DOOR_FIELDS:
        if name in message:
            return name
    return "form"


async def save_door_settings(request: web.Request) -> web.StreamResponse:
    """Save a door's settings (the fields HQ does not set); audited; applied at once."""
    editor = request.app[keys.POLICY]
    view = await editor.view()
    door = _door(view, request.match_info["door_id"])
    data = await request.post()
    try:
        form = DoorSettingsForm.model_validate({k: str(v) for k, v in data.items()})
    except ValidationError as err:
        raise web.HTTPBadRequest(text=f"malformed form: {err.error_count()} field(s) too long") from err
    values = form.model_dump()
    hq_fields = view.hq_door_fields.get(door.id, set())
    box = next(d for d in view.box.doors if d.id == door.id)
    errors: dict[str, list[str]] = {}
    if not form.unlock_schedule and box.unlock_schedule and "unlock_schedule" not in hq_fields:
        errors["unlock_schedule"] = ["the box's config file sets an unlock schedule; it cannot be cleared here"]
    typed: dict[str, Any] = {
        "schedule": form.schedule or "always",
        "unlock_schedule": form.unlock_schedule or None,
        "unlock_s": form.unlock_s.strip() or None,
        "held_open_s": form.held_open_s.strip() or None,
        **{name: getattr(form, name) == "on" for name in _CHECKS},
    }
    # Only what differs from the box's config file is stored; what HQ sets is not the console's to store.
    changes = {k: v for k, v in typed.items() if k not in hq_fields and v is not None}
    policy: DoorPolicy | None = None
    try:
        policy = DoorPolicy.model_validate(changes)
    except ValidationError as err:
        for problem in err.errors(include_url=False, include_context=False, include_input=False):
            field = str(problem["loc"][0]) if problem["loc"] else "form"
            errors.setdefault(field, []).append(str(problem["msg"]))
    if policy is not None and not errors:
        kept = {k: v for k, v in policy.model_dump(exclude_none=True).items() if getattr(box, k) != v}
        try:
            await editor.set_door(door.id, DoorPolicy.model_validate(kept), request[SESSION].username)
        except UnknownObject as err:
            raise web.HTTPNotFound(text="no such door") from err
        except ManagedByHq as err:
            errors.setdefault("form", []).append(str(err))
        except PolicyEditRefused as err:
            errors.setdefault(_door_field(str(err)), []).append(str(err).removeprefix("Value error, "))
        else:
            raise web.HTTPSeeOther(f"/doors?saved=door+{door.id}")
    return await _door_editor(request, view, door, values, errors, 422)


# --- schedules -----------------------------------------------------------------------------------------------


async def _schedule_editor(
    request: web.Request,
    view: PolicyView,
    schedule_id: str,
    grid: dict[str, list[Row]],
    holidays: list[str],
    *,
    errors: dict[str, str] | None = None,
    form_error: str = "",
    status: int = 200,
) -> web.StreamResponse:
    exists = schedule_id in view.effective.schedules
    used_by = [d.name for d in view.effective.doors if schedule_id in (d.schedule, d.unlock_schedule)]
    context = await _page(
        request,
        schedule_id=schedule_id,
        is_new=not exists,
        source=view.schedule_source(schedule_id) if exists else "console",
        managed=view.schedule_managed(schedule_id),
        removable=schedule_id in view.local.schedules and schedule_id not in view.box.schedules,
        hq_version=view.hq_version,
        grid=with_blanks(grid),
        days=(*DAYS, HOLIDAY_ROW),
        day_names={**DAY_NAMES, HOLIDAY_ROW: "On holidays"},
        calendars=sorted(view.effective.holidays),
        holidays=holidays,
        used_by=used_by,
        errors=errors or {},
        form_error=form_error,
    )
    return aiohttp_jinja2.render_template("schedule_edit.html", request, context, status=status)


async def schedule_page(request: web.Request) -> web.StreamResponse:
    """A schedule as a week grid: per day, rows of time ranges (new: /schedules/new)."""
    view = await request.app[keys.POLICY].view()
    schedule_id = request.match_info["schedule_id"]
    if schedule_id == "new":
        return await _schedule_editor(request, view, "", rows_of(Schedule()), [])
    schedule = view.effective.schedules.get(schedule_id)
    if schedule is None:
        raise web.HTTPNotFound(text="no such schedule")
    return await _schedule_editor(request, view, schedule_id, rows_of(schedule), list(schedule.holidays))


async def save_schedule(request: web.Request) -> web.StreamResponse:
    """Save the week grid (audited; applied at once: badges, door modes, rules)."""
    editor = request.app[keys.POLICY]
    view = await editor.view()
    data = await request.post()
    if len(data) > 1000 or any(len(str(v)) > 200 for v in data.values()):
        raise web.HTTPBadRequest(text="malformed form")
    form = {k: str(v) for k, v in data.items() if k != "holidays"}
    holidays = sorted({str(v) for v in data.getall("holidays", [])})
    object_id = form.get("object_id", "").strip()
    grid, ranges, errors = parse_grid(form)
    form_error = ""
    try:
        ScheduleIdForm.model_validate({"object_id": object_id})
    except ValidationError:
        errors["object_id"] = "an id of lower-case letters, digits, - and _ (e.g. office-hours)"
    if object_id in RESERVED_IDS:
        errors["object_id"] = f"{object_id!r} names a console page: pick another id"
    if form.get("is_new") == "1" and object_id in view.effective.schedules:
        errors["object_id"] = f"a schedule {object_id!r} exists already: pick another id"
    unknown = [c for c in holidays if c not in view.effective.holidays]
    if unknown:
        errors["holidays"] = f"unknown holiday calendar(s): {', '.join(unknown)}"
    if not errors:
        try:
            await editor.set_schedule(object_id, schedule_of(ranges, holidays), request[SESSION].username)
        except PolicyEditRefused as err:
            form_error = str(err)
        else:
            raise web.HTTPSeeOther(f"/doors?saved=schedule+{object_id}#schedules")
    return await _schedule_editor(
        request, view, object_id, grid, holidays, errors=errors, form_error=form_error, status=422
    )


async def remove_schedule(request: web.Request) -> web.StreamResponse:
    """Remove a schedule added in the console (refused while something uses it)."""
    editor = request.app[keys.POLICY]
    schedule_id = request.match_info["schedule_id"]
    try:
        await editor.remove_schedule(schedule_id, request[SESSION].username)
    except UnknownObject as err:
        raise web.HTTPNotFound(text="no such schedule added in the console") from err
    except PolicyEditRefused as err:
        view = await editor.view()
        schedule = view.effective.schedules.get(schedule_id, Schedule())
        grid = rows_of(schedule)
        return await _schedule_editor(
            request, view, schedule_id, grid, list(schedule.holidays), form_error=str(err), status=409
        )
    raise web.HTTPSeeOther(f"/doors?saved=removed+schedule+{schedule_id}#schedules")


# --- holiday calendars -----------------------------------------------------------------------------------------


async def _holidays_editor(
    request: web.Request,
    view: PolicyView,
    calendar_id: str,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.StreamResponse:
    exists = calendar_id in view.effective.holidays
    context = await _page(
        request,
        calendar_id=calendar_id,
        is_new=not exists,
        source=view.holidays_source(calendar_id) if exists else "console",
        managed=view.holidays_managed(calendar_id),
        hq_version=view.hq_version,
        values=values,
        errors=errors or {},
    )
    return aiohttp_jinja2.render_template("holidays_edit.html", request, context, status=status)


async def holidays_page(request: web.Request) -> web.StreamResponse:
    """A holiday calendar: name, dates and annual dates, one a line (new: /holidays/new)."""
    view = await request.app[keys.POLICY].view()
    calendar_id = request.match_info["calendar_id"]
    if calendar_id == "new":
        return await _holidays_editor(request, view, "", {"name": "", "dates": "", "annual": ""})
    calendar = view.effective.holidays.get(calendar_id)
    if calendar is None:
        raise web.HTTPNotFound(text="no such holiday calendar")
    values = {
        "name": calendar.name,
        "dates": "\n".join(d.isoformat() for d in calendar.dates),
        "annual": "\n".join(calendar.annual),
    }
    return await _holidays_editor(request, view, calendar_id, values)


async def save_holidays(request: web.Request) -> web.StreamResponse:
    """Save a holiday calendar (audited; applied at once)."""
    editor = request.app[keys.POLICY]
    view = await editor.view()
    data = await request.post()
    values = {k: str(data.get(k, "")) for k in ("object_id", "name", "dates", "annual", "is_new")}
    if any(len(v) > 20_000 for v in values.values()):
        raise web.HTTPBadRequest(text="malformed form")
    object_id = values["object_id"].strip()
    errors: dict[str, str] = {}
    try:
        ScheduleIdForm.model_validate({"object_id": object_id})
    except ValidationError:
        errors["object_id"] = "an id of lower-case letters, digits, - and _ (e.g. public-2027)"
    if object_id in RESERVED_IDS:
        errors["object_id"] = f"{object_id!r} names a console page: pick another id"
    if values["is_new"] == "1" and object_id in view.effective.holidays:
        errors["object_id"] = f"a holiday calendar {object_id!r} exists already: pick another id"
    body = {
        "name": values["name"].strip(),
        "dates": [line.strip() for line in values["dates"].splitlines() if line.strip()],
        "annual": [line.strip() for line in values["annual"].splitlines() if line.strip()],
    }
    calendar: HolidayCalendar | None = None
    try:
        calendar = HolidayCalendar.model_validate(body)
    except ValidationError as err:
        for problem in err.errors(include_url=False, include_context=False, include_input=False):
            loc = problem["loc"]
            field = str(loc[0]) if loc else "form"
            line = f"line {int(loc[1]) + 1}: " if len(loc) > 1 and isinstance(loc[1], int) else ""
            errors.setdefault(field, f"{line}{str(problem['msg']).removeprefix('Value error, ')}")
    if calendar is not None and not errors:
        try:
            await editor.set_holidays(object_id, calendar, request[SESSION].username)
        except PolicyEditRefused as err:
            errors["form"] = str(err)
        else:
            raise web.HTTPSeeOther(f"/doors?saved=holidays+{object_id}#holidays")
    return await _holidays_editor(request, view, object_id, values, errors, 422)


def add_routes(app: web.Application) -> None:
    """Register the doors, schedules and holidays pages (POSTs are admin-only: edge.web.roles)."""
    app.router.add_get("/doors", doors_page)
    app.router.add_get("/doors/{door_id}/settings", door_settings_page)
    app.router.add_post("/doors/{door_id}/settings", save_door_settings)
    app.router.add_get("/schedules/{schedule_id}", schedule_page)
    app.router.add_post("/schedules/save", save_schedule)
    app.router.add_post("/schedules/{schedule_id}/remove", remove_schedule)
    app.router.add_get("/holidays/{calendar_id}", holidays_page)
    app.router.add_post("/holidays/save", save_holidays)
