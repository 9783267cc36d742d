"""The console's view of cloud sync: backlog, oldest waiting record, last success and error, quarantine.

Sync is *stuck* when the last attempt failed and the oldest waiting record has waited longer than
`cloud.stuck_after_s`: the dashboard then shows a banner. Quarantined records (refused by the cloud or not
sendable) are listed with their reason; an operator can release them once the cause is fixed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge import keys
from edge.access.site_config import stored_policy
from sync.agent import CLOCK_SKEW_WARN_S
from sync.wire import MAX_SEQ

QUARANTINE_SHOWN = 20


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def sync_status(app: web.Application) -> dict[str, Any] | None:
    """Return the sync state as JSON, or None on an offline site (no cloud configured)."""
    agent = app[keys.SYNC]
    if agent is None:
        return None
    outbox = app[keys.OUTBOX]
    now = datetime.now(UTC)
    backlog = await outbox.backlog()
    oldest = await outbox.oldest_pending()
    age_s = max(0.0, (now - oldest).total_seconds()) if oldest else None
    stuck = agent.last_error is not None and age_s is not None and age_s > app[keys.CONFIG].cloud.stuck_after_s
    quarantined = await outbox.quarantined(QUARANTINE_SHOWN)
    return {
        "state": "stuck" if stuck else ("retrying" if agent.last_error else "ok"),
        "stuck": stuck,
        "backlog": backlog,
        "oldest_pending_at": _iso(oldest),
        "oldest_pending_age_s": age_s,
        "last_success": _iso(agent.last_success),
        "last_error": agent.last_error,
        "last_error_at": _iso(agent.last_error_at),
        "retry_at": _iso(agent.retry_at),
        "failures": agent.backoff.failures,
        # This box's clock minus the cloud's (from the cloud's Date header); the cloud refuses past 300 s.
        "clock_skew_s": agent.clock_skew_s,
        "clock_warning": agent.clock_skew_s is not None and abs(agent.clock_skew_s) > CLOCK_SKEW_WARN_S,
        "quarantined_count": await outbox.quarantine_count(),
        "quarantined": [
            {
                "seq": q.seq,
                "kind": q.kind,
                "occurred_at": q.occurred_at.isoformat(),
                "quarantined_at": q.quarantined_at.isoformat(),
                "error": q.error,
                "detail": q.detail,
                "summary": q.payload.get("summary", "") if isinstance(q.payload, dict) else "",
            }
            for q in quarantined
        ],
        "config": _config_pull(app),
        "plan": await _plan_limits(app),
        # Enrolled from a file and the cloud has accepted no batch yet (docs/SYNC.md, Offline enrollment).
        "enrollment_claim_pending": agent.claim_pending,
    }


async def _plan_limits(app: web.Application) -> dict[str, Any] | None:
    """The plan allowances per site from the last applied HQ document, beside what this box has configured."""
    _, policy = await stored_policy(app[keys.DATABASE])
    if policy is None or policy.limits is None:
        return None
    config = app[keys.CONFIG]
    limits = policy.limits
    have = {"cameras": len(config.cameras), "doors": len(config.doors), "devices": len(config.devices)}
    allowed = {"cameras": limits.cameras, "doors": limits.doors, "devices": limits.devices}
    return {
        "plan": limits.plan,
        "overage_policy": limits.overage_policy,
        "items": [
            {"item": k, "configured": have[k], "included": allowed[k], "over": have[k] > allowed[k]} for k in have
        ],
    }


def _config_pull(app: web.Application) -> dict[str, Any] | None:
    """The downlink: the HQ document version in force and the puller's last outcome (None: no puller)."""
    puller = app.get(keys.CONFIG_PULLER)
    if puller is None:
        return None
    return {
        "version": puller.version,
        "refused_version": puller.refused_version if puller.refused_version > puller.version else None,
        "last_refusal": puller.last_refusal,
        "last_success": _iso(puller.last_success),
        "last_error": puller.last_error,
        "documents": puller.documents,
        "applied": puller.applied,
        "refused": puller.refused,
        "bad_signatures": puller.bad_signatures,
    }


class ReleaseIn(BaseModel):
    """Which quarantined records to queue again."""

    model_config = ConfigDict(extra="forbid")

    seqs: list[int] | None = Field(
        default=None, max_length=1000, description="Outbox seqs to release; absent = all quarantined records"
    )


def _no_sync() -> web.Response:
    return web.json_response({"error": "sync_not_configured", "detail": "this site has no cloud"}, status=404)


async def get_sync(request: web.Request) -> web.Response:
    """GET /api/v1/sync: the sync state."""
    status = await sync_status(request.app)
    return _no_sync() if status is None else web.json_response(status)


async def retry_sync(request: web.Request) -> web.Response:
    """POST /api/v1/sync/retry: try at once, cutting a backoff short."""
    agent = request.app[keys.SYNC]
    if agent is None:
        return _no_sync()
    agent.retry_now()
    return web.json_response({"retrying": True}, status=202)


async def release_quarantine(request: web.Request) -> web.Response:
    """POST /api/v1/sync/quarantine/release: queue quarantined records again and try at once."""
    agent = request.app[keys.SYNC]
    if agent is None:
        return _no_sync()
    raw = await request.read()
    try:
        body = ReleaseIn.model_validate_json(raw or b"{}")
    except ValidationError as err:
        detail = err.errors(include_url=False, include_context=False, include_input=False)
        return web.json_response({"error": "invalid_body", "detail": detail}, status=400)
    if body.seqs is not None and any(not 1 <= s <= MAX_SEQ for s in body.seqs):
        return web.json_response({"error": "invalid_body", "detail": "seqs must be positive outbox seqs"}, status=400)
    released = await request.app[keys.OUTBOX].release(body.seqs)
    agent.retry_now()
    return web.json_response({"released": released})


def add_routes(app: web.Application) -> None:
    """Register the sync routes of the console API."""
    app.router.add_get("/api/v1/sync", get_sync)
    app.router.add_post("/api/v1/sync/retry", retry_sync)
    app.router.add_post("/api/v1/sync/quarantine/release", release_quarantine)
