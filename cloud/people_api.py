"""JSON API of the HQ-managed site configuration: people, badges, site policies, conflicts.

Reads need a session; edits need a tenant admin and the CSRF header (the session middleware checks it).
Every edit bumps the affected sites' versions and wakes their long-polls once it committed.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from cloud import people
from cloud.appkeys import DB
from cloud.auth import require_permission, require_principal
from cloud.db.models import ConfigConflict
from cloud.people_models import (
    BadgeIn,
    ConflictList,
    ConflictOut,
    PersonFields,
    PersonIn,
    PersonList,
    PolicyList,
)
from cloud.permissions import requires
from cloud.responses import error_response, invalid_request, json_model
from cloud.siteconfig import NOTIFIER, stored_version
from cloud.tenancy import SiteNotFound, TenantScope, tenant_conflicts

# Door ids come from the box's config; every policy id is a short slug-like token.
POLICY_KEY = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}"

M = TypeVar("M", bound=BaseModel)
Edit = Callable[[AsyncSession, str], Awaitable[set[str]]]


class OutsideSiteLimit(Exception):
    """The edit affects a site the user is not limited to."""


async def run_edit(request: web.Request, edit: Edit) -> web.Response | None:
    """Run an admin's edit in one transaction, wake the affected sites; an error response, or None when done.

    A user limited to some sites may only make edits that affect none but those (the edit is rolled back).
    """
    principal = require_permission(request, "people.write")
    try:
        async with request.app[DB].begin() as session:
            bumped = await edit(session, principal.tenant_id)
            if principal.site_ids is not None and not bumped <= principal.site_ids:
                raise OutsideSiteLimit()
    except OutsideSiteLimit:
        return error_response(404, "not_found", "this edit affects sites you do not have")
    except SiteNotFound as err:
        return error_response(404, "not_found", f"no such site: {err}")
    except people.PersonNotFound:
        return error_response(404, "not_found", "no such person")
    except people.BadgeNotFound:
        return error_response(404, "not_found", "no such badge")
    except people.TooManyBadges as err:
        return error_response(409, "too_many_badges", str(err))
    except LookupError:
        return error_response(404, "not_found", "no such policy")
    request.app[NOTIFIER].notify(bumped)
    return None


async def _person_response(request: web.Request, person_id: str, status: int = 200) -> web.Response:
    principal = require_principal(request)
    async with request.app[DB]() as session:
        try:
            person = await people.find_person(session, principal.tenant_id, person_id)
        except people.PersonNotFound:
            return error_response(404, "not_found", "no such person")
        return json_model((await people.view(session, person)).out(), status=status)


@requires("people.read")
async def handle_people(request: web.Request) -> web.Response:
    """GET /api/v1/people[?removed=1]: the tenant's people with their sites and badges."""
    principal = require_principal(request)
    async with request.app[DB]() as session:
        views = await people.list_people(session, principal.tenant_id, request.query.get("removed") == "1")
    return json_model(PersonList(people=[v.out() for v in views]))


@requires("people.read")
async def handle_person(request: web.Request) -> web.Response:
    """GET /api/v1/people/{person_id}."""
    return await _person_response(request, request.match_info["person_id"])


async def _body(request: web.Request, model: type[M]) -> M | web.Response:  # noqa: UP047
    try:
        return model.model_validate_json(await request.read())
    except ValidationError as err:
        return invalid_request(err)


@requires("people.write")
async def handle_create_person(request: web.Request) -> web.Response:
    """POST /api/v1/people: add a person (with badges) to sites."""
    require_permission(request, "people.write")
    body = await _body(request, PersonIn)
    if isinstance(body, web.Response):
        return body
    created: list[str] = []

    async def edit(session: AsyncSession, tenant_id: str) -> set[str]:
        person, bumped = await people.create_person(session, tenant_id, body)
        created.append(person.id)
        return bumped

    if (error := await run_edit(request, edit)) is not None:
        return error
    return await _person_response(request, created[0], status=201)


@requires("people.write")
async def handle_update_person(request: web.Request) -> web.Response:
    """PUT /api/v1/people/{person_id}: replace a person's fields and sites."""
    require_permission(request, "people.write")
    body = await _body(request, PersonFields)
    if isinstance(body, web.Response):
        return body
    person_id = request.match_info["person_id"]
    error = await run_edit(request, lambda s, t: people.update_person(s, t, person_id, body))
    return error or await _person_response(request, person_id)


@requires("people.write")
async def handle_remove_person(request: web.Request) -> web.Response:
    """DELETE /api/v1/people/{person_id}: remove a person from every site."""
    person_id = request.match_info["person_id"]
    error = await run_edit(request, lambda s, t: people.remove_person(s, t, person_id))
    return error or await _person_response(request, person_id)


