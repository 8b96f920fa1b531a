"""Invoices: drafted from a closed stretch's rollups, then finalized, paid or voided.

A draft has one line for the plan's fixed fee (prorated to the second when the stretch is
part of a period), one per metered charge (quantity, unit price or tier breakdown, amount) and
one adjustment per metric of an earlier stretch whose usage grew after it was invoiced (late
events): priced as the difference between what the new total and what the billed quantity
cost under that stretch's plan, so an invoice plus its adjustments always equals what billing
everything on time would have cost. A finalized invoice is never edited (the database refuses
it too); voiding forgives an invoice and its usage is not billed again.

Finalizing numbers the invoice (``PREFIX-000042``), per tenant, without gaps: the number is
taken under the tenant's counter row lock in the finalizing transaction, so two finalizations
queue and a rolled-back one gives its number back. Each transition is written to the invoice's
audit trail and emitted on ``aforo.billing.events``: ``invoice.drafted``,
``invoice.finalized`` (what a payment provider consumes to collect), ``invoice.paid``,
``invoice.voided``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, false, func, insert, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.db import utcnow
from aforo.errors import Conflict, NotFound, ValidationFailed
from aforo.models.accounts import User
from aforo.models.billing import (
    BillingPeriod,
    Invoice,
    InvoiceCounter,
    InvoiceEvent,
    InvoiceLine,
    Plan,
    Subscription,
)
from aforo.services import outbox
from aforo.services.billing import charges as plan_charges
from aforo.services.billing.money import tax_minor, to_major
from aforo.services.billing.pricing import price
from aforo.services.billing.rollups import metered_window, usage_totals
from aforo.services.billing.settings import get_settings
from aforo.services.billing.states import (
    ADJUSTMENT,
    CLOSED,
    DRAFT,
    FINALIZED,
    FIXED_FEE,
    INVOICE_STATUSES,
    OPEN,
    PAID,
    TOPIC,
    USAGE,
    VOID,
)


# -- who reads which invoices --------------------------------------------------------------------
@dataclass(frozen=True)
class Viewer:
    user_id: uuid.UUID | None
    is_admin: bool


def billing_scope(viewer: Viewer) -> ColumnElement[bool]:
    """The one rule for whose billing a caller reads (invoices, upcoming invoices, PDFs), as a
    condition on ``subscriptions``: an admin reads the whole tenant's; anyone else the
    subscriptions they own. Team roles (a team's BILLING members reading the team's
    subscriptions) extend this function and nothing else."""
    if viewer.is_admin:
        return true()
    if viewer.user_id is None:
        return false()
    return Subscription.user_id == viewer.user_id


def _visible(viewer: Viewer) -> ColumnElement[bool]:
    if viewer.is_admin:
        return true()
    return Invoice.subscription_id.in_(select(Subscription.id).where(billing_scope(viewer)))


async def visible_subscription(
    session: AsyncSession, viewer: Viewer, subscription_id: uuid.UUID
) -> Subscription:
    sub = await session.scalar(
        select(Subscription).where(Subscription.id == subscription_id, billing_scope(viewer))
    )
    if sub is None:
        raise NotFound("no subscription with that id", field="subscriptionId")
    return sub


# -- computing lines ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Line:
    kind: str
    description: str
    metric: str | None
    quantity: Decimal
    unit_price: Decimal | None
    amount_minor: int
    billing_period_id: uuid.UUID
    period_start: datetime
    period_end: datetime
    adjusts_invoice_id: uuid.UUID | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Computed:
    plan: Plan
    currency: str
    lines: list[Line]

    @property
    def subtotal_minor(self) -> int:
        return sum(x.amount_minor for x in self.lines)


def _micros(d: timedelta) -> int:
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def fixed_fee(plan: Plan, p: BillingPeriod) -> tuple[int, dict[str, Any]]:
    """The plan's fee for the stretch: whole for a whole period, else prorated by the second
    (microsecond, in fact) and rounded half up."""
    if p.starts_at == p.period_start and p.ends_at == p.period_end:
        return plan.price_cents, {"prorated": False}
    used, whole = _micros(p.ends_at - p.starts_at), _micros(p.period_end - p.period_start)
    exact = Decimal(plan.price_cents) * used / whole
    amount = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return amount, {
        "prorated": True,
        "full_amount_minor": plan.price_cents,
        "seconds": str(Decimal(used) / 1_000_000),
        "period_seconds": str(Decimal(whole) / 1_000_000),
    }


def _span(start: datetime, end: datetime) -> str:
    return f"{start:%Y-%m-%d} to {end:%Y-%m-%d}"


async def compute(session: AsyncSession, sub: Subscription, stretch: BillingPeriod) -> Computed:
    """The lines of the stretch's invoice as of now: its fee, its usage, and adjustments for
    usage of earlier stretches of the subscription that arrived after they were invoiced."""
    earlier = (
        await session.execute(
            select(BillingPeriod, Invoice.id, Invoice.number)
            .join(
                Invoice,
                and_(
                    Invoice.tenant_id == BillingPeriod.tenant_id,
                    Invoice.billing_period_id == BillingPeriod.id,
                ),
            )
            .where(
                BillingPeriod.subscription_id == sub.id,
                BillingPeriod.status == CLOSED,
                BillingPeriod.id != stretch.id,
            )
            .order_by(BillingPeriod.starts_at)
        )
    ).all()
    plan_ids = list({stretch.plan_id, *(p.plan_id for p, _, _ in earlier)})
    plans = {p.id: p for p in await session.scalars(select(Plan).where(Plan.id.in_(plan_ids)))}
    charges = dict(
        zip(plan_ids, await plan_charges.charges_by_plan_ids(session, plan_ids), strict=True)
    )
    windows = [metered_window(stretch), *(metered_window(p) for p, _, _ in earlier)]
    totals = await usage_totals(session, sub.id, windows)
    billed = await _billed(session, [p.id for p, _, _ in earlier])

    plan = plans[stretch.plan_id]
    currency = plan.currency
    lines: list[Line] = []
    if plan.price_cents:
        amount, detail = fixed_fee(plan, stretch)
        label = f"{plan.name} plan, {_span(stretch.starts_at, stretch.ends_at)}"
        if detail["prorated"]:
            label += f" (prorated from {_span(stretch.period_start, stretch.period_end)})"
        lines.append(
            Line(
                FIXED_FEE,
                label,
                None,
                Decimal(1),
                to_major(amount, currency),
                amount,
                stretch.id,
                stretch.starts_at,
                stretch.ends_at,
                detail=detail,
            )
        )
    window = windows[0]
    for c in charges[stretch.plan_id]:
        q = totals.get((stretch.id, c.metric), Decimal(0))
        priced = price(c, q, currency)
        lines.append(
            Line(
                USAGE,
                c.metric,
                c.metric,
                q,
                priced.unit_price,
                priced.amount_minor,
                stretch.id,
                window.start,
                window.end,
                detail=priced.detail(c),
            )
        )
    for (p, invoice_id, number), w in zip(earlier, windows[1:], strict=True):
        for c in charges[p.plan_id]:
            now_q = totals.get((p.id, c.metric), Decimal(0))
            was_q = billed.get((p.id, c.metric), Decimal(0))
            if now_q <= was_q:
                continue
            was, now = price(c, was_q, currency), price(c, now_q, currency)
            detail = {
                **now.detail(c),
                "billed_quantity": format(was_q, "f"),
                "new_quantity": format(now_q, "f"),
                "billed_amount_minor": was.amount_minor,
                "new_amount_minor": now.amount_minor,
            }
            lines.append(
                Line(
                    ADJUSTMENT,
                    f"{c.metric}: late usage, {_span(p.starts_at, p.ends_at)} "
                    f"(invoice {number or 'draft'})",
                    c.metric,
                    now_q - was_q,
                    now.unit_price,
                    now.amount_minor - was.amount_minor,
                    p.id,
                    w.start,
                    w.end,
                    adjusts_invoice_id=invoice_id,
                    detail=detail,
                )
            )
    return Computed(plan, currency, lines)


async def _billed(
    session: AsyncSession, period_ids: Sequence[uuid.UUID]
) -> dict[tuple[uuid.UUID, str], Decimal]:
    """What each stretch has been billed so far, per metric (its usage lines and adjustments)."""
    if not period_ids:
        return {}
    rows = await session.execute(
        select(InvoiceLine.billing_period_id, InvoiceLine.metric, func.sum(InvoiceLine.quantity))
        .where(
            InvoiceLine.billing_period_id.in_(list(period_ids)),
            InvoiceLine.kind.in_((USAGE, ADJUSTMENT)),
        )
        .group_by(InvoiceLine.billing_period_id, InvoiceLine.metric)
    )
    return {(pid, metric): Decimal(q) for pid, metric, q in rows if metric is not None}


# -- drafting ----------------------------------------------------------------------------------
async def _audit(
    session: AsyncSession,
    invoice: Invoice,
    type_: str,
    actor_id: uuid.UUID | None,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        InvoiceEvent(
            tenant_id=invoice.tenant_id,
            invoice_id=invoice.id,
            type=type_,
            actor_id=actor_id,
            detail=detail or {},
        )
    )
    await outbox.emit(session, TOPIC, f"invoice.{type_}", {**_payload(invoice), **(detail or {})})


def _payload(i: Invoice) -> dict[str, Any]:
    """What every invoice event carries: enough for a payment provider to collect it."""
    return {
        "invoice_id": i.id,
        "number": i.number,
        "status": i.status,
        "subscription_id": i.subscription_id,
        "user_id": i.user_id,
        "customer_email": i.customer_email,
        "currency": i.currency,
        "subtotal_minor": i.subtotal_minor,
        "tax_minor": i.tax_minor,
        "total_minor": i.total_minor,
        "amount_due": str(to_major(i.total_minor, i.currency)),
        "period_start": i.period_start,
        "period_end": i.period_end,
        "due_at": i.due_at,
    }


async def draft(
    session: AsyncSession,
    sub: Subscription,
    stretch: BillingPeriod,
    *,
    actor_id: uuid.UUID | None,
) -> Invoice:
    """Draft the closed stretch's invoice. Idempotent: one invoice per stretch (a unique
    constraint, and ON CONFLICT DO NOTHING); a second call returns the first's."""
    computed = await compute(session, sub, stretch)
    settings = await get_settings(session)
    user = await session.scalar(select(User).where(User.id == sub.user_id))
    assert user is not None  # a foreign key guarantees it
    subtotal = computed.subtotal_minor
    tax = tax_minor(subtotal, settings.tax_rate)
    invoice: Invoice | None = await session.scalar(
        pg_insert(Invoice)
        .values(
            tenant_id=sub.tenant_id,
            subscription_id=sub.id,
            billing_period_id=stretch.id,
            user_id=sub.user_id,
            status=DRAFT,
            currency=computed.currency,
            period_start=stretch.starts_at,
            period_end=stretch.ends_at,
            subtotal_minor=subtotal,
            tax_rate=settings.tax_rate,
            tax_label=settings.tax_label,
            tax_minor=tax,
            total_minor=subtotal + tax,
            customer_name=user.name,
            customer_email=user.email,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "billing_period_id"])
        .returning(Invoice)
    )
    if invoice is None:  # drafted already
        existing = await session.scalar(
            select(Invoice).where(Invoice.billing_period_id == stretch.id)
        )
        assert existing is not None
        return existing
    if computed.lines:
        await session.execute(
            insert(InvoiceLine),
            [
                {
                    "tenant_id": sub.tenant_id,
                    "invoice_id": invoice.id,
                    "position": n,
                    "kind": x.kind,
                    "description": x.description[:300],
                    "metric": x.metric,
                    "quantity": x.quantity,
                    "unit_price": x.unit_price,
                    "amount_minor": x.amount_minor,
                    "billing_period_id": x.billing_period_id,
                    "period_start": x.period_start,
                    "period_end": x.period_end,
                    "adjusts_invoice_id": x.adjusts_invoice_id,
                    "detail": x.detail,
                }
                for n, x in enumerate(computed.lines, 1)
            ],
        )
    await _audit(session, invoice, "drafted", actor_id, {"lines": len(computed.lines)})
    return invoice


