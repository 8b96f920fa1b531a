"""The lines of an invoice: the fixed fee, each metered charge, late-usage adjustments.

Computed from the hourly rollups (``rollups.usage_totals``) and the plan's prices, for a closed
stretch (drafting) or the open one (the upcoming invoice). An adjustment is priced as the
difference between what an earlier stretch's new total and its billed quantity cost under that
stretch's plan, so an invoice plus its adjustments equals what billing everything on time would
have cost, tiers and included units included.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.models.billing import BillingPeriod, Invoice, InvoiceLine, Plan, Subscription
from aforo.services.billing import charges as plan_charges
from aforo.services.billing.money import to_major
from aforo.services.billing.pricing import Charge, price
from aforo.services.billing.rollups import Window, metered_window, usage_totals
from aforo.services.billing.states import ADJUSTMENT, CLOSED, FIXED_FEE, USAGE


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
    lines = [] if not plan.price_cents else [_fee_line(plan, stretch)]
    window = windows[0]
    for c in charges[stretch.plan_id]:
        q = totals.get((stretch.id, c.metric), Decimal(0))
        priced = price(c, q, currency)
        lines.append(
            Line(
                kind=USAGE,
                description=c.metric,
                metric=c.metric,
                quantity=q,
                unit_price=priced.unit_price,
                amount_minor=priced.amount_minor,
                billing_period_id=stretch.id,
                period_start=window.start,
                period_end=window.end,
                detail=priced.detail(c),
            )
        )
    for (p, invoice_id, number), w in zip(earlier, windows[1:], strict=True):
        for c in charges[p.plan_id]:
            now_q = totals.get((p.id, c.metric), Decimal(0))
            was_q = billed.get((p.id, c.metric), Decimal(0))
            if now_q > was_q:
                lines.append(_adjustment(c, p, w, was_q, now_q, currency, invoice_id, number))
    return Computed(plan, currency, lines)


def _fee_line(plan: Plan, stretch: BillingPeriod) -> Line:
    amount, detail = fixed_fee(plan, stretch)
    label = f"{plan.name} plan, {_span(stretch.starts_at, stretch.ends_at)}"
    if detail["prorated"]:
        label += f" (prorated from {_span(stretch.period_start, stretch.period_end)})"
    return Line(
        kind=FIXED_FEE,
        description=label,
        metric=None,
        quantity=Decimal(1),
        unit_price=to_major(amount, plan.currency),
        amount_minor=amount,
        billing_period_id=stretch.id,
        period_start=stretch.starts_at,
        period_end=stretch.ends_at,
        detail=detail,
    )


def _adjustment(
    c: Charge,
    p: BillingPeriod,
    w: Window,
    was_q: Decimal,
    now_q: Decimal,
    currency: str,
    invoice_id: uuid.UUID,
    number: str | None,
) -> Line:
    """Late usage of an earlier stretch: what the new total costs under that stretch's plan
    less what the billed quantity cost, so tiers and included units come out as if on time."""
    was, now = price(c, was_q, currency), price(c, now_q, currency)
    return Line(
        kind=ADJUSTMENT,
        description=f"{c.metric}: late usage, {_span(p.starts_at, p.ends_at)} "
        f"(invoice {number or 'draft'})",
        metric=c.metric,
        quantity=now_q - was_q,
        unit_price=now.unit_price,
        amount_minor=now.amount_minor - was.amount_minor,
        billing_period_id=p.id,
        period_start=w.start,
        period_end=w.end,
        adjusts_invoice_id=invoice_id,
        detail={
            **now.detail(c),
            "billed_quantity": format(was_q, "f"),
            "new_quantity": format(now_q, "f"),
            "billed_amount_minor": was.amount_minor,
            "new_amount_minor": now.amount_minor,
        },
    )


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
