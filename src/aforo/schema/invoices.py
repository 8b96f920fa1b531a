"""GraphQL types of invoices, upcoming invoices and a tenant's billing settings."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

import strawberry

from aforo.models import billing as m
from aforo.schema.base import AppInfo, UserError
from aforo.schema.billing import Money, PricingModel
from aforo.services import billing as svc
from aforo.services.billing import pdf
from aforo.services.billing.lines import Line


@strawberry.enum(
    description="DRAFT (may still be voided, never edited), FINALIZED (numbered, immutable, "
    "owed), PAID or VOID."
)
class InvoiceStatus(Enum):
    DRAFT = "DRAFT"
    FINALIZED = "FINALIZED"
    PAID = "PAID"
    VOID = "VOID"


@strawberry.enum
class InvoiceLineKind(Enum):
    FIXED_FEE = "FIXED_FEE"
    USAGE = "USAGE"
    ADJUSTMENT = "ADJUSTMENT"


@strawberry.type(description="How many units one tier priced, and at what.")
class TierAmount:
    tier: int
    first_unit: Decimal = strawberry.field(description="Exclusive lower bound of the tier.")
    up_to: Decimal | None
    quantity: Decimal
    unit_price: Decimal
    flat_fee: Decimal
    amount: Decimal = strawberry.field(description="Exact, in major units (before rounding).")


def _d(v: Any) -> Decimal | None:
    return None if v is None else Decimal(str(v))


@strawberry.type(description="One fee, metered charge or late-usage adjustment.")
class InvoiceLine:
    position: int
    kind: InvoiceLineKind
    description: str
    metric: str | None
    quantity: Decimal = strawberry.field(
        description="Units measured (an adjustment: the units that arrived late)."
    )
    unit_price: Decimal | None = strawberry.field(
        description="Per unit (per package for PACKAGE), major units; tiered: see tiers."
    )
    amount: Money
    period_start: datetime = strawberry.field(description="Start of the hours or time billed.")
    period_end: datetime
    adjusts_invoice_id: strawberry.ID | None
    pricing_model: PricingModel | None
    included_units: Decimal | None
    billable_quantity: Decimal | None = strawberry.field(description="After included units.")
    package_size: Decimal | None
    packages: Decimal | None
    prorated: bool = strawberry.field(description="A fixed fee for part of a period.")
    tiers: list[TierAmount]

    @classmethod
    def build(cls, position: int, x: Line | m.InvoiceLine, currency: str) -> InvoiceLine:
        d = x.detail or {}
        model = d.get("model")
        adjusts = x.adjusts_invoice_id
        return cls(
            position=position,
            kind=InvoiceLineKind(x.kind),
            description=x.description,
            metric=x.metric,
            quantity=x.quantity,
            unit_price=x.unit_price,
            amount=Money.of(x.amount_minor, currency),
            period_start=x.period_start,
            period_end=x.period_end,
            adjusts_invoice_id=strawberry.ID(str(adjusts)) if adjusts else None,
            pricing_model=PricingModel(model) if model else None,
            included_units=_d(d.get("included_units")),
            billable_quantity=_d(d.get("billable")),
            package_size=_d(d.get("package_size")),
            packages=_d(d.get("packages")),
            prorated=bool(d.get("prorated")),
            tiers=[
                TierAmount(
                    tier=t["tier"],
                    first_unit=Decimal(t["first_unit"]),
                    up_to=_d(t.get("up_to")),
                    quantity=Decimal(t["quantity"]),
                    unit_price=Decimal(t["unit_price"]),
                    flat_fee=Decimal(t["flat_fee"]),
                    amount=Decimal(t["amount"]),
                )
                for t in d.get("tiers") or ()
            ],
        )


@strawberry.type(description="One step of an invoice's audit trail.")
class InvoiceEvent:
    type: str = strawberry.field(description="drafted, finalized, paid or voided.")
    actor_id: strawberry.ID | None = strawberry.field(description="Null: the billing job.")
    created_at: datetime

    @classmethod
    def of(cls, e: m.InvoiceEvent) -> InvoiceEvent:
        return cls(
            type=e.type,
            actor_id=strawberry.ID(str(e.actor_id)) if e.actor_id else None,
            created_at=e.created_at,
        )


@strawberry.type(description="What a billing period cost a subscription.")
class Invoice:
    id: strawberry.ID
    number: str | None = strawberry.field(description="Given at finalization: PREFIX-000001.")
    status: InvoiceStatus
    subscription_id: strawberry.ID
    customer_name: str
    customer_email: str
    currency: str
    period_start: datetime
    period_end: datetime
    subtotal: Money
    tax_label: str
    tax_rate: Decimal = strawberry.field(description="Percent of the subtotal.")
    tax: Money
    total: Money
    created_at: datetime
    finalized_at: datetime | None
    due_at: datetime | None
    paid_at: datetime | None
    payment_reference: str | None
    voided_at: datetime | None
    void_reason: str | None
    pdf_path: str = strawberry.field(
        description="The PDF's stable URL, relative to the API: send the session's bearer token."
    )
    _id: strawberry.Private[uuid.UUID]
    _tenant_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def lines(self, info: AppInfo) -> list[InvoiceLine]:
        rows = await info.context.loaders.lines_by_invoice_id.load(self._id)
        return [InvoiceLine.build(x.position, x, self.currency) for x in rows]

    @strawberry.field(description="Drafted, finalized, paid, voided: who and when.")
    async def events(self, info: AppInfo) -> list[InvoiceEvent]:
        return [
            InvoiceEvent.of(e)
            for e in await info.context.loaders.events_by_invoice_id.load(self._id)
        ]

    @strawberry.field(
        description="The PDF's URL with a token that opens it without a session, for five "
        "minutes (a plain browser link); relative to the API."
    )
    def pdf_url(self, info: AppInfo) -> str:
        auth = info.context.runtime.auth
        return pdf.signed_link(auth.ring, auth.issuer, self._tenant_id, self._id)

    @classmethod
    def of(cls, i: m.Invoice) -> Invoice:
        cur = i.currency
        return cls(
            id=strawberry.ID(str(i.id)),
            number=i.number,
            status=InvoiceStatus(i.status),
            subscription_id=strawberry.ID(str(i.subscription_id)),
            customer_name=i.customer_name,
            customer_email=i.customer_email,
            currency=cur,
            period_start=i.period_start,
            period_end=i.period_end,
            subtotal=Money.of(i.subtotal_minor, cur),
            tax_label=i.tax_label,
            tax_rate=i.tax_rate,
            tax=Money.of(i.tax_minor, cur),
            total=Money.of(i.total_minor, cur),
            created_at=i.created_at,
            finalized_at=i.finalized_at,
            due_at=i.due_at,
            paid_at=i.paid_at,
            payment_reference=i.payment_reference,
            voided_at=i.voided_at,
            void_reason=i.void_reason,
            pdf_path=pdf.pdf_path(i.id),
            _id=i.id,
            _tenant_id=i.tenant_id,
        )


@strawberry.type(
    description="The invoice the current period would get if it ended now as planned: the "
    "fixed fee for the period, usage so far, adjustments for late usage, tax."
)
class UpcomingInvoice:
    subscription_id: strawberry.ID
    period_start: datetime
    period_end: datetime
    currency: str
    lines: list[InvoiceLine]
    subtotal: Money
    tax_label: str
    tax_rate: Decimal
    tax: Money
    total: Money
    ends_subscription: bool = strawberry.field(
        description="True: the subscription is cancelled at the end of this period."
    )

    @classmethod
    def of(cls, u: svc.Upcoming) -> UpcomingInvoice:
        cur = u.computed.currency
        return cls(
            subscription_id=strawberry.ID(str(u.subscription.id)),
            period_start=u.stretch.starts_at,
            period_end=u.stretch.ends_at,
            currency=cur,
            lines=[InvoiceLine.build(n, x, cur) for n, x in enumerate(u.computed.lines, 1)],
            subtotal=Money.of(u.computed.subtotal_minor, cur),
            tax_label=u.tax_label,
            tax_rate=u.tax_rate,
            tax=Money.of(u.tax_minor, cur),
            total=Money.of(u.total_minor, cur),
            ends_subscription=u.subscription.cancel_at_period_end,
        )


@strawberry.type(description="How the tenant's invoices are taxed, numbered and branded.")
class BillingSettings:
    tax_rate: Decimal = strawberry.field(
        description="Percent applied to every subtotal (one rate; tax engines are out of scope)."
    )
    tax_label: str
    invoice_prefix: str
    payment_terms_days: int = strawberry.field(description="Due date: finalized + these days.")
    brand_name: str | None = strawberry.field(description="Null: the tenant's name.")
    brand_color: str | None
    has_logo: bool
    address: str
    footer: str

    @classmethod
    def of(cls, s: m.BillingSettings) -> BillingSettings:
        return cls(
            tax_rate=s.tax_rate,
            tax_label=s.tax_label,
            invoice_prefix=s.invoice_prefix,
            payment_terms_days=s.payment_terms_days,
            brand_name=s.brand_name,
            brand_color=s.brand_color,
            has_logo=s.logo is not None,
            address=s.address,
            footer=s.footer,
        )


@strawberry.input(description="Fields left out are kept.")
class BillingSettingsInput:
    tax_rate: Decimal | None = strawberry.field(default=None, description="Percent, 0-100.")
    tax_label: str | None = None
    invoice_prefix: str | None = None
    payment_terms_days: int | None = None
    brand_name: str | None = None
    brand_color: str | None = strawberry.field(default=None, description='#rrggbb; "" clears.')
    logo_base64: str | None = strawberry.field(
        default=None, description="A PNG or JPEG, base64, at most 128 KiB."
    )
    clear_logo: bool = False
    address: str | None = None
    footer: str | None = None


@strawberry.type(description="What a run of the billing job did.")
class BillingRun:
    invoices: list[Invoice] = strawberry.field(description="The invoices it drafted.")


InvoiceResult = Annotated[Invoice | UserError, strawberry.union("InvoiceResult")]
BillingSettingsResult = Annotated[
    BillingSettings | UserError, strawberry.union("BillingSettingsResult")
]
