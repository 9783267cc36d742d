"""Billing pages of the HQ portal and its JSON API: plan and subscription (with a prorated preview of a change),
usage to date (chart and forecast), invoices (list, printable detail, PDF, CSV, line drill-down), credit notes.

Only owners and admins reach any of it (`access.require_money`); forms carry the session's CSRF token (checked
by the session middleware). Every query is for the principal's tenant (`views`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.appkeys import DB
from cloud.billing import documents, subscriptions, views
from cloud.billing.access import require_money
from cloud.billing.exports import invoice_csv, invoice_pdf, invoice_title
from cloud.billing.forms import CreditNoteForm, PlanForm, StartForm, TaxForm
from cloud.billing.models import Plan, Subscription
from cloud.billing.money import format_amount, format_money, format_rate, parse_amount
from cloud.billing.subscriptions import BillingError, ChangePreview
from cloud.config import format_validation_error
from cloud.db.models import utcnow
from cloud.permissions import requires
from cloud.responses import error_response
from cloud.siteconfig import NOTIFIER
from cloud.tenancy import Principal

BILLING_PATH = "/portal/billing"
API_PATH = "/api/v1/billing"
CHART_WIDTH = 620
CHART_HEIGHT = 140


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _form_error(err: ValidationError) -> str:
    return format_validation_error(err, root="(form)")


async def _form(request: web.Request, model: type[BaseModel]) -> Any:
    form = await request.post()
    data = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    return model.model_validate(data)


def _helpers() -> dict[str, Any]:
    return {"money": format_money, "amount": format_amount, "rate": format_rate}


async def _plan_page(
    request: web.Request,
    principal: Principal,
    *,
    preview: ChangePreview | None = None,
    error: str = "",
    status: int = 200,
) -> web.Response:
    today = utcnow().date()
    async with request.app[DB]() as session:
        view = await views.subscription_view(session, principal.tenant_id, today)
    context = {"principal": principal, "view": view, "preview": preview, "error": error, **_helpers()}
    return aiohttp_jinja2.render_template("billing_plan.html", request, context, status=status)


@requires("billing.read")
async def handle_plan_page(request: web.Request) -> web.Response:
    """GET /portal/billing: the plan, the subscription and the catalogue."""
    return await _plan_page(request, require_money(request))


async def _plan(session: AsyncSession, plan_id: int) -> Plan:
    plan = await session.get(Plan, plan_id)
    if plan is None:
        raise BillingError("no such plan")
    return plan


@requires("billing.write")
async def handle_start(request: web.Request) -> web.Response:
    """POST /portal/billing/subscription: subscribe the tenant to a plan from today."""
    principal = require_money(request)
    try:
        form = await _form(request, StartForm)
        async with request.app[DB].begin() as session:
            plan = await _plan(session, form.plan_id)
            await subscriptions.start(
                session, principal.tenant_id, plan, form.interval, utcnow().date(), form.tax_rate_bp
            )
            bumped = await subscriptions.announce_plan(session, principal.tenant_id)
    except ValidationError as err:
        return await _plan_page(request, principal, error=_form_error(err), status=400)
    except BillingError as err:
        return await _plan_page(request, principal, error=str(err), status=409)
    request.app[NOTIFIER].notify(bumped)  # the sites' long-polls answer with the new plan limits
    return _see_other(BILLING_PATH)


async def _subscription(session: AsyncSession, principal: Principal) -> Subscription:
    subscription = await subscriptions.subscription_of(session, principal.tenant_id, for_update=True)
    if subscription is None:
        raise BillingError("this tenant has no subscription yet")
    return subscription


@requires("billing.read")
async def handle_preview(request: web.Request) -> web.Response:
    """POST /portal/billing/preview: what changing to the chosen plan today would cost (nothing is changed)."""
    principal = require_money(request)
    try:
        form = await _form(request, PlanForm)
        async with request.app[DB]() as session:
            subscription = await _subscription(session, principal)
            preview = await subscriptions.preview_change(
                session, subscription, await _plan(session, form.plan_id), utcnow().date()
            )
    except ValidationError as err:
        return await _plan_page(request, principal, error=_form_error(err), status=400)
    except BillingError as err:
        return await _plan_page(request, principal, error=str(err), status=409)
    return await _plan_page(request, principal, preview=preview)


@requires("billing.write")
async def handle_change(request: web.Request) -> web.Response:
    """POST /portal/billing/plan: change plan from today."""
    principal = require_money(request)
    try:
        form = await _form(request, PlanForm)
        async with request.app[DB].begin() as session:
            subscription = await _subscription(session, principal)
            await subscriptions.change_plan(session, subscription, await _plan(session, form.plan_id), utcnow().date())
            bumped = await subscriptions.announce_plan(session, principal.tenant_id)
    except ValidationError as err:
        return await _plan_page(request, principal, error=_form_error(err), status=400)
    except BillingError as err:
        return await _plan_page(request, principal, error=str(err), status=409)
    request.app[NOTIFIER].notify(bumped)  # the sites' long-polls answer with the new plan limits
    return _see_other(BILLING_PATH)


@requires("billing.write")
async def handle_tax(request: web.Request) -> web.Response:
    """POST /portal/billing/tax: the tenant's tax rate for invoices drafted from now on (drafts keep theirs)."""
    principal = require_money(request)
    try:
        form = await _form(request, TaxForm)
        async with request.app[DB].begin() as session:
            account = await subscriptions.account_of(session, principal.tenant_id)
            if account is None:
                raise BillingError("this tenant has no billing account yet: subscribe first")
            account.tax_rate_bp = form.tax_rate_bp
    except ValidationError as err:
        return await _plan_page(request, principal, error=_form_error(err), status=400)
    except BillingError as err:
        return await _plan_page(request, principal, error=str(err), status=409)
    return _see_other(BILLING_PATH)