# -- transitions -------------------------------------------------------------------------------
async def _locked(session: AsyncSession, invoice_id: uuid.UUID) -> Invoice:
    inv = await session.scalar(
        select(Invoice)
        .where(Invoice.id == invoice_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if inv is None:
        raise NotFound("no invoice with that id", field="id")
    return inv


async def _next_number(session: AsyncSession) -> int:
    """The tenant's next invoice number; the counter row stays locked until commit."""
    seq = await session.scalar(
        pg_insert(InvoiceCounter)
        .values(tenant_id=session.info["tenant_id"], last_seq=1)
        .on_conflict_do_update(
            index_elements=[InvoiceCounter.tenant_id],
            set_={"last_seq": InvoiceCounter.last_seq + 1},
        )
        .returning(InvoiceCounter.last_seq)
    )
    assert seq is not None
    return int(seq)


async def finalize(session: AsyncSession, invoice_id: uuid.UUID, *, actor_id: uuid.UUID) -> Invoice:
    inv = await _locked(session, invoice_id)
    if inv.status != DRAFT:
        raise Conflict(f"only a draft can be finalized; this invoice is {inv.status}", field="id")
    settings = await get_settings(session)
    seq = await _next_number(session)
    now = utcnow()
    done = await session.scalar(
        update(Invoice)
        .where(Invoice.id == inv.id)
        .values(
            status=FINALIZED,
            seq=seq,
            number=f"{settings.invoice_prefix}-{seq:06d}",
            finalized_at=now,
            due_at=now + timedelta(days=settings.payment_terms_days),
        )
        .returning(Invoice)
        .execution_options(populate_existing=True)
    )
    assert done is not None
    await _audit(session, done, "finalized", actor_id)
    return done


async def void(
    session: AsyncSession, invoice_id: uuid.UUID, *, reason: str, actor_id: uuid.UUID
) -> Invoice:
    reason = reason.strip()
    if not 1 <= len(reason) <= 500:
        raise ValidationFailed("say why, in 1-500 characters", field="reason")
    inv = await _locked(session, invoice_id)
    if inv.status not in (DRAFT, FINALIZED):
        raise Conflict(f"a {inv.status} invoice cannot be voided", field="id")
    done = await session.scalar(
        update(Invoice)
        .where(Invoice.id == inv.id)
        .values(status=VOID, voided_at=utcnow(), void_reason=reason)
        .returning(Invoice)
        .execution_options(populate_existing=True)
    )
    assert done is not None
    await _audit(session, done, "voided", actor_id, {"reason": reason})
    return done


async def mark_paid(
    session: AsyncSession,
    invoice_id: uuid.UUID,
    *,
    reference: str | None,
    paid_at: datetime | None,
    actor_id: uuid.UUID,
) -> Invoice:
    """Record a payment collected outside (a payment provider, a bank transfer)."""
    if reference is not None and not 1 <= len(reference.strip()) <= 200:
        raise ValidationFailed("1-200 characters", field="paymentReference")
    now = utcnow()
    if paid_at is not None and paid_at > now + timedelta(minutes=5):
        raise ValidationFailed("a payment cannot be in the future", field="paidAt")
    inv = await _locked(session, invoice_id)
    if inv.status != FINALIZED:
        raise Conflict(
            f"only a finalized invoice can be paid; this one is {inv.status}", field="id"
        )
    done = await session.scalar(
        update(Invoice)
        .where(Invoice.id == inv.id)
        .values(
            status=PAID, paid_at=paid_at or now, payment_reference=reference and reference.strip()
        )
        .returning(Invoice)
        .execution_options(populate_existing=True)
    )
    assert done is not None
    await _audit(session, done, "paid", actor_id, {"payment_reference": done.payment_reference})
    return done


# -- reads -------------------------------------------------------------------------------------
async def list_invoices(
    session: AsyncSession,
    viewer: Viewer,
    *,
    status: str | None,
    subscription_id: uuid.UUID | None,
    limit: int,
    offset: int = 0,
) -> list[Invoice]:
    q = select(Invoice).where(_visible(viewer))
    if status is not None:
        if status not in INVOICE_STATUSES:
            raise ValidationFailed(f"one of {', '.join(INVOICE_STATUSES)}", field="status")
        q = q.where(Invoice.status == status)
    if subscription_id is not None:
        q = q.where(Invoice.subscription_id == subscription_id)
    q = q.order_by(Invoice.created_at.desc(), Invoice.id).limit(limit).offset(offset)
    return list(await session.scalars(q))


async def get_invoice(session: AsyncSession, viewer: Viewer, invoice_id: uuid.UUID) -> Invoice:
    inv = await session.scalar(select(Invoice).where(Invoice.id == invoice_id, _visible(viewer)))
    if inv is None:
        raise NotFound("no invoice with that id", field="id")
    return inv


_Row = TypeVar("_Row", InvoiceLine, InvoiceEvent)


async def _by_invoice(
    session: AsyncSession, model: type[_Row], ids: list[uuid.UUID], *order: Any
) -> list[list[_Row]]:
    """Rows of several invoices in one statement, one list per id, in key order."""
    grouped: dict[uuid.UUID, list[_Row]] = {i: [] for i in ids}
    rows = await session.scalars(
        select(model).where(model.invoice_id.in_(ids)).order_by(model.invoice_id, *order)
    )
    for r in rows:
        grouped[r.invoice_id].append(r)
    return [grouped[i] for i in ids]


async def lines_by_invoice_ids(
    session: AsyncSession, ids: list[uuid.UUID]
) -> list[list[InvoiceLine]]:
    return await _by_invoice(session, InvoiceLine, ids, InvoiceLine.position)


async def events_by_invoice_ids(
    session: AsyncSession, ids: list[uuid.UUID]
) -> list[list[InvoiceEvent]]:
    return await _by_invoice(session, InvoiceEvent, ids, InvoiceEvent.created_at, InvoiceEvent.id)


@dataclass(frozen=True)
class Upcoming:
    """The invoice the current stretch would get if it closed as planned, usage as of now."""

    subscription: Subscription
    stretch: BillingPeriod
    computed: Computed
    tax_rate: Decimal
    tax_label: str
    tax_minor: int

    @property
    def total_minor(self) -> int:
        return self.computed.subtotal_minor + self.tax_minor


async def upcoming(session: AsyncSession, viewer: Viewer, subscription_id: uuid.UUID) -> Upcoming:
    sub = await visible_subscription(session, viewer, subscription_id)
    stretch = await session.scalar(
        select(BillingPeriod).where(
            BillingPeriod.subscription_id == sub.id, BillingPeriod.status == OPEN
        )
    )
    if stretch is None:
        raise Conflict("a cancelled subscription has no upcoming invoice", field="subscriptionId")
    if sub.cancel_at_period_end:  # it ends with this period: its last hour is billed too
        stretch = BillingPeriod(**{**_columns(stretch), "final": True})
    computed = await compute(session, sub, stretch)
    settings = await get_settings(session)
    tax = tax_minor(computed.subtotal_minor, settings.tax_rate)
    return Upcoming(sub, stretch, computed, settings.tax_rate, settings.tax_label, tax)


def _columns(p: BillingPeriod) -> dict[str, Any]:
    return {c.key: getattr(p, c.key) for c in BillingPeriod.__table__.columns}
