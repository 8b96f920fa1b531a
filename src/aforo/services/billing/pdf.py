"""Invoice PDFs under the tenant's brand, drawn with ReportLab.

ReportLab rather than WeasyPrint: it installs from wheels with no system libraries (WeasyPrint
needs Pango, cairo and their fonts from the operating system), it is maintained by a company
that sells it, and an invoice is a header, a table and totals: no HTML and CSS engine needed.
Text is set in DejaVu Sans when the system has it (Debian's ``fonts-dejavu-core``: Latin,
Greek, Cyrillic and the currency signs), else in the Bitstream Vera that ReportLab ships. The
fonts are embedded (subset) with their Unicode maps, so the text can be searched and copied.

Rendering is CPU work of a few tens of milliseconds: callers run it off the event loop.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import jwt
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    Flowable,
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.errors import Unauthenticated
from aforo.models.billing import BillingSettings, Invoice, InvoiceLine
from aforo.services.billing.invoices import Viewer, get_invoice, lines_by_invoice_ids
from aforo.services.billing.money import to_major
from aforo.services.billing.settings import brand_name, get_settings
from aforo.tenancy.signing import KeyRing

SYSTEM_FONTS = Path("/usr/share/fonts/truetype/dejavu")
DEFAULT_COLOR = "#1f2937"


@dataclass(frozen=True)
class TierRow:
    label: str  # "1 to 1,000"
    quantity: Decimal
    unit_price: Decimal
    flat_fee: Decimal
    amount: Decimal  # exact, major units


@dataclass(frozen=True)
class DocLine:
    description: str
    quantity: Decimal
    unit_price: Decimal | None
    amount: Decimal  # major units, rounded
    note: str = ""  # included units, packages, proration
    tiers: tuple[TierRow, ...] = ()


@dataclass(frozen=True)
class InvoiceDocument:
    """Everything the PDF shows (no database rows: rendering runs in a thread)."""

    brand_name: str
    brand_color: str | None
    logo: bytes | None
    address: str
    footer: str
    number: str | None
    status: str
    issued_at: datetime
    due_at: datetime | None
    period_start: datetime
    period_end: datetime
    customer_name: str
    customer_email: str
    currency: str
    subtotal: Decimal
    tax_label: str
    tax_rate: Decimal
    tax: Decimal
    total: Decimal
    lines: list[DocLine] = field(default_factory=list)
    paid_at: datetime | None = None


_fonts: tuple[str, str] | None = None


def fonts() -> tuple[str, str]:
    """(regular, bold) font names, registered once."""
    global _fonts
    if _fonts is None:
        import reportlab

        bundled = Path(reportlab.__file__).parent / "fonts"
        pairs = [
            (SYSTEM_FONTS / "DejaVuSans.ttf", SYSTEM_FONTS / "DejaVuSans-Bold.ttf", "DejaVuSans"),
            (bundled / "Vera.ttf", bundled / "VeraBd.ttf", "Vera"),
        ]
        for regular, bold, name in pairs:
            if regular.exists() and bold.exists():
                pdfmetrics.registerFont(TTFont(name, str(regular)))
                pdfmetrics.registerFont(TTFont(f"{name}-Bold", str(bold)))
                _fonts = (name, f"{name}-Bold")
                break
        else:  # pragma: no cover - ReportLab always ships Vera
            _fonts = ("Helvetica", "Helvetica-Bold")
    return _fonts


def num(d: Decimal) -> str:
    """A quantity as people write it: 1,234.5 (no exponent, no trailing zeros)."""
    n = d.normalize()
    if n == n.to_integral_value():
        n = n.quantize(Decimal(1))
    return format(n, ",f")


def money(amount: Decimal, currency: str) -> str:
    return f"{currency} {format(amount, ',f')}"


def _date(t: datetime) -> str:
    return f"{t:%Y-%m-%d}"


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def render(doc: InvoiceDocument) -> bytes:
    regular, bold = fonts()
    brand = colors.HexColor(doc.brand_color or DEFAULT_COLOR)
    base = ParagraphStyle("base", fontName=regular, fontSize=9, leading=12)
    small = ParagraphStyle("small", parent=base, fontSize=8, leading=10, textColor=colors.grey)
    right = ParagraphStyle("right", parent=base, alignment=TA_RIGHT)
    title = ParagraphStyle("title", parent=base, fontName=bold, fontSize=18, leading=22)
    head = ParagraphStyle("head", parent=base, fontName=bold, textColor=colors.white)
    head_r = ParagraphStyle("head_r", parent=head, alignment=TA_RIGHT)
    strong = ParagraphStyle("strong", parent=right, fontName=bold)

    out = io.BytesIO()
    pdf = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=18 * mm,
        title=f"Invoice {doc.number or '(draft)'}",
        author=doc.brand_name,
        creator="Aforo Console",
    )
    width = A4[0] - 36 * mm
    story: list[Flowable] = []

    # Brand band: logo (if any) and the tenant's name and address, on the brand colour.
    name_cell = [
        Paragraph(
            escape(doc.brand_name), ParagraphStyle("brand", parent=title, textColor=colors.white)
        ),
        _p(doc.address, ParagraphStyle("addr", parent=base, textColor=colors.white)),
    ]
    cells: list[object] = [name_cell]
    widths = [width]
    if doc.logo:
        img = ImageReader(io.BytesIO(doc.logo))
        w, h = img.getSize()
        scale = min(40 * mm / w, 18 * mm / h)
        cells = [Image(io.BytesIO(doc.logo), w * scale, h * scale), name_cell]
        widths = [45 * mm, width - 45 * mm]
    band = Table([cells], colWidths=widths)
    band.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, -1), brand),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LEFTPADDING", (0, 0), (-1, -1), 8),
                ("TOPPADDING", (0, 0), (-1, -1), 8),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 8),
            ]
        )
    )
    story += [band, Spacer(1, 8 * mm)]

    status = {"DRAFT": "DRAFT", "VOID": "VOID", "PAID": "PAID"}.get(doc.status, "")
    heading = f"Invoice {doc.number}" if doc.number else "Invoice (draft, not numbered)"
    facts = [
        ["Issued", _date(doc.issued_at)],
        ["Period", f"{_date(doc.period_start)} to {_date(doc.period_end)}"],
    ]
    if doc.due_at:
        facts.append(["Due", _date(doc.due_at)])
    if doc.paid_at:
        facts.append(["Paid", _date(doc.paid_at)])
    info = Table(
        [
            [Paragraph(escape(heading), title), Paragraph(status, strong)],
            [
                _p(f"Billed to\n{doc.customer_name}\n{doc.customer_email}", base),
                Table(
                    [[_p(k, small), _p(v, right)] for k, v in facts],
                    colWidths=[22 * mm, 48 * mm],
                ),
            ],
        ],
        colWidths=[width - 72 * mm, 72 * mm],
    )
    info.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story += [info, Spacer(1, 8 * mm)]

    rows: list[list[object]] = [
        [
            Paragraph("Description", head),
            Paragraph("Quantity", head_r),
            Paragraph("Unit price", head_r),
            Paragraph("Amount", head_r),
        ]
    ]
    for line in doc.lines:
        desc: list[object] = [_p(line.description, base)]
        if line.note:
            desc.append(_p(line.note, small))
        for t in line.tiers:
            desc.append(
                _p(
                    f"{t.label}: {num(t.quantity)} x {format(t.unit_price, 'f')}"
                    + (f" + {format(t.flat_fee, 'f')}" if t.flat_fee else "")
                    + f" = {format(t.amount, 'f')}",
                    small,
                )
            )
        rows.append(
            [
                desc,
                _p(num(line.quantity), right),
                _p("" if line.unit_price is None else format(line.unit_price, "f"), right),
                _p(money(line.amount, doc.currency), right),
            ]
        )
    lines = Table(rows, colWidths=[width - 90 * mm, 25 * mm, 30 * mm, 35 * mm], repeatRows=1)
    lines.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), brand),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.lightgrey),
            ]
        )
    )
    story += [lines, Spacer(1, 6 * mm)]

    tax_name = f"{doc.tax_label} ({num(doc.tax_rate)}%)"
    totals = Table(
        [
            [_p("Subtotal", right), _p(money(doc.subtotal, doc.currency), right)],
            [_p(tax_name, right), _p(money(doc.tax, doc.currency), right)],
            [Paragraph("Total", strong), Paragraph(escape(money(doc.total, doc.currency)), strong)],
        ],
        colWidths=[width - 45 * mm, 45 * mm],
    )
    totals.setStyle(TableStyle([("LINEABOVE", (0, 2), (-1, 2), 0.75, brand)]))
    story.append(KeepTogether([totals]))
    if doc.footer:
        story += [Spacer(1, 10 * mm), _p(doc.footer, small)]
    pdf.build(story)
    return out.getvalue()


# -- from the database -----------------------------------------------------------------------
def _tier_label(t: dict[str, Any]) -> str:
    first, up_to = Decimal(t["first_unit"]), t.get("up_to")
    if up_to is None:
        return f"Over {num(first)}"
    if first == 0:
        return f"First {num(Decimal(up_to))}"
    return f"Over {num(first)} up to {num(Decimal(up_to))}"


def _note(line: InvoiceLine) -> str:
    d = line.detail or {}

    def n(key: str) -> str:
        return num(Decimal(d[key]))

    notes = []
    if d.get("prorated"):
        days = Decimal(d["seconds"]) / 86_400
        whole = Decimal(d["period_seconds"]) / 86_400
        notes.append(f"Prorated: {days:.2f} of {whole:.2f} days")
    if Decimal(d.get("included_units") or 0) > 0:
        notes.append(f"{n('included_units')} units included; billable {n('billable')}")
    if d.get("packages") is not None:
        notes.append(f"{n('packages')} packages of {n('package_size')}")
    if line.kind == "ADJUSTMENT":
        notes.append(f"Billed before: {n('billed_quantity')}; now: {n('new_quantity')}")
    return "; ".join(notes)


def document(
    invoice: Invoice, lines: list[InvoiceLine], settings: BillingSettings, brand: str
) -> InvoiceDocument:
    cur = invoice.currency
    return InvoiceDocument(
        brand_name=brand,
        brand_color=settings.brand_color,
        logo=settings.logo,
        address=settings.address,
        footer=settings.footer,
        number=invoice.number,
        status=invoice.status,
        issued_at=invoice.finalized_at or invoice.created_at,
        due_at=invoice.due_at,
        paid_at=invoice.paid_at,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        customer_name=invoice.customer_name,
        customer_email=invoice.customer_email,
        currency=cur,
        subtotal=to_major(invoice.subtotal_minor, cur),
        tax_label=invoice.tax_label,
        tax_rate=invoice.tax_rate,
        tax=to_major(invoice.tax_minor, cur),
        total=to_major(invoice.total_minor, cur),
        lines=[
            DocLine(
                description=x.description,
                quantity=x.quantity,
                unit_price=x.unit_price,
                amount=to_major(x.amount_minor, cur),
                note=_note(x),
                tiers=tuple(
                    TierRow(
                        _tier_label(t),
                        Decimal(t["quantity"]),
                        Decimal(t["unit_price"]),
                        Decimal(t["flat_fee"]),
                        Decimal(t["amount"]),
                    )
                    for t in (x.detail or {}).get("tiers") or ()
                ),
            )
            for x in lines
        ],
    )


async def invoice_pdf(
    session: AsyncSession, viewer: Viewer, invoice_id: uuid.UUID
) -> tuple[Invoice, bytes]:
    """The invoice (if the viewer may read it) and its PDF, rendered off the event loop."""
    invoice = await get_invoice(session, viewer, invoice_id)
    (lines,) = await lines_by_invoice_ids(session, [invoice.id])
    settings = await get_settings(session)
    doc = document(invoice, lines, settings, await brand_name(session, settings))
    return invoice, await asyncio.to_thread(render, doc)


# -- where the PDF is served ---------------------------------------------------------------
LINK_AUDIENCE = "aforo-invoice-pdf"
LINK_TTL_S = 300


def pdf_path(invoice_id: uuid.UUID) -> str:
    """The stable URL of an invoice's PDF (relative to the API); it needs the caller's session
    (``Authorization: Bearer``) or a signed link's ``token``."""
    return f"/v1/billing/invoices/{invoice_id}.pdf"