@requires("billing.write")
async def handle_cancel(request: web.Request) -> web.Response:
    """POST /portal/billing/cancel: cancel at the end of the current period."""
    principal = require_money(request)
    try:
        async with request.app[DB].begin() as session:
            subscriptions.cancel(await _subscription(session, principal))
    except BillingError as err:
        return await _plan_page(request, principal, error=str(err), status=409)
    return _see_other(BILLING_PATH)


@requires("billing.write")
async def handle_reactivate(request: web.Request) -> web.Response:
    """POST /portal/billing/reactivate: undo a cancellation (or restart a canceled subscription)."""
    principal = require_money(request)
    try:
        async with request.app[DB].begin() as session:
            await subscriptions.reactivate(session, await _subscription(session, principal), utcnow().date())
            bumped = await subscriptions.announce_plan(session, principal.tenant_id)
    except BillingError as err:
        return await _plan_page(request, principal, error=str(err), status=409)
    request.app[NOTIFIER].notify(bumped)  # the sites' long-polls answer with the new plan limits
    return _see_other(BILLING_PATH)


def chart_bars(daily: list[tuple[Any, int]]) -> list[dict[str, Any]]:
    """Bars of the daily events chart, in integer SVG coordinates."""
    top = max([events for _, events in daily] + [1])
    width = CHART_WIDTH // max(len(daily), 1)
    bars = []
    for n, (day, events) in enumerate(daily):
        height = events * (CHART_HEIGHT - 20) // top
        bars.append(
            {
                "x": n * width + 1,
                "y": CHART_HEIGHT - height,
                "w": max(width - 2, 1),
                "h": height,
                "day": day,
                "n": events,
            }
        )
    return bars


@requires("billing.read")
async def handle_usage_page(request: web.Request) -> web.Response:
    """GET /portal/billing/usage: usage to date in this period, a daily chart and the forecast."""
    principal = require_money(request)
    async with request.app[DB]() as session:
        usage = await views.usage_view(session, principal.tenant_id, utcnow().date())
    context = {
        "principal": principal,
        "usage": usage,
        "bars": chart_bars(usage.daily) if usage else [],
        "chart_width": CHART_WIDTH,
        "chart_height": CHART_HEIGHT,
        **_helpers(),
    }
    return aiohttp_jinja2.render_template("billing_usage.html", request, context)


