"""Console pages and API of the site rules: list, editor (form and raw JSON), dry-run, history, failed notifications.

Validation errors are shown next to the field they belong to: pydantic's error locations and the site reference
check (`edge.rules.references`) both name a path whose first part is a form field.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge import keys
from edge.rules.dryrun import DryRunResult
from edge.rules.service import RuleRejected
from edge.web.auth import CSRF_FIELD, SESSION
from sync.rules import Rule

JSON_FIELDS = ("trigger", "conditions", "actions")
HISTORY_SHOWN = 50
RESERVED_IDS = frozenset({"new", "save", "dry-run"})  # /rules/<these> are console pages
HITS_SHOWN = 200
NEW_RULE: dict[str, Any] = {
    "id": "",
    "name": "",
    "enabled": True,
    "description": "",
    "trigger": {"type": "event", "filter": {"kind": "detection", "type": "zone_entered", "category": "person"}},
    "conditions": [{"type": "time_window", "start": "20:00", "end": "06:00"}],
    "actions": [{"type": "mqtt", "topic": "site/alerts", "payload": {"what": "{summary}"}}],
    "rate_limit": {"max_runs": 10, "per_s": 60},
    "catch_up_s": 900,
}


class RuleForm(BaseModel):
    """The editor's form: plain fields, and trigger/conditions/actions as JSON text."""

    model_config = ConfigDict(extra="ignore")  # the CSRF token and the submit button's name come along

    mode: str = Field(default="form", pattern="^(form|json)$", description="Which part of the editor was sent")
    original_id: str = Field(default="", max_length=64, description="The id being edited (empty: a new rule)")
    id: str = Field(default="", max_length=200, description="Rule id")
    name: str = Field(default="", max_length=500, description="Name")
    enabled: str = Field(default="", max_length=8, description="Checkbox: 'on' when ticked")
    description: str = Field(default="", max_length=4000, description="Description")
    trigger: str = Field(default="", max_length=20_000, description="Trigger as JSON")
    conditions: str = Field(default="[]", max_length=50_000, description="Conditions as JSON")
    actions: str = Field(default="[]", max_length=50_000, description="Actions as JSON")
    max_runs: str = Field(default="10", max_length=12, description="Rate limit: runs")
    per_s: str = Field(default="60", max_length=12, description="Rate limit: per seconds")
    catch_up_s: str = Field(default="900", max_length=12, description="Catch-up window in seconds")
    document: str = Field(default="", max_length=150_000, description="The whole rule as JSON (raw mode)")


def _fields_of(rule: dict[str, Any]) -> dict[str, str]:
    """Form field values of a rule document (dumped without the fields left unset, None)."""
    limit = rule.get("rate_limit") or {}
    return {
        "id": str(rule.get("id", "")),
        "name": str(rule.get("name", "")),
        "enabled": "on" if rule.get("enabled", True) else "",
        "description": str(rule.get("description", "")),
        "trigger": json.dumps(rule.get("trigger", {}), indent=2),
        "conditions": json.dumps(rule.get("conditions", []), indent=2),
        "actions": json.dumps(rule.get("actions", []), indent=2),
        "max_runs": str(limit.get("max_runs", 10)),
        "per_s": str(limit.get("per_s", 60)),
        "catch_up_s": str(rule.get("catch_up_s", 900)),
        "document": json.dumps(rule, indent=2),
    }


def _number(value: str) -> float | str:
    try:
        number = float(value)
    except ValueError:
        return value  # pydantic names the field and says it is not a number
    return int(number) if number.is_integer() else number


def _document_of(form: RuleForm, errors: dict[str, list[str]]) -> dict[str, Any] | None:
    """The rule document the form describes; JSON that does not parse is an error on its field."""
    if form.mode == "json":
        try:
            parsed = json.loads(form.document)
        except json.JSONDecodeError as err:
            errors.setdefault("document", []).append(f"not JSON: {err.msg} at line {err.lineno} column {err.colno}")
            return None
        if not isinstance(parsed, dict):
            errors.setdefault("document", []).append("must be a JSON object")
            return None
        return parsed
    doc: dict[str, Any] = {
        "id": form.id.strip(),
        "name": form.name.strip(),
        "enabled": form.enabled == "on",
        "description": form.description,
        "rate_limit": {"max_runs": _number(form.max_runs), "per_s": _number(form.per_s)},
        "catch_up_s": _number(form.catch_up_s),
    }
    for name in JSON_FIELDS:
        try:
            doc[name] = json.loads(getattr(form, name) or "null")
        except json.JSONDecodeError as err:
            errors.setdefault(name, []).append(f"not JSON: {err.msg} at line {err.lineno} column {err.colno}")
    return None if errors else doc


