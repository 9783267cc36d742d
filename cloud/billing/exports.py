"""Invoice exports: CSV of the line items and a PDF (fpdf2, pure Python; a Unicode TrueType font when the system
has one, else the PDF core font with characters outside Latin-1 replaced)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from fpdf import FPDF

from cloud.billing.money import decimal_string, format_money, format_rate
from cloud.billing.views import InvoiceView

CSV_COLUMNS = (
    "invoice_number",
    "position",
    "kind",
    "item",
    "description",
    "site_id",
    "first_day",
    "last_day",
    "quantity",
    "unit_price_minor",
    "amount_minor",
    "amount",
    "currency",
    "batch_ids",
)
# (regular, bold) TrueType pairs; Debian's fonts-dejavu-core or fonts-liberation (installed with chromium).
FONT_CANDIDATES = (
    (
        Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
        Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ),
    (
        Path("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf"),
        Path("/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf"),
    ),
)


def invoice_title(view: InvoiceView) -> str:
    """Return e.g. "Invoice 7" or "Draft invoice"."""
    invoice = view.invoice
    if invoice.number is None:
        return "Draft invoice"
    prefix = "Void invoice" if invoice.status == "void" else "Invoice"
    return f"{prefix} {invoice.number}"


def invoice_csv(view: InvoiceView) -> str:
    """Return the invoice's line items as CSV (amounts in minor units and as decimals)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    invoice = view.invoice
    for line in view.lines:
        writer.writerow(
            [
                invoice.number or "",
                line.position,
                line.kind,
                line.item,
                line.description,
                line.site_id or "",
                line.first_day or "",
                line.last_day or "",
                line.quantity,
                line.unit_price,
                line.amount,
                decimal_string(line.amount, invoice.currency),
                invoice.currency,
                line.batch_ids,
            ]
        )
    for label, amount in (("subtotal", invoice.subtotal), ("tax", invoice.tax), ("total", invoice.total)):
        writer.writerow(
            [invoice.number or "", "", label, "", label, "", "", "", "", "", amount]
            + [decimal_string(amount, invoice.currency), invoice.currency, ""]
        )
    return out.getvalue()


class _Pdf(FPDF):
    def __init__(self) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.unicode = False
        for regular, bold in FONT_CANDIDATES:
            if regular.is_file() and bold.is_file():
                self.add_font("Body", "", str(regular))
                self.add_font("Body", "B", str(bold))
                self.unicode = True
                break

    def use(self, size: int) -> None:
        self.set_font("Body" if self.unicode else "Helvetica", size=size)

    def text_of(self, value: str) -> str:
        return value if self.unicode else value.encode("latin-1", "replace").decode("latin-1")


def invoice_pdf(view: InvoiceView) -> bytes:
    """Return the invoice as a PDF document."""
    invoice = view.invoice
    pdf = _Pdf()
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.use(16)
    pdf.cell(0, 10, pdf.text_of(f"{invoice_title(view)} - Outpost"), new_x="LMARGIN", new_y="NEXT")
    pdf.use(10)
    facts = [
        f"Customer: {view.tenant_name}",
        f"Period: {invoice.period_start:%d %b %Y} - {invoice.period_end:%d %b %Y} (end exclusive)",
        f"Status: {invoice.status}",
        f"Plan: {view.plan.name} v{view.plan.version}" if view.plan else "",
        f"Currency: {invoice.currency}; tax rate {format_rate(invoice.tax_rate_bp)}",
    ]
    if invoice.finalized_at:
        facts.append(f"Issued: {invoice.finalized_at:%d %b %Y}")
    for fact in facts:
        if fact:
            pdf.cell(0, 6, pdf.text_of(fact), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    with pdf.table(col_widths=(8, 60, 14, 18), text_align=("RIGHT", "LEFT", "RIGHT", "RIGHT")) as table:
        header = table.row()
        for title in ("#", "Description", "Qty", "Amount"):
            header.cell(title)
        for line in view.lines:
            row = table.row()
            row.cell(str(line.position))
            row.cell(pdf.text_of(line.description))
            row.cell(f"{line.quantity:,}")
            row.cell(format_money(line.amount, invoice.currency))
    pdf.ln(4)
    pdf.use(11)
    for label, amount in (
        ("Subtotal", invoice.subtotal),
        (f"Tax {format_rate(invoice.tax_rate_bp)}", invoice.tax),
        ("Total", invoice.total),
    ):
        pdf.cell(150, 7, label, align="R")
        pdf.cell(0, 7, format_money(amount, invoice.currency), align="R", new_x="LMARGIN", new_y="NEXT")
    for note in view.credit_notes:
        pdf.use(10)
        pdf.cell(
            0,
            6,
            pdf.text_of(
                f"Credit note {note.number} ({note.created_at:%d %b %Y}): "
                f"-{format_money(note.amount + note.tax, invoice.currency)} - {note.reason}"
            ),
            new_x="LMARGIN",
            new_y="NEXT",
        )
    return bytes(pdf.output())