@requires("billing.read")
async def handle_invoices_page(request: web.Request) -> web.Response:
    """GET /portal/billing/invoices: the tenant's invoices."""
    principal = require_money(request)
    async with request.app[DB]() as session:
        found = await views.invoices(session, principal.tenant_id)
    context = {"principal": principal, "invoices": found, **_helpers()}
    return aiohttp_jinja2.render_template("billing_invoices.html", request, context)


def _invoice_id(request: web.Request) -> int:
    raw = request.match_info["invoice_id"]
    if not raw.isdigit() or len(raw) > 12:
        raise web.HTTPNotFound(text="No such invoice.")
    return int(raw)


async def _invoice_view(request: web.Request, principal: Principal) -> views.InvoiceView:
    async with request.app[DB]() as session:
        try:
            return await views.invoice_view(session, principal.tenant_id, _invoice_id(request))
        except views.InvoiceNotFound as err:
            raise web.HTTPNotFound(text="No such invoice.") from err


async def _invoice_page(request: web.Request, principal: Principal, error: str = "", status: int = 200) -> web.Response:
    view = await _invoice_view(request, principal)
    async with request.app[DB]() as session:
        credited = await documents.credited(session, view.invoice.id)
    context = {
        "principal": principal,
        "view": view,
        "title": invoice_title(view),
        "credited": credited,
        "error": error,
        **_helpers(),
    }
    return aiohttp_jinja2.render_template("billing_invoice.html", request, context, status=status)


@requires("billing.read")
async def handle_invoice_page(request: web.Request) -> web.Response:
    """GET /portal/billing/invoices/{invoice_id}: the invoice (prints cleanly), its lines and credit notes."""
    return await _invoice_page(request, require_money(request))