_FIELD_OF = {"max_runs": "max_runs", "per_s": "per_s"}


def field_errors(err: ValidationError, mode: str) -> dict[str, list[str]]:
    """Pydantic errors by form field (raw mode: all on the document), each with the path inside the field."""
    errors: dict[str, list[str]] = {}
    for problem in err.errors(include_url=False, include_context=False, include_input=False):
        loc = [str(part) for part in problem["loc"]]
        path = ".".join(loc)
        if mode == "json" or not loc:
            field, where = "document", path
        elif loc[0] == "rate_limit" and len(loc) > 1:
            field, where = loc[1], ""
        else:
            field, where = loc[0], path if len(loc) > 1 else ""
        errors.setdefault(field, []).append(f"{where}: {problem['msg']}" if where else problem["msg"])
    return errors


def reference_field_errors(rejected: RuleRejected, mode: str) -> dict[str, list[str]]:
    """Site reference errors (unknown door, channel, ...) by form field."""
    errors: dict[str, list[str]] = {}
    for path, reason in rejected.errors.items():
        head, _, rest = path.partition(".")
        field = "document" if mode == "json" else head
        errors.setdefault(field, []).append(f"{path}: {reason}" if rest or mode == "json" else reason)
    return errors


async def _page(request: web.Request, **context: Any) -> dict[str, Any]:
    return {
        "site": request.app[keys.CONFIG].site,
        "session": request[SESSION],
        CSRF_FIELD: request[SESSION].csrf_token,
        **context,
    }


def _hits(result: DryRunResult, rule_id: str | None = None) -> dict[str, Any]:
    hits = [h for h in result.hits if rule_id is None or h.rule_id == rule_id]
    return {
        "since": result.since,
        "until": result.until,
        "events": result.events,
        "truncated": result.truncated,
        "counts": result.counts(),
        "hits": hits[-HITS_SHOWN:][::-1],
        "total": len(hits),
    }


@aiohttp_jinja2.template("rules.html")
async def rules_page(request: web.Request) -> dict[str, Any]:
    """The rule list, with run counts, load errors and notification problems."""
    service = request.app[keys.RULES]
    return await _page(
        request,
        rules=await service.rules(),
        counts=await service.history.counts(),
        load_errors=service.load_errors,
        problems=await service.notifier.problems(),
        recent=await service.history.recent(limit=20),
        dry=None,
    )


async def dry_run_all(request: web.Request) -> web.StreamResponse:
    """Replay the last day through every enabled rule; show what would have fired."""
    service = request.app[keys.RULES]
    stored = await service.rules()
    result = await service.dry_run([s.rule for s in stored])
    context = await _page(
        request,
        rules=stored,
        counts=await service.history.counts(),
        load_errors=service.load_errors,
        problems=await service.notifier.problems(),
        recent=await service.history.recent(limit=20),
        dry=_hits(result),
    )
    return aiohttp_jinja2.render_template("rules.html", request, context)


async def _editor(
    request: web.Request,
    values: dict[str, str],
    *,
    original_id: str,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
    dry: dict[str, Any] | None = None,
    saved: bool = False,
) -> web.StreamResponse:
    service = request.app[keys.RULES]
    history = await service.history.recent(original_id, HISTORY_SHOWN) if original_id else []
    stored = await service.store.get(original_id) if original_id else None
    context = await _page(
        request,
        values=values,
        original_id=original_id,
        errors=errors or {},
        history=history,
        source=stored.source if stored else None,
        dry=dry,
        saved=saved,
        waiting=service.timers.due_at(original_id, "for") if original_id else None,
    )
    return aiohttp_jinja2.render_template("rule_edit.html", request, context, status=status)


async def new_rule(request: web.Request) -> web.StreamResponse:
    """An empty editor with an example rule."""
    return await _editor(request, _fields_of(NEW_RULE), original_id="")


async def edit_rule(request: web.Request) -> web.StreamResponse:
    """The editor of one rule, with its history."""
    stored = await request.app[keys.RULES].store.get(request.match_info["rule_id"])
    if stored is None:
        raise web.HTTPNotFound(text="no such rule")
    values = _fields_of(stored.rule.model_dump(mode="json", exclude_none=True))
    return await _editor(request, values, original_id=stored.rule.id, saved=request.query.get("saved") == "1")