def signed_link(ring: KeyRing, issuer: str, tenant_id: uuid.UUID, invoice_id: uuid.UUID) -> str:
    """The PDF's URL with a token that opens it without a session for ``LINK_TTL_S`` seconds
    (for a browser's plain link or a download). Signed like access tokens, with an audience of
    its own, so neither can stand in for the other."""
    claims = {"sub": str(invoice_id), "tid": str(tenant_id), "aud": LINK_AUDIENCE, "iss": issuer}
    token, _ = ring.sign(claims, ttl_s=LINK_TTL_S)
    return f"{pdf_path(invoice_id)}?token={token}"


def link_tenant(ring: KeyRing, issuer: str, token: str, invoice_id: uuid.UUID) -> uuid.UUID:
    """The tenant a signed link was made in, if it is valid, unexpired and for this invoice."""
    try:
        claims = ring.decode(token, audience=LINK_AUDIENCE, issuer=issuer)
        if claims["sub"] != str(invoice_id):
            raise jwt.InvalidTokenError("another invoice")
        return uuid.UUID(claims["tid"])
    except jwt.ExpiredSignatureError as e:
        raise Unauthenticated(
            "this link has expired: ask for a new one", code="LINK_EXPIRED"
        ) from e
    except (jwt.InvalidTokenError, KeyError, ValueError) as e:
        raise Unauthenticated("not a valid link to this invoice", code="INVALID_TOKEN") from e
