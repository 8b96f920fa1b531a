from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from aforo.db import Base, UTCDateTime


class Product(Base):
    """An API product a tenant sells; plans, docs and specs hang off it."""

    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("tenant_id", "slug"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(63))
    description: Mapped[str] = mapped_column(Text, server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))


class Plan(Base):
    """A priced offer of a product: quota, rate limit, billing interval."""

    __tablename__ = "plans"
    __table_args__ = (
        UniqueConstraint("tenant_id", "product_id", "slug"),
        ForeignKeyConstraint(["tenant_id", "product_id"], ["products.tenant_id", "products.id"]),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    product_id: Mapped[uuid.UUID]
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(63))
    price_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    interval: Mapped[str] = mapped_column(String(10))
    monthly_quota: Mapped[int | None] = mapped_column(BigInteger)  # None: unlimited
    rate_limit_per_minute: Mapped[int | None]
    # True: calls past the quota are refused; False: they are allowed and billed as overage.
    hard_quota: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Subscription(Base):
    """A subscription to a plan, owned by a person or (``team_id``) a team; its keys die
    with it. ``user_id`` is the person who subscribed."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"]),
        ForeignKeyConstraint(["tenant_id", "plan_id"], ["plans.tenant_id", "plans.id"]),
        ForeignKeyConstraint(["tenant_id", "team_id"], ["teams.tenant_id", "teams.id"]),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    user_id: Mapped[uuid.UUID]
    plan_id: Mapped[uuid.UUID]
    team_id: Mapped[uuid.UUID | None]
    status: Mapped[str] = mapped_column(String(12), server_default="ACTIVE")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Periods are counted from the anchor: anchor + n intervals (calendar months, day clamped).
    billing_anchor: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))
    # True: ends (keys revoked, final invoice) when the current period closes.
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class PlanCharge(Base):
    """One metric's price on a plan (see services/billing/pricing.py). Set when the plan is
    created and never changed: a new price is a new plan, so every period knows its price."""

    __tablename__ = "plan_charges"
    __table_args__ = (
        UniqueConstraint("tenant_id", "plan_id", "metric"),
        ForeignKeyConstraint(["tenant_id", "plan_id"], ["plans.tenant_id", "plans.id"]),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    plan_id: Mapped[uuid.UUID]
    position: Mapped[int] = mapped_column(Integer)
    metric: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(12))
    included_units: Mapped[Decimal] = mapped_column(Numeric(), server_default=text("0"))
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)  # the model's prices, decimals as text


class BillingPeriod(Base):
    """A stretch of a subscription billed on one plan: a whole period, or the part of one
    before or after a plan change or an immediate cancellation. Closing it drafts its invoice."""

    __tablename__ = "billing_periods"
    __table_args__ = (
        UniqueConstraint("tenant_id", "subscription_id", "starts_at"),
        ForeignKeyConstraint(
            ["tenant_id", "subscription_id"], ["subscriptions.tenant_id", "subscriptions.id"]
        ),
        ForeignKeyConstraint(["tenant_id", "plan_id"], ["plans.tenant_id", "plans.id"]),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    subscription_id: Mapped[uuid.UUID]
    plan_id: Mapped[uuid.UUID]
    seq: Mapped[int] = mapped_column(Integer)  # which period since the anchor (0 first)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime())  # the whole period
    period_end: Mapped[datetime] = mapped_column(UTCDateTime())
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())  # this stretch of it
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(8), server_default="OPEN")
    # True: the subscription ends with this stretch (its last hour of usage is billed here).
    final: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Invoice(Base):
    """What a billing period cost. Immutable once finalized (a trigger refuses changes)."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("tenant_id", "billing_period_id"),
        UniqueConstraint("tenant_id", "seq"),
        ForeignKeyConstraint(
            ["tenant_id", "subscription_id"], ["subscriptions.tenant_id", "subscriptions.id"]
        ),
        ForeignKeyConstraint(
            ["tenant_id", "billing_period_id"], ["billing_periods.tenant_id", "billing_periods.id"]
        ),
        ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"]),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    subscription_id: Mapped[uuid.UUID]
    billing_period_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID]  # the subscriber when it was drafted
    status: Mapped[str] = mapped_column(String(10), server_default="DRAFT")
    seq: Mapped[int | None] = mapped_column(BigInteger)  # per tenant, from 1, no gaps
    number: Mapped[str | None] = mapped_column(String(40))
    currency: Mapped[str] = mapped_column(String(3))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime())
    period_end: Mapped[datetime] = mapped_column(UTCDateTime())
    subtotal_minor: Mapped[int] = mapped_column(BigInteger)
    tax_rate: Mapped[Decimal] = mapped_column(Numeric())
    tax_label: Mapped[str] = mapped_column(String(40))
    tax_minor: Mapped[int] = mapped_column(BigInteger)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    customer_name: Mapped[str] = mapped_column(String(200))
    customer_email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))
    finalized_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    payment_reference: Mapped[str | None] = mapped_column(String(200))
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    void_reason: Mapped[str | None] = mapped_column(String(500))


class InvoiceLine(Base):
    """One fee or metered charge of an invoice; ``detail`` shows how its amount came about."""

    __tablename__ = "invoice_lines"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "invoice_id"], ["invoices.tenant_id", "invoices.id"]),
        ForeignKeyConstraint(
            ["tenant_id", "billing_period_id"], ["billing_periods.tenant_id", "billing_periods.id"]
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))  # FIXED_FEE, USAGE, ADJUSTMENT
    description: Mapped[str] = mapped_column(String(300))
    metric: Mapped[str | None] = mapped_column(String(200))
    quantity: Mapped[Decimal] = mapped_column(Numeric())
    unit_price: Mapped[Decimal | None] = mapped_column(Numeric())
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    # The stretch whose fee or usage this line bills (an adjustment: an earlier one).
    billing_period_id: Mapped[uuid.UUID]
    period_start: Mapped[datetime] = mapped_column(UTCDateTime())
    period_end: Mapped[datetime] = mapped_column(UTCDateTime())
    adjusts_invoice_id: Mapped[uuid.UUID | None]
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'"))


class InvoiceEvent(Base):
    """The audit trail of one invoice: drafted, finalized, paid, voided; who and when."""

    __tablename__ = "invoice_events"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "invoice_id"], ["invoices.tenant_id", "invoices.id"]),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    invoice_id: Mapped[uuid.UUID]
    type: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[uuid.UUID | None]  # None: the billing job
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))


class BillingSettings(Base):
    """A tenant's invoicing: tax rate, numbering prefix, payment terms and brand. Absent: the
    defaults (no tax, prefix INV, due on receipt, the tenant's name, no logo)."""

    __tablename__ = "billing_settings"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(), server_default=text("0"))  # percent
    tax_label: Mapped[str] = mapped_column(String(40), server_default="Tax")
    invoice_prefix: Mapped[str] = mapped_column(String(12), server_default="INV")
    payment_terms_days: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    brand_name: Mapped[str | None] = mapped_column(String(200))
    brand_color: Mapped[str | None] = mapped_column(String(7))  # #rrggbb
    logo: Mapped[bytes | None] = mapped_column(LargeBinary)  # PNG or JPEG
    address: Mapped[str] = mapped_column(Text, server_default="")
    footer: Mapped[str] = mapped_column(Text, server_default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))


class InvoiceCounter(Base):
    """The last invoice number of a tenant, taken under this row's lock at finalization."""

    __tablename__ = "invoice_counters"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)
