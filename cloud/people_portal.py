"""Portal pages of the HQ-managed configuration: people and badges, site policies, conflicts.

Forms post with the session's CSRF token (checked by the session middleware); edits need a tenant admin and
go through `cloud.people` like the JSON API, so they bump the same site versions and wake the same pulls.
"""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDictProxy
from pydantic import ValidationError

from cloud import people
from cloud.api import site_summaries
from cloud.appkeys import DB
from cloud.auth import require_principal
from cloud.config import format_validation_error
from cloud.db.models import ConfigConflict
from cloud.people_api import POLICY_KEY, Edit, conflict_out, run_edit
from cloud.people_models import BadgeIn, PersonFields, PersonIn
from cloud.permissions import requires
from cloud.portal import PORTAL_PATH
from cloud.siteconfig import stored_version
from cloud.tenancy import SiteNotFound, TenantScope, tenant_conflicts

POLICY_LABELS = [
    ("access_level", "Access levels"),
    ("schedule", "Schedules"),
    ("holiday", "Holiday calendars"),
    ("door", "Door policies"),
]


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


async def _sites(request: web.Request) -> list[Any]:
    async with request.app[DB]() as session:
        return list(await site_summaries(TenantScope(session, require_principal(request))))


def _person_fields(form: MultiDictProxy[Any], model: type[PersonFields]) -> PersonFields:
    data: dict[str, Any] = {
        "name": str(form.get("name", "")),
        "levels": [lv.strip() for lv in str(form.get("levels", "")).split(",") if lv.strip()],
        "sites": [str(s) for s in form.getall("sites", [])],
    }
    if model is PersonIn:
        badge = str(form.get("badge", "")).strip()
        data["badges"] = [{"number": badge}] if badge else []
    else:
        data["active"] = form.get("active") == "1"
        data["role"] = str(form.get("role", "")).strip() or None
    return model.model_validate(data)


async def _render_people(request: web.Request, form_error: str = "", status: int = 200) -> web.Response:
    principal = require_principal(request)
    sites = await _sites(request)
    async with request.app[DB]() as session:
        views = await people.list_people(session, principal.tenant_id)
    context = {
        "principal": principal,
        "people": [v.out() for v in views],
        "sites": sites,
        "site_names": {s.id: s.name for s in sites},
        "form_error": form_error,
    }
    return aiohttp_jinja2.render_template("people.html", request, context, status=status)


@requires("people.read")
async def handle_people_page(request: web.Request) -> web.Response:
    """GET /portal/people: the tenant's people and badges; the add form for admins."""
    return await _render_people(request)


async def _edit_or_error(request: web.Request, edit: Edit) -> str:
    response = await run_edit(request, edit)
    if response is None:
        return ""
    detail = json.loads(response.text or "{}").get("detail", "")
    return str(detail) or "not found"


@requires("people.write")
async def handle_create_person_form(request: web.Request) -> web.Response:
    """POST /portal/people: add a person (optionally with one badge)."""
    form = await request.post()
    try:
        body = _person_fields(form, PersonIn)
    except ValidationError as err:
        return await _render_people(request, format_validation_error(err, root="(form)"), status=400)
    assert isinstance(body, PersonIn)
    created: list[str] = []

    async def edit(session: Any, tenant_id: str) -> set[str]:
        person, bumped = await people.create_person(session, tenant_id, body)
        created.append(person.id)
        return bumped

    if error := await _edit_or_error(request, edit):
        return await _render_people(request, error, status=400)
    return _see_other(f"{PORTAL_PATH}/people/{created[0]}")


async def _render_person(request: web.Request, form_error: str = "", status: int = 200) -> web.Response:
    principal = require_principal(request)
    person_id = request.match_info["person_id"]
    async with request.app[DB]() as session:
        try:
            person = await people.find_person(session, principal.tenant_id, person_id)
        except people.PersonNotFound as err:
            raise web.HTTPNotFound(text="No such person.") from err
        out = (await people.view(session, person)).out()
    context = {"principal": principal, "person": out, "sites": await _sites(request), "form_error": form_error}
    return aiohttp_jinja2.render_template("person.html", request, context, status=status)


@requires("people.read")
async def handle_person_page(request: web.Request) -> web.Response:
    """GET /portal/people/{person_id}: badges, the edit form, revoke and remove buttons."""
    return await _render_person(request)


@requires("people.write")
async def handle_update_person_form(request: web.Request) -> web.Response:
    """POST /portal/people/{person_id}: save the edit form."""
    form = await request.post()
    person_id = request.match_info["person_id"]
    try:
        body = _person_fields(form, PersonFields)
    except ValidationError as err:
        return await _render_person(request, format_validation_error(err, root="(form)"), status=400)
    if error := await _edit_or_error(request, lambda s, t: people.update_person(s, t, person_id, body)):
        return await _render_person(request, error, status=400)
    return _see_other(f"{PORTAL_PATH}/people/{person_id}")


@requires("people.write")
async def handle_add_badge_form(request: web.Request) -> web.Response:
    """POST /portal/people/{person_id}/badges: add a badge."""
    form = await request.post()
    person_id = request.match_info["person_id"]
    try:
        body = BadgeIn.model_validate({"number": str(form.get("number", "")).strip()})
    except ValidationError as err:
        return await _render_person(request, format_validation_error(err, root="(form)"), status=400)
    if error := await _edit_or_error(request, lambda s, t: people.add_badge(s, t, person_id, body)):
        return await _render_person(request, error, status=400)
    return _see_other(f"{PORTAL_PATH}/people/{person_id}")