@requires("people.write")
async def handle_add_badge(request: web.Request) -> web.Response:
    """POST /api/v1/people/{person_id}/badges: give a person a badge."""
    require_permission(request, "people.write")
    body = await _body(request, BadgeIn)
    if isinstance(body, web.Response):
        return body
    person_id = request.match_info["person_id"]
    error = await run_edit(request, lambda s, t: people.add_badge(s, t, person_id, body))
    return error or await _person_response(request, person_id, status=201)


@requires("people.write")
async def handle_revoke_badge(request: web.Request) -> web.Response:
    """POST /api/v1/people/{person_id}/badges/{number}/revoke: revoke a badge at every site."""
    person_id = request.match_info["person_id"]
    number = request.match_info["number"]
    error = await run_edit(request, lambda s, t: people.revoke_badge(s, t, person_id, number))
    return error or await _person_response(request, person_id)


@requires("people.read")
async def handle_site_policy(request: web.Request) -> web.Response:
    """GET /api/v1/sites/{site_id}/policy: the site's levels, schedules, holidays and door policies."""
    principal = require_principal(request)
    site_id = request.match_info["site_id"]
    async with request.app[DB]() as session:
        try:
            await TenantScope(session, principal).site(site_id)  # also a user's site limit
            policies = await people.site_policies(session, principal.tenant_id, site_id)
        except SiteNotFound:
            return error_response(404, "not_found", "no such site")
        version = await stored_version(session, site_id)
    return json_model(
        PolicyList(
            site_id=site_id,
            version=version,
            access_levels=policies["access_level"],
            schedules=policies["schedule"],
            holidays=policies["holiday"],
            doors=policies["door"],
        )
    )


def _policy_target(request: web.Request) -> tuple[str, str, str] | web.Response:
    kind = people.POLICY_PATHS.get(request.match_info["kind"])
    if kind is None:
        return error_response(404, "not_found", f"policy kinds: {', '.join(people.POLICY_PATHS)}")
    key = request.match_info["key"]
    if not re.fullmatch(POLICY_KEY, key):
        return error_response(400, "bad_key", "the id must be 1-64 characters: letters, digits, _ . : and -")
    return request.match_info["site_id"], kind, key


@requires("people.write")
async def handle_put_policy(request: web.Request) -> web.Response:
    """PUT /api/v1/sites/{site_id}/policy/{kind}/{key}: create or replace a level, schedule, holiday or door."""
    require_permission(request, "people.write")
    target = _policy_target(request)
    if isinstance(target, web.Response):
        return target
    site_id, kind, key = target
    body = await _body(request, people.POLICY_MODELS[kind])
    if isinstance(body, web.Response):
        return body
    error = await run_edit(request, lambda s, t: people.put_policy(s, t, site_id, kind, key, body))
    return error or await handle_site_policy(request)


@requires("people.write")
async def handle_delete_policy(request: web.Request) -> web.Response:
    """DELETE /api/v1/sites/{site_id}/policy/{kind}/{key}."""
    target = _policy_target(request)
    if isinstance(target, web.Response):
        return target
    site_id, kind, key = target
    error = await run_edit(request, lambda s, t: people.delete_policy(s, t, site_id, kind, key))
    return error or await handle_site_policy(request)


def conflict_out(conflict: ConfigConflict) -> ConflictOut:
    """Convert a stored conflict to its API model."""
    return ConflictOut.model_validate(conflict, from_attributes=True)


@requires("people.read")
async def handle_conflicts(request: web.Request) -> web.Response:
    """GET /api/v1/conflicts: people edited on both sides, how each was resolved, newest first."""
    principal = require_principal(request)
    async with request.app[DB]() as session:
        rows = await session.scalars(
            tenant_conflicts(principal.tenant_id).order_by(ConfigConflict.id.desc()).limit(1000)
        )
        return json_model(ConflictList(conflicts=[conflict_out(c) for c in rows]))


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the people, policy and conflict API."""
    router.add_get("/api/v1/people", handle_people)
    router.add_post("/api/v1/people", handle_create_person)
    router.add_get("/api/v1/people/{person_id}", handle_person)
    router.add_put("/api/v1/people/{person_id}", handle_update_person)
    router.add_delete("/api/v1/people/{person_id}", handle_remove_person)
    router.add_post("/api/v1/people/{person_id}/badges", handle_add_badge)
    router.add_post("/api/v1/people/{person_id}/badges/{number}/revoke", handle_revoke_badge)
    router.add_get("/api/v1/sites/{site_id}/policy", handle_site_policy)
    router.add_put("/api/v1/sites/{site_id}/policy/{kind}/{key}", handle_put_policy)
    router.add_delete("/api/v1/sites/{site_id}/policy/{kind}/{key}", handle_delete_policy)
    router.add_get("/api/v1/conflicts", handle_conflicts)
