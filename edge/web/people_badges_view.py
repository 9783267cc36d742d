"""Console badge pages: add or revoke a person's badge, enrol a badge by tapping it at a reader, visitor badges.

Enrolment by tap: the admin picks a reader; the access path binds the next unknown card read there within the
chosen seconds (`edge.access.enrolment`). The person page then shows "tap the card now" and waits on
``GET /people/{id}/enrolment?wait=1`` (answers when the enrolment settles or its window ends; static/people.js
reloads the page).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from aiohttp import web
from pydantic import ValidationError

from edge import keys
from edge.access.credentials import CredentialFormatError, CredentialInUse, UnknownCredential, UnknownPerson
from edge.access.people import UnknownLevel
from edge.access.people_overview import VISITOR_ROLE
from edge.web.auth import SESSION
from edge.web.people_forms import BadgeIn, EnrolIn, RevokeIn, VisitorIn, error_text, form_errors, localise
from edge.web.people_view import form_values, load_person, people_page, person_page, readers, site_tz

ENROL_WAIT_MAX_S = 25.0  # one long-poll answer at most this late (the page asks again while still waiting)


async def add_badge(request: web.Request) -> web.StreamResponse:
    """Give the person a badge typed in (optional validity); audited, queued for HQ."""
    person = await load_person(request)
    data = await request.post()
    try:
        form = BadgeIn.model_validate(form_values(data, ("number", "valid_from", "valid_until")))
    except ValidationError as err:
        return await person_page(request, errors={"badge": [error_text(err)]}, status=400)
    tz = site_tz(request)
    try:
        stored = await request.app[keys.PEOPLE].add_credential(
            person.id,
            form.number,
            request[SESSION].username,
            valid_from=localise(form.valid_from, tz),
            valid_until=localise(form.valid_until, tz),
        )
    except CredentialInUse as err:
        return await person_page(request, errors={"badge": [str(err)]}, status=409)
    except CredentialFormatError as err:
        return await person_page(request, errors={"badge": [str(err)]}, status=422)
    except UnknownPerson as err:
        raise web.HTTPNotFound(text="No such person.") from err
    raise web.HTTPSeeOther(f"/people/{person.id}?done=badge+{stored}+added")


async def revoke_badge(request: web.Request) -> web.StreamResponse:
    """Revoke one of the person's badges (kept, no longer honoured; HQ is told and the revoke wins)."""
    person = await load_person(request)
    data = await request.post()
    try:
        form = RevokeIn.model_validate(form_values(data, ("number",)))
    except ValidationError as err:
        return await person_page(request, errors={"badge": [error_text(err)]}, status=400)
    try:
        await request.app[keys.PEOPLE].revoke_credential(
            person.id, form.number, request[SESSION].username, origin="console"
        )
    except (UnknownCredential, CredentialFormatError, UnknownPerson):
        return await person_page(request, errors={"badge": ["This person has no such badge."]}, status=404)
    raise web.HTTPSeeOther(f"/people/{person.id}?done=badge+revoked")


async def arm_enrolment(request: web.Request) -> web.StreamResponse:
    """Arm a reader: the next unknown card read there within the chosen seconds becomes this person's badge."""
    person = await load_person(request)
    data = await request.post()
    try:
        form = EnrolIn.model_validate({k: v for k, v in form_values(data, ("reader", "seconds")).items() if v})
    except ValidationError as err:
        return await person_page(request, errors={"enrol": [error_text(err)]}, status=400)
    if form.reader not in dict(readers(request)):
        return await person_page(request, errors={"enrol": ["No such reader."]}, status=422)
    by = request[SESSION].username
    request.app[keys.ACCESS].enrolments.arm(form.reader, person.id, by, form.seconds)
    await request.app[keys.JOURNAL].record(
        "audit",
        {
            "type": "enrolment_armed",
            "person_id": person.id,
            "reader_id": form.reader,
            "seconds": form.seconds,
            "by": by,
        },
        source=f"console:{by}",
        summary=f"{by} waits for a card at {form.reader} for {person.name} ({form.seconds} s)",
    )
    raise web.HTTPSeeOther(f"/people/{person.id}#enrol")


async def cancel_enrolment(request: web.Request) -> web.StreamResponse:
    """Stop waiting for the person's card."""
    person = await load_person(request)
    request.app[keys.ACCESS].enrolments.cancel(person.id)
    raise web.HTTPSeeOther(f"/people/{person.id}?done=enrolment+cancelled")


async def enrolment_status(request: web.Request) -> web.Response:
    """The person's latest enrolment as JSON; with ``?wait=1`` answer once it settles (or after a while)."""
    person = await load_person(request)
    desk = request.app[keys.ACCESS].enrolments
    enrolment = desk.of_person(person.id)
    if enrolment is None:
        return web.json_response({"state": "none"})
    if request.query.get("wait") == "1" and enrolment.state == "waiting":
        left = (enrolment.expires_at - datetime.now(UTC)).total_seconds()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(enrolment.done.wait(), max(0.0, min(left, ENROL_WAIT_MAX_S)) + 0.05)
        enrolment = desk.of_person(person.id) or enrolment
    return web.json_response(enrolment.as_json())


async def add_visitor(request: web.Request) -> web.StreamResponse:
    """Enrol a visitor: a person with the visitor role whose badge stops working after the given hours."""
    data = await request.post()
    values = form_values(data, ("name", "badge", "hours", "host"))
    levels = [str(v) for v in data.getall("levels", [])]
    try:
        form = VisitorIn.model_validate({**values, "levels": levels})
    except ValidationError as err:
        errors = {f"visitor_{k}": v for k, v in form_errors(err).items()}
        return await people_page(
            request, errors=errors, values={f"visitor_{k}": v for k, v in values.items()}, status=400
        )
    now = datetime.now(UTC)
    until = form.until(now)
    name = f"{form.name} (visiting {form.host})" if form.host else form.name
    try:
        person_id = await request.app[keys.PEOPLE].add_person(
            name[:120],
            [form.badge],
            request[SESSION].username,
            person_valid=(now, until),
            levels=form.levels,
            role=VISITOR_ROLE,
            origin="console",
        )
    except (CredentialInUse, CredentialFormatError, UnknownLevel) as err:
        return await people_page(
            request,
            errors={"visitor_form": [str(err)]},
            values={f"visitor_{k}": v for k, v in values.items()},
            status=409,
        )
    raise web.HTTPSeeOther(f"/people/{person_id}?done=visitor+added")


def add_routes(app: web.Application) -> None:
    """Register the badge routes (changes for admins: edge.web.roles)."""
    app.router.add_post(r"/people/{person_id:\d+}/badges", add_badge)
    app.router.add_post(r"/people/{person_id:\d+}/badges/revoke", revoke_badge)
    app.router.add_post(r"/people/{person_id:\d+}/enrol", arm_enrolment)
    app.router.add_post(r"/people/{person_id:\d+}/enrol/cancel", cancel_enrolment)
    app.router.add_get(r"/people/{person_id:\d+}/enrolment", enrolment_status)
    app.router.add_post("/people/visitors", add_visitor)
