"""Billing periods: the anchor, the current period, roll-over, plan changes, cancellation.

A subscription's periods are counted from its anchor (when it began): period *n* runs from
``anchor + n intervals`` to ``anchor + (n + 1) intervals``, each computed from the anchor, never
from the previous end, so a subscription anchored on 31 January runs to 28 (or 29) February,
then to 31 March. Times are UTC.

A *stretch* (a ``billing_periods`` row) is the part of a period billed on one plan: normally the
whole period; a plan change closes the current stretch at that moment and opens one on the new
plan for the rest of the period (a new plan with another interval starts a new anchor instead).
Closing a stretch drafts its invoice (``invoices.draft``) and opens the next period's stretch,
or, when the subscription ends, cancels it and revokes its keys, in the same transaction.

Locks are always taken subscription first, then its open stretch, so the billing job, plan
changes and cancellations never deadlock; the unique constraints (one invoice per stretch, one
stretch per start, one open stretch per subscription) make a second closer a no-op.

Usage is metered in whole hours (the rollups' grain): a stretch bills the hours from its start
rounded down to the hour to its end rounded down to the hour, so consecutive stretches share
each hour exactly once; the last stretch of a subscription also bills the hour it ends in.
"""

from __future__ import annotations

import uuid
from calendar import monthrange
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.db import utcnow
from aforo.errors import Conflict, NotFound
from aforo.models.api_keys import ApiKey
from aforo.models.billing import BillingPeriod, Invoice, Plan, Subscription
from aforo.services import api_keys, outbox
from aforo.services.billing import invoices
from aforo.services.billing.states import ACTIVE, CANCELLED, CLOSED, OPEN, TOPIC


# -- calendar ----------------------------------------------------------------------------------
def add_months(anchor: datetime, months: int) -> datetime:
    """``anchor`` plus whole calendar months, the day clamped to the month's last day."""
    y, m = divmod(anchor.month - 1 + months, 12)
    year, month = anchor.year + y, m + 1
    return anchor.replace(year=year, month=month, day=min(anchor.day, monthrange(year, month)[1]))


def interval_months(interval: str) -> int:
    return 12 if interval == "YEAR" else 1


def bounds(anchor: datetime, interval: str, seq: int) -> tuple[datetime, datetime]:
    k = interval_months(interval)
    return add_months(anchor, seq * k), add_months(anchor, (seq + 1) * k)


# -- opening -----------------------------------------------------------------------------------
async def open_stretch(
    session: AsyncSession,
    sub: Subscription,
    plan: Plan,
    *,
    seq: int,
    starts_at: datetime | None = None,
) -> BillingPeriod | None:
    """Open period ``seq`` of the subscription (from ``starts_at``, for a plan change) on
    ``plan``. Idempotent: None when that stretch exists already."""
    lo, hi = bounds(sub.billing_anchor, plan.interval, seq)
    row = await session.scalar(
        insert(BillingPeriod)
        .values(
            tenant_id=sub.tenant_id,
            subscription_id=sub.id,
            plan_id=plan.id,
            seq=seq,
            period_start=lo,
            period_end=hi,
            starts_at=starts_at or lo,
            ends_at=hi,
            status=OPEN,
        )
        .on_conflict_do_nothing()
        .returning(BillingPeriod)
    )
    return row


async def open_first(session: AsyncSession, sub: Subscription, plan: Plan) -> BillingPeriod:
    """The first period of a new subscription, anchored when it began."""
    opened = await open_stretch(session, sub, plan, seq=0)
    assert opened is not None  # a new subscription has no stretch yet
    return opened


