"""Invoice states after finalisation (paid, void) and credit notes; a finalised invoice is never edited.

draft -> finalized -> paid | void. A correction of a finalised (or paid) invoice is a credit note: its own
gap-free number per tenant, a reason, an amount (net of tax) with the tax on it at the invoice's rate, never
more in total than what the invoice still stands for.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.billing.models import BillingAccount, CreditNote, Invoice
from cloud.billing.money import format_money, tax_of
from cloud.billing.subscriptions import BillingError
from cloud.db.models import utcnow

ACCOUNTS = cast(Table, BillingAccount.__table__)
INVOICES = cast(Table, Invoice.__table__)


async def _transition(
    session: AsyncSession, tenant_id: str, invoice_id: int, source: str, values: dict[str, object]
) -> Invoice:
    done = (
        await session.execute(
            update(INVOICES)
            .where(INVOICES.c.id == invoice_id, INVOICES.c.tenant_id == tenant_id, INVOICES.c.status == source)
            .values(**values)
            .returning(INVOICES.c.id)
        )
    ).first()
    invoice = await session.get(Invoice, invoice_id, populate_existing=True)
    if invoice is None or invoice.tenant_id != tenant_id:
        raise LookupError(invoice_id)
    if done is None:
        raise BillingError(f"invoice is {invoice.status}, not {source}")
    return invoice


async def mark_paid(session: AsyncSession, tenant_id: str, invoice_id: int) -> Invoice:
    """Record payment of a finalised invoice (the caller commits)."""
    return await _transition(session, tenant_id, invoice_id, "finalized", {"status": "paid", "paid_at": utcnow()})


async def void(session: AsyncSession, tenant_id: str, invoice_id: int) -> Invoice:
    """Void a finalised, unpaid invoice (its number stays used; the caller commits)."""
    return await _transition(session, tenant_id, invoice_id, "finalized", {"status": "void", "voided_at": utcnow()})


async def credited(session: AsyncSession, invoice_id: int) -> int:
    """Return the total (tax included) credited on the invoice so far."""
    value = await session.scalar(
        select(func.coalesce(func.sum(CreditNote.amount + CreditNote.tax), 0)).where(
            CreditNote.invoice_id == invoice_id
        )
    )
    return int(value or 0)


async def issue_credit_note(
    session: AsyncSession, tenant_id: str, invoice_id: int, amount: int, reason: str, by: str
) -> CreditNote:
    """Credit `amount` (net, minor units) of a finalised or paid invoice, tax added at its rate (caller commits)."""
    if amount <= 0:
        raise BillingError("a credit note is for a positive amount")
    # Checks first, with the invoice row locked, so a refusal never consumes a number even when the
    # caller commits; then the number, from the tenant's counter row (which serialises credit notes).
    # A no-op write first: it locks the invoice row (PostgreSQL) or the database (SQLite, which would otherwise
    # fail a read-to-write upgrade if another writer committed meanwhile).
    await session.execute(
        update(INVOICES)
        .where(INVOICES.c.id == invoice_id, INVOICES.c.tenant_id == tenant_id)
        .values(tax_rate_bp=INVOICES.c.tax_rate_bp)
    )
    invoice = await session.get(Invoice, invoice_id, populate_existing=True)
    if invoice is None or invoice.tenant_id != tenant_id:
        raise LookupError(invoice_id)
    if invoice.status not in ("finalized", "paid"):
        raise BillingError(f"only a finalised or paid invoice can be credited; this one is {invoice.status}")
    tax = tax_of(amount, invoice.tax_rate_bp)
    remaining = invoice.total - await credited(session, invoice_id)
    if amount + tax > remaining:
        raise BillingError(
            f"the credit ({format_money(amount + tax, invoice.currency)} with tax) exceeds what the invoice still "
            f"stands for ({format_money(remaining, invoice.currency)})"
        )
    number = await session.scalar(
        update(ACCOUNTS)
        .where(ACCOUNTS.c.tenant_id == tenant_id)
        .values(last_credit_note_number=ACCOUNTS.c.last_credit_note_number + 1)
        .returning(ACCOUNTS.c.last_credit_note_number)
    )
    if number is None:
        raise LookupError(invoice_id)
    note = CreditNote(
        tenant_id=tenant_id,
        invoice_id=invoice_id,
        number=number,
        previous_number=number - 1 if number > 1 else None,
        reason=reason,
        amount=amount,
        tax=tax,
        created_by=by,
    )
    session.add(note)
    await session.flush()
    return note