@requires("people.write")
async def handle_revoke_badge_form(request: web.Request) -> web.Response:
    """POST /portal/people/{person_id}/badges/{number}/revoke."""
    person_id, number = request.match_info["person_id"], request.match_info["number"]
    if error := await _edit_or_error(request, lambda s, t: people.revoke_badge(s, t, person_id, number)):
        return await _render_person(request, error, status=404)
    return _see_other(f"{PORTAL_PATH}/people/{person_id}")


@requires("people.write")
async def handle_remove_person_form(request: web.Request) -> web.Response:
    """POST /portal/people/{person_id}/remove: remove from every site."""
    person_id = request.match_info["person_id"]
    if error := await _edit_or_error(request, lambda s, t: people.remove_person(s, t, person_id)):
        return await _render_person(request, error, status=404)
    return _see_other(f"{PORTAL_PATH}/people")


async def _render_policy(
    request: web.Request, form_error: str = "", draft: dict[str, str] | None = None, status: int = 200
) -> web.Response:
    principal = require_principal(request)
    site_id = request.match_info["site_id"]
    async with request.app[DB]() as session:
        try:
            site = await TenantScope(session, principal).site(site_id)
            policies = await people.site_policies(session, principal.tenant_id, site_id)
        except SiteNotFound as err:
            raise web.HTTPNotFound(text="No such site.") from err
        version = await stored_version(session, site_id)
    context = {
        "principal": principal,
        "site": site,
        "version": version,
        "policies": policies,
        "kinds": POLICY_LABELS,
        "form_error": form_error,
        "draft": draft or {"kind": "access_level", "key": "", "body": ""},
    }
    return aiohttp_jinja2.render_template("policy.html", request, context, status=status)


@requires("people.read")
async def handle_policy_page(request: web.Request) -> web.Response:
    """GET /portal/sites/{site_id}/policy: a site's levels, schedules, holidays and door policies."""
    return await _render_policy(request)


@requires("people.write")
async def handle_put_policy_form(request: web.Request) -> web.Response:
    """POST /portal/sites/{site_id}/policy: add or replace one object from its JSON."""
    form = await request.post()
    site_id = request.match_info["site_id"]
    draft = {k: str(form.get(k, "")) for k in ("kind", "key", "body")}
    model = people.POLICY_MODELS.get(draft["kind"])
    key = draft["key"].strip()
    if model is None or not re.fullmatch(POLICY_KEY, key):
        return await _render_policy(request, "Choose a kind and an id (letters, digits, _ . : -).", draft, 400)
    try:
        body = model.model_validate_json(draft["body"])
    except ValidationError as err:
        return await _render_policy(request, format_validation_error(err, root="(json)"), draft, 400)
    kind = draft["kind"]
    if error := await _edit_or_error(request, lambda s, t: people.put_policy(s, t, site_id, kind, key, body)):
        return await _render_policy(request, error, draft, 400)
    return _see_other(f"{PORTAL_PATH}/sites/{site_id}/policy")


@requires("people.write")
async def handle_delete_policy_form(request: web.Request) -> web.Response:
    """POST /portal/sites/{site_id}/policy/{kind}/{key}/delete."""
    site_id, kind, key = (request.match_info[k] for k in ("site_id", "kind", "key"))
    if error := await _edit_or_error(request, lambda s, t: people.delete_policy(s, t, site_id, kind, key)):
        return await _render_policy(request, error, status=404)
    return _see_other(f"{PORTAL_PATH}/sites/{site_id}/policy")


@requires("people.read")
async def handle_conflicts_page(request: web.Request) -> web.Response:
    """GET /portal/conflicts: people edited on both sides and how each was resolved, newest first."""
    principal = require_principal(request)
    sites = await _sites(request)
    async with request.app[DB]() as session:
        rows = await session.scalars(
            tenant_conflicts(principal.tenant_id).order_by(ConfigConflict.id.desc()).limit(500)
        )
        conflicts = [conflict_out(c) for c in rows]
    context = {"principal": principal, "conflicts": conflicts, "site_names": {s.id: s.name for s in sites}}
    return aiohttp_jinja2.render_template("conflicts.html", request, context)


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the people, policy and conflict pages."""
    base = PORTAL_PATH
    router.add_get(f"{base}/people", handle_people_page)
    router.add_post(f"{base}/people", handle_create_person_form)
    router.add_get(f"{base}/people/{{person_id}}", handle_person_page)
    router.add_post(f"{base}/people/{{person_id}}", handle_update_person_form)
    router.add_post(f"{base}/people/{{person_id}}/badges", handle_add_badge_form)
    router.add_post(f"{base}/people/{{person_id}}/badges/{{number}}/revoke", handle_revoke_badge_form)
    router.add_post(f"{base}/people/{{person_id}}/remove", handle_remove_person_form)
    router.add_get(f"{base}/sites/{{site_id}}/policy", handle_policy_page)
    router.add_post(f"{base}/sites/{{site_id}}/policy", handle_put_policy_form)
    router.add_post(f"{base}/sites/{{site_id}}/policy/{{kind}}/{{key}}/delete", handle_delete_policy_form)
    router.add_get(f"{base}/conflicts", handle_conflicts_page)