async def _lock(
    session: AsyncSession, sub_id: uuid.UUID
) -> tuple[Subscription, BillingPeriod | None]:
    """Lock the subscription, then its open stretch (the one lock order)."""
    sub = await session.scalar(
        select(Subscription)
        .where(Subscription.id == sub_id)
        # NO KEY UPDATE: rows referencing the subscription (keys, periods) may still be
        # written meanwhile; every other closer, change or cancellation waits.
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    if sub is None:
        raise NotFound("no subscription with that id", field="subscriptionId")
    stretch = await session.scalar(
        select(BillingPeriod)
        .where(BillingPeriod.subscription_id == sub_id, BillingPeriod.status == OPEN)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return sub, stretch


async def current(session: AsyncSession, sub_id: uuid.UUID) -> BillingPeriod | None:
    stretch: BillingPeriod | None = await session.scalar(
        select(BillingPeriod).where(
            BillingPeriod.subscription_id == sub_id, BillingPeriod.status == OPEN
        )
    )
    return stretch


async def open_by_subscription_ids(
    session: AsyncSession, ids: list[uuid.UUID]
) -> list[BillingPeriod | None]:
    rows = await session.scalars(
        select(BillingPeriod).where(
            BillingPeriod.subscription_id.in_(ids), BillingPeriod.status == OPEN
        )
    )
    found = {p.subscription_id: p for p in rows}
    return [found.get(i) for i in ids]


# -- closing -----------------------------------------------------------------------------------
@dataclass
class Closed:
    invoice: Invoice | None = None  # None: nothing was closed (someone else did, or not due)
    revoked_keys: list[ApiKey] = field(default_factory=list)  # for cache invalidation


async def _close(
    session: AsyncSession,
    sub: Subscription,
    stretch: BillingPeriod,
    *,
    at: datetime,
    final: bool,
    actor_id: uuid.UUID | None,
) -> Invoice:
    """Close ``stretch`` at ``at`` and draft its invoice (the caller holds both locks)."""
    closed = await session.scalar(
        update(BillingPeriod)
        .where(BillingPeriod.id == stretch.id, BillingPeriod.status == OPEN)
        .values(status=CLOSED, ends_at=at, final=final, closed_at=utcnow())
        .returning(BillingPeriod)
        .execution_options(populate_existing=True)
    )
    assert closed is not None  # locked and open
    return await invoices.draft(session, sub, closed, actor_id=actor_id)


async def _end(
    session: AsyncSession, sub: Subscription, *, actor_id: uuid.UUID | None, at: datetime
) -> list[ApiKey]:
    """The subscription ends: its keys are revoked in the same transaction."""
    revoked = await api_keys.revoke_for_subscription(session, sub.id, actor_id=actor_id)
    await session.execute(
        update(Subscription)
        .where(Subscription.id == sub.id)
        .values(status=CANCELLED, cancelled_at=at)
        .execution_options(synchronize_session=False)
    )
    sub.status, sub.cancelled_at = CANCELLED, at
    return revoked


MAX_CATCH_UP = 240  # periods rolled over in one go (twenty years of monthly periods)


async def _roll_over(
    session: AsyncSession,
    sub: Subscription,
    stretch: BillingPeriod | None,
    *,
    now: datetime,
    limit: int = MAX_CATCH_UP,
) -> tuple[list[Invoice], BillingPeriod | None, list[ApiKey]]:
    """Close the (locked) subscription's stretches whose end has passed, at most ``limit``:
    each drafts its invoice and opens the next period, or, when the subscription was to end
    with it, cancels the subscription and revokes its keys. Returns the invoices drafted, the
    open stretch after, and the keys revoked."""
    drafted: list[Invoice] = []
    revoked: list[ApiKey] = []
    while stretch is not None and stretch.ends_at <= now and len(drafted) < limit:
        final = sub.cancel_at_period_end or sub.status != ACTIVE
        at = stretch.ends_at
        invoice = await _close(session, sub, stretch, at=at, final=final, actor_id=None)
        drafted.append(invoice)
        if final:
            revoked = await _end(session, sub, actor_id=None, at=at)
            await emit_cancelled(session, sub, revoked, invoice, at_period_end=True)
            return drafted, None, revoked
        plan = await session.scalar(select(Plan).where(Plan.id == sub.plan_id))
        assert plan is not None
        stretch = await open_stretch(session, sub, plan, seq=stretch.seq + 1)
    return drafted, stretch, revoked


async def close_due(
    session: AsyncSession, period_id: uuid.UUID, *, now: datetime | None = None
) -> Closed:
    """The billing job's step for one stretch whose end has passed: draft its invoice, then
    roll over into the next period, or end the subscription if it was to end with this one.
    Idempotent: a stretch closed already (or not due) is left alone."""
    sub_id = await session.scalar(
        select(BillingPeriod.subscription_id).where(BillingPeriod.id == period_id)
    )
    if sub_id is None:
        return Closed()
    sub, stretch = await _lock(session, sub_id)
    if stretch is None or stretch.id != period_id:
        return Closed()
    drafted, _, revoked = await _roll_over(session, sub, stretch, now=now or utcnow(), limit=1)
    return Closed(drafted[0] if drafted else None, revoked)


async def cancel_now(
    session: AsyncSession, sub: Subscription, *, actor_id: uuid.UUID | None
) -> tuple[list[ApiKey], Invoice | None]:
    """End the subscription at once: its keys are revoked and its current stretch is closed
    with a final invoice (the fixed fee prorated to the second). Periods that ended before
    now are closed first, as the billing job would have."""
    at = utcnow()
    _, stretch = await _lock(session, sub.id)
    drafted, stretch, revoked = await _roll_over(session, sub, stretch, now=at)
    if sub.status != ACTIVE:  # it was to end with a period that had ended already
        return revoked, drafted[-1]
    revoked = await _end(session, sub, actor_id=actor_id, at=at)
    invoice = None
    if stretch is not None:
        invoice = await _close(session, sub, stretch, at=at, final=True, actor_id=actor_id)
    return revoked, invoice


async def emit_cancelled(
    session: AsyncSession,
    sub: Subscription,
    revoked: list[ApiKey],
    invoice: Invoice | None,
    *,
    at_period_end: bool,
) -> None:
    await outbox.emit(
        session,
        TOPIC,
        "subscription.cancelled",
        {
            "subscription_id": sub.id,
            "user_id": sub.user_id,
            "team_id": sub.team_id,
            "revoked_key_ids": [k.id for k in revoked],
            "final_invoice_id": invoice.id if invoice else None,
            "at_period_end": at_period_end,
        },
    )


async def schedule_cancel(
    session: AsyncSession, sub_id: uuid.UUID, *, cancel: bool
) -> Subscription:
    """Cancel at the end of the current period (``cancel``), or take that back."""
    sub, stretch = await _lock(session, sub_id)
    if sub.status != ACTIVE:
        raise Conflict("this subscription is already cancelled", field="id")
    if sub.cancel_at_period_end == cancel:
        raise Conflict(
            "already set to end with its period" if cancel else "no cancellation is scheduled",
            field="id",
        )
    sub.cancel_at_period_end = cancel
    await session.flush()
    await outbox.emit(
        session,
        TOPIC,
        "subscription.cancellation_scheduled" if cancel else "subscription.resumed",
        {
            "subscription_id": sub.id,
            "user_id": sub.user_id,
            "ends_at": stretch.ends_at if stretch and cancel else None,
        },
    )
    return sub


@dataclass(frozen=True)
class PlanChanged:
    subscription: Subscription
    invoice: Invoice | None  # the closed stretch's invoice (None: nothing to close yet)


async def change_plan(
    session: AsyncSession,
    sub_id: uuid.UUID,
    plan_id: uuid.UUID,
    *,
    actor_id: uuid.UUID,
    as_admin: bool,
) -> PlanChanged:
    """Move a subscription to another plan of the same product, now. The current stretch is
    closed and invoiced (its fixed fee prorated to the second, its usage up to this hour); the
    new plan's stretch runs to the end of the period (or, for a plan with another interval, a
    new period starts now)."""
    sub, stretch = await _lock(session, sub_id)
    if not as_admin and sub.user_id != actor_id:
        raise NotFound("no subscription with that id", field="subscriptionId")
    if sub.status != ACTIVE:
        raise Conflict("this subscription is cancelled", field="subscriptionId")
    if sub.plan_id == plan_id:
        raise Conflict("the subscription is on this plan already", field="planId")
    old = await session.scalar(select(Plan).where(Plan.id == sub.plan_id))
    new = await session.scalar(select(Plan).where(Plan.id == plan_id))
    if new is None:
        raise NotFound("no plan with that id", field="planId")
    assert old is not None
    if new.archived_at is not None:
        raise Conflict("this plan is archived and takes no new subscriptions", field="planId")
    if new.product_id != old.product_id:
        raise Conflict("a subscription moves between plans of one product", field="planId")
    if new.currency != old.currency:
        raise Conflict("the new plan is billed in another currency", field="planId")
    taken = await session.scalar(
        select(Subscription.id).where(
            Subscription.user_id == sub.user_id,
            Subscription.plan_id == plan_id,
            Subscription.status == ACTIVE,
        )
    )
    if taken:
        raise Conflict("there is an active subscription to this plan already", field="planId")
    at = utcnow()
    _, stretch, _ = await _roll_over(session, sub, stretch, now=at)
    if sub.status != ACTIVE:
        raise Conflict("this subscription ended with its last period", field="subscriptionId")
    invoice = None
    if stretch is not None and at > stretch.starts_at:
        invoice = await _close(session, sub, stretch, at=at, final=False, actor_id=actor_id)
    elif stretch is not None:  # not a moment of the old plan has passed: no stretch to bill
        await session.execute(
            update(BillingPeriod).where(BillingPeriod.id == stretch.id).values(plan_id=new.id)
        )
    sub.plan_id = new.id
    if new.interval != old.interval:
        sub.billing_anchor = at
    await session.flush()
    if stretch is None or at > stretch.starts_at:
        if new.interval != old.interval:
            await open_stretch(session, sub, new, seq=0)
        else:
            assert stretch is not None
            await open_stretch(session, sub, new, seq=stretch.seq, starts_at=at)
    await outbox.emit(
        session,
        TOPIC,
        "subscription.plan_changed",
        {
            "subscription_id": sub.id,
            "user_id": sub.user_id,
            "from_plan_id": old.id,
            "to_plan_id": new.id,
            "invoice_id": invoice.id if invoice else None,
        },
    )
    return PlanChanged(sub, invoice)