async def submit_rule(request: web.Request) -> web.StreamResponse:
    """Save (or dry-run) the editor's form or raw JSON; errors go back next to their fields (422)."""
    data = await request.post()
    try:
        form = RuleForm.model_validate({k: str(v) for k, v in data.items()})
    except ValidationError as err:
        raise web.HTTPBadRequest(text=f"malformed form: {err.error_count()} field(s) too long or invalid") from err
    action = str(data.get("do", "save"))
    values = form.model_dump()
    errors: dict[str, list[str]] = {}
    doc = _document_of(form, errors)
    rule: Rule | None = None
    if doc is not None:
        try:
            rule = Rule.model_validate(doc)
        except ValidationError as err:
            errors = field_errors(err, form.mode)
    service = request.app[keys.RULES]
    if rule is not None and rule.id in RESERVED_IDS:
        errors = {"document" if form.mode == "json" else "id": [f"id: {rule.id!r} names a console page; pick another"]}
    elif rule is not None:
        try:
            service.check(rule)
        except RuleRejected as rejected:
            errors = reference_field_errors(rejected, form.mode)
    if rule is None or errors:
        return await _editor(request, values, original_id=form.original_id, errors=errors, status=422)
    values = _fields_of(rule.model_dump(mode="json", exclude_none=True))
    if action == "dry-run":
        result = await service.dry_run([rule])
        return await _editor(request, values, original_id=form.original_id, dry=_hits(result, rule.id))
    if form.original_id and form.original_id != rule.id:
        await service.delete(form.original_id)  # renamed
    await service.save(rule, by=request[SESSION].username)
    raise web.HTTPSeeOther(f"/rules/{rule.id}?saved=1")


async def delete_rule(request: web.Request) -> web.StreamResponse:
    """Remove a rule."""
    await request.app[keys.RULES].delete(request.match_info["rule_id"])
    raise web.HTTPSeeOther("/rules")


# --- JSON API ---------------------------------------------------------------------------------------------


def _invalid(detail: Any) -> web.Response:
    return web.json_response({"error": "invalid_rule", "detail": detail}, status=422)


async def api_list(request: web.Request) -> web.Response:
    """GET /api/v1/rules: every rule with its source."""
    stored = await request.app[keys.RULES].rules()
    return web.json_response(
        [{"source": s.source, "updated_by": s.updated_by, "rule": s.rule.model_dump(mode="json")} for s in stored]
    )


async def api_put(request: web.Request) -> web.Response:
    """PUT /api/v1/rules/{rule_id}: create or replace a rule (422 with the field paths when invalid)."""
    try:
        rule = Rule.model_validate_json(await request.read())
    except ValidationError as err:
        return _invalid(err.errors(include_url=False, include_context=False, include_input=False))
    if rule.id != request.match_info["rule_id"]:
        return _invalid([{"loc": ["id"], "msg": "must equal the id in the URL"}])
    try:
        await request.app[keys.RULES].save(rule, by=request[SESSION].username)
    except RuleRejected as rejected:
        return _invalid([{"loc": path.split("."), "msg": reason} for path, reason in rejected.errors.items()])
    return web.json_response(rule.model_dump(mode="json"))


async def api_delete(request: web.Request) -> web.Response:
    """DELETE /api/v1/rules/{rule_id}."""
    if not await request.app[keys.RULES].delete(request.match_info["rule_id"]):
        return web.json_response({"error": "not_found"}, status=404)
    return web.json_response({"deleted": True})


async def api_history(request: web.Request) -> web.Response:
    """GET /api/v1/rules/{rule_id}/history: the newest outcomes first."""
    runs = await request.app[keys.RULES].history.recent(request.match_info["rule_id"], HISTORY_SHOWN)
    return web.json_response(
        [
            {
                "at": r.at.isoformat(),
                "outcome": r.outcome,
                "trigger": r.trigger,
                "journal_id": r.journal_id,
                "detail": r.detail,
            }
            for r in runs
        ]
    )


def add_routes(app: web.Application) -> None:
    """Register the rules pages and API."""
    app.router.add_get("/rules", rules_page)
    app.router.add_post("/rules/dry-run", dry_run_all)
    app.router.add_get("/rules/new", new_rule)
    app.router.add_post("/rules/save", submit_rule)
    app.router.add_get("/rules/{rule_id}", edit_rule)
    app.router.add_post("/rules/{rule_id}/delete", delete_rule)
    app.router.add_get("/api/v1/rules", api_list)
    app.router.add_put("/api/v1/rules/{rule_id}", api_put)
    app.router.add_delete("/api/v1/rules/{rule_id}", api_delete)
    app.router.add_get("/api/v1/rules/{rule_id}/history", api_history)