@requires("billing.read")
async def handle_invoice_pdf(request: web.Request) -> web.Response:
    """GET /portal/billing/invoices/{invoice_id}/pdf: the invoice as a PDF download."""
    view = await _invoice_view(request, require_money(request))
    name = f"invoice-{view.invoice.number or 'draft-' + str(view.invoice.id)}.pdf"
    return web.Response(
        body=await asyncio.to_thread(invoice_pdf, view),  # a long invoice takes a while: off the event loop
        content_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@requires("billing.read")
async def handle_invoice_csv(request: web.Request) -> web.Response:
    """GET /portal/billing/invoices/{invoice_id}/csv: the line items as CSV."""
    view = await _invoice_view(request, require_money(request))
    name = f"invoice-{view.invoice.number or 'draft-' + str(view.invoice.id)}-lines.csv"
    return web.Response(
        text=invoice_csv(view),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@requires("billing.read")
async def handle_line_page(request: web.Request) -> web.Response:
    """GET /portal/billing/invoices/{invoice_id}/lines/{line_id}: the usage rows and batches behind a line."""
    principal = require_money(request)
    raw = request.match_info["line_id"]
    if not raw.isdigit() or len(raw) > 15:
        raise web.HTTPNotFound(text="No such line.")
    async with request.app[DB]() as session:
        try:
            drill = await views.line_drill_down(session, principal.tenant_id, _invoice_id(request), int(raw))
        except views.InvoiceNotFound as err:
            raise web.HTTPNotFound(text="No such line.") from err
    context = {"principal": principal, "drill": drill, "title": invoice_title(drill.view), **_helpers()}
    return aiohttp_jinja2.render_template("billing_line.html", request, context)


async def _invoice_action(request: web.Request, action: str) -> web.Response:
    principal = require_money(request)
    invoice_id = _invoice_id(request)
    try:
        async with request.app[DB].begin() as session:
            if action == "paid":
                await documents.mark_paid(session, principal.tenant_id, invoice_id)
            elif action == "void":
                await documents.void(session, principal.tenant_id, invoice_id)
            else:
                form = await _form(request, CreditNoteForm)
                view = await views.invoice_view(session, principal.tenant_id, invoice_id)
                amount = parse_amount(form.amount, view.invoice.currency)
                await documents.issue_credit_note(
                    session, principal.tenant_id, invoice_id, amount, form.reason, principal.email
                )
    except (LookupError, views.InvoiceNotFound) as err:
        raise web.HTTPNotFound(text="No such invoice.") from err
    except ValidationError as err:
        return await _invoice_page(request, principal, error=_form_error(err), status=400)
    except (BillingError, ValueError) as err:
        return await _invoice_page(request, principal, error=str(err), status=409)
    return _see_other(f"{BILLING_PATH}/invoices/{invoice_id}")


@requires("billing.write")
async def handle_paid(request: web.Request) -> web.Response:
    """POST /portal/billing/invoices/{invoice_id}/paid: record payment."""
    return await _invoice_action(request, "paid")


@requires("billing.write")
async def handle_void(request: web.Request) -> web.Response:
    """POST /portal/billing/invoices/{invoice_id}/void: void a finalised, unpaid invoice."""
    return await _invoice_action(request, "void")


@requires("billing.write")
async def handle_credit_note(request: web.Request) -> web.Response:
    """POST /portal/billing/invoices/{invoice_id}/credit-notes: correct a finalised invoice."""
    return await _invoice_action(request, "credit")


# --- JSON API ------------------------------------------------------------------------------------------------


def _invoice_json(view: views.InvoiceView) -> dict[str, Any]:
    invoice = view.invoice
    return {
        "id": invoice.id,
        "number": invoice.number,
        "status": invoice.status,
        "period_start": invoice.period_start.isoformat(),
        "period_end": invoice.period_end.isoformat(),
        "currency": invoice.currency,
        "tax_rate_bp": invoice.tax_rate_bp,
        "subtotal": invoice.subtotal,
        "tax": invoice.tax,
        "total": invoice.total,
        "lines": [
            {
                "id": line.id,
                "position": line.position,
                "kind": line.kind,
                "item": line.item,
                "description": line.description,
                "site_id": line.site_id,
                "first_day": line.first_day.isoformat() if line.first_day else None,
                "last_day": line.last_day.isoformat() if line.last_day else None,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "amount": line.amount,
                "batch_ids": line.batch_ids,
            }
            for line in view.lines
        ],
        "credit_notes": [
            {"number": n.number, "amount": n.amount, "tax": n.tax, "reason": n.reason} for n in view.credit_notes
        ],
    }


@requires("billing.read")
async def handle_api_invoices(request: web.Request) -> web.Response:
    """GET /api/v1/billing/invoices: the tenant's invoices (amounts in minor units)."""
    principal = require_money(request)
    async with request.app[DB]() as session:
        found = await views.invoices(session, principal.tenant_id)
    return web.json_response(
        [
            {
                "id": i.id,
                "number": i.number,
                "status": i.status,
                "period_start": i.period_start.isoformat(),
                "period_end": i.period_end.isoformat(),
                "currency": i.currency,
                "total": i.total,
            }
            for i in found
        ]
    )


@requires("billing.read")
async def handle_api_invoice(request: web.Request) -> web.Response:
    """GET /api/v1/billing/invoices/{invoice_id}: one invoice with its lines."""
    principal = require_money(request)
    async with request.app[DB]() as session:
        try:
            view = await views.invoice_view(session, principal.tenant_id, _invoice_id(request))
        except views.InvoiceNotFound:
            return error_response(404, "not_found", "no such invoice")
    return web.json_response(_invoice_json(view))


@requires("billing.read")
async def handle_api_preview(request: web.Request) -> web.Response:
    """POST /api/v1/billing/preview {"plan_id": N}: the prorated amount of changing plan today."""
    principal = require_money(request)
    try:
        body = PlanForm.model_validate_json(await request.read())
        async with request.app[DB]() as session:
            subscription = await _subscription(session, principal)
            preview = await subscriptions.preview_change(
                session, subscription, await _plan(session, body.plan_id), utcnow().date()
            )
    except ValidationError as err:
        return error_response(400, "invalid_request", format_validation_error(err, root="(body)"))
    except BillingError as err:
        return error_response(409, "billing", str(err))
    return web.json_response(
        {
            "from_plan": preview.old_plan.id,
            "to_plan": preview.new_plan.id,
            "sites": preview.sites,
            "remaining_days": preview.remaining_days,
            "period_days": preview.period_days,
            "amount": preview.amount,
            "currency": preview.new_plan.currency,
        }
    )


@requires("billing.read")
async def handle_api_subscription(request: web.Request) -> web.Response:
    """GET /api/v1/billing/subscription: the account, subscription and plan (null without one)."""
    principal = require_money(request)
    async with request.app[DB]() as session:
        view = await views.subscription_view(session, principal.tenant_id, utcnow().date())
    sub, plan, account = view.subscription, view.plan, view.account
    if sub is None or plan is None or account is None:
        return web.json_response({"subscription": None, "plans": [p.id for p in view.plans]})
    return web.json_response(
        {
            "subscription": {
                "status": view.status,
                "interval": sub.interval,
                "period_start": sub.period_start.isoformat(),
                "period_end": sub.period_end.isoformat(),
                "trial_ends_on": sub.trial_ends_on.isoformat(),
                "cancel_at_period_end": sub.cancel_at_period_end,
                "plan": {"id": plan.id, "code": plan.code, "version": plan.version, "name": plan.name},
            },
            "currency": account.currency,
            "tax_rate_bp": account.tax_rate_bp,
            "enrolled_sites": view.enrolled_sites,
            "site_limit": plan.site_limit,
            "plans": [p.id for p in view.plans],
        }
    )


@requires("billing.read")
async def handle_api_usage(request: web.Request) -> web.Response:
    """GET /api/v1/billing/usage: usage to date in the current period, per site and day, and the forecast."""
    principal = require_money(request)
    async with request.app[DB]() as session:
        usage = await views.usage_view(session, principal.tenant_id, utcnow().date())
    if usage is None:
        return error_response(404, "no_subscription", "this tenant has no subscription")
    return web.json_response(
        {
            "period_start": usage.period_start.isoformat(),
            "period_end": usage.period_end.isoformat(),
            "elapsed_days": usage.elapsed_days,
            "period_days": usage.period_days,
            "events": usage.events,
            "forecast_events": usage.forecast_events,
            "estimate": {"subtotal": usage.estimate.subtotal, "tax": usage.estimate.tax, "total": usage.estimate.total},
            "currency": usage.currency,
            "daily": [{"day": day.isoformat(), "events": events} for day, events in usage.daily],
            "sites": [
                {
                    "site_id": s.site_id,
                    "name": s.name,
                    "events": s.events,
                    "cameras": s.cameras,
                    "doors": s.doors,
                    "devices": s.devices,
                    "snapshot_bytes": s.snapshot_bytes,
                    "over": s.over,
                }
                for s in usage.sites
            ],
        }
    )


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the billing pages and API."""
    invoice = f"{BILLING_PATH}/invoices/{{invoice_id}}"
    router.add_get(BILLING_PATH, handle_plan_page)
    router.add_post(f"{BILLING_PATH}/subscription", handle_start)
    router.add_post(f"{BILLING_PATH}/preview", handle_preview)
    router.add_post(f"{BILLING_PATH}/plan", handle_change)
    router.add_post(f"{BILLING_PATH}/cancel", handle_cancel)
    router.add_post(f"{BILLING_PATH}/tax", handle_tax)
    router.add_post(f"{BILLING_PATH}/reactivate", handle_reactivate)
    router.add_get(f"{BILLING_PATH}/usage", handle_usage_page)
    router.add_get(f"{BILLING_PATH}/invoices", handle_invoices_page)
    router.add_get(invoice, handle_invoice_page)
    router.add_get(f"{invoice}/pdf", handle_invoice_pdf)
    router.add_get(f"{invoice}/csv", handle_invoice_csv)
    router.add_get(f"{invoice}/lines/{{line_id}}", handle_line_page)
    router.add_post(f"{invoice}/paid", handle_paid)
    router.add_post(f"{invoice}/void", handle_void)
    router.add_post(f"{invoice}/credit-notes", handle_credit_note)
    router.add_get(f"{API_PATH}/invoices", handle_api_invoices)
    router.add_get(f"{API_PATH}/invoices/{{invoice_id}}", handle_api_invoice)
    router.add_post(f"{API_PATH}/preview", handle_api_preview)
    router.add_get(f"{API_PATH}/subscription", handle_api_subscription)
    router.add_get(f"{API_PATH}/usage", handle_api_usage)
