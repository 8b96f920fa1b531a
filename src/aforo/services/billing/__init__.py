"""Billing: products, plans and their prices, subscriptions, billing periods and invoices.

Cancelling a subscription revokes its keys in the same transaction: a key never outlives the
subscription it draws on. The sub-modules hold the rest: ``money`` (currencies, rounding),
``pricing`` (charge models), ``charges`` (stored prices), ``periods`` (anchors, roll-over, plan
changes, cancellation), ``rollups`` (the one read of usage), ``lines`` (an invoice's lines),
``invoices`` (drafting, finalizing, visibility), ``settings`` (tax rate, brand), ``closing``
(the billing job) and ``pdf`` (rendering). Their public functions are re-exported here.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.db import rows_by_ids, utcnow
from aforo.errors import Conflict, Forbidden, NotFound, ValidationFailed
from aforo.models.api_keys import ApiKey
from aforo.models.billing import Invoice, Plan, Product, Subscription
from aforo.services import account_settings, outbox, ownership
from aforo.services.billing import periods
from aforo.services.billing.charges import charges_by_plan_ids, save_charges
from aforo.services.billing.closing import close_due_periods
from aforo.services.billing.invoices import (
    Upcoming,
    Viewer,
    billing_scope,
    events_by_invoice_ids,
    finalize,
    get_invoice,
    lines_by_invoice_ids,
    list_invoices,
    mark_paid,
    upcoming,
    void,
)
from aforo.services.billing.money import exponent, to_major
from aforo.services.billing.pdf import invoice_pdf
from aforo.services.billing.periods import (
    PlanChanged,
    change_plan,
    close_due,
    open_by_subscription_ids,
    schedule_cancel,
)
from aforo.services.billing.pricing import Charge, Tier, validate_charges
from aforo.services.billing.settings import SettingsInput, get_settings, update_settings
from aforo.services.billing.states import ACTIVE, CANCELLED, INTERVALS, TOPIC
from aforo.services.ownership import Capability

__all__ = [
    "ACTIVE",
    "CANCELLED",
    "INTERVALS",
    "TOPIC",
    "Charge",
    "PlanChanged",
    "SettingsInput",
    "Tier",
    "Upcoming",
    "Viewer",
    "billing_scope",
    "change_plan",
    "charges_by_plan_ids",
    "close_due",
    "close_due_periods",
    "events_by_invoice_ids",
    "finalize",
    "get_invoice",
    "get_settings",
    "invoice_pdf",
    "lines_by_invoice_ids",
    "list_invoices",
    "mark_paid",
    "open_by_subscription_ids",
    "schedule_cancel",
    "to_major",
    "upcoming",
    "update_settings",
    "void",
]
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
MAX_PRICE_CENTS = 100_000_000_00  # a hundred million in any currency: beyond is a typo
MAX_DESCRIPTION = 20_000


def _name(value: str, field: str = "name") -> str:
    value = value.strip()
    if not value or len(value) > 200:
        raise ValidationFailed("must be 1-200 characters", field=field)
    return value


def _slug(value: str, field: str = "slug") -> str:
    if not _SLUG.match(value):
        raise ValidationFailed(
            "lower-case letters, digits and dashes, 1-63 characters", field=field
        )
    return value


async def _flush_unique(session: AsyncSession, message: str, field: str) -> None:
    """Flush in a savepoint so a concurrent duplicate becomes a Conflict, not a 500."""
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as e:
        raise Conflict(message, field=field) from e


# -- products and plans ----------------------------------------------------------------------
async def create_product(
    session: AsyncSession, *, name: str, slug: str, description: str = ""
) -> Product:
    name, slug = _name(name), _slug(slug)
    if len(description) > MAX_DESCRIPTION:
        raise ValidationFailed(f"at most {MAX_DESCRIPTION} characters", field="description")
    if await session.scalar(select(Product.id).where(Product.slug == slug)):
        raise Conflict("a product with this slug exists", field="slug")
    product = Product(
        tenant_id=session.info["tenant_id"], name=name, slug=slug, description=description
    )
    session.add(product)
    await _flush_unique(session, "a product with this slug exists", "slug")
    await outbox.emit(session, TOPIC, "product.created", {"product_id": product.id, "slug": slug})
    return product


async def list_products(session: AsyncSession, *, limit: int, offset: int = 0) -> list[Product]:
    rows = await session.scalars(
        select(Product).order_by(Product.created_at, Product.id).limit(limit).offset(offset)
    )
    return list(rows)


@dataclass(frozen=True)
class PlanInput:
    product_id: uuid.UUID
    name: str
    slug: str
    price_cents: int
    currency: str
    interval: str
    monthly_quota: int | None = None
    rate_limit_per_minute: int | None = None
    hard_quota: bool = False
    charges: tuple[Charge, ...] = ()  # metered prices, one per metric


def _validate_plan(p: PlanInput) -> list[Charge]:
    _name(p.name)
    _slug(p.slug)
    if not 0 <= p.price_cents <= MAX_PRICE_CENTS:
        raise ValidationFailed(f"must be 0-{MAX_PRICE_CENTS}", field="priceCents")
    exponent(p.currency)  # an ISO 4217 code with a minor unit, or a typed error
    if p.interval not in INTERVALS:
        raise ValidationFailed("MONTH or YEAR", field="interval")
    if p.monthly_quota is not None and not 1 <= p.monthly_quota <= 10**15:
        raise ValidationFailed("must be positive (omit it for unlimited)", field="monthlyQuota")
    if p.rate_limit_per_minute is not None and not 1 <= p.rate_limit_per_minute <= 10**9:
        raise ValidationFailed(
            "must be positive (omit it for no limit)", field="rateLimitPerMinute"
        )
    if p.hard_quota and p.monthly_quota is None:
        raise ValidationFailed("a hard quota needs a monthly quota", field="hardQuota")
    return validate_charges(p.charges)


async def create_plan(session: AsyncSession, data: PlanInput) -> Plan:
    """A plan with its fixed fee (``price_cents``, in the currency's minor unit, per interval)
    and metered charges. Prices never change afterwards: a new price is a new plan."""
    charges = _validate_plan(data)
    if not await session.scalar(select(Product.id).where(Product.id == data.product_id)):
        raise NotFound("no product with that id", field="productId")
    exists = await session.scalar(
        select(Plan.id).where(Plan.product_id == data.product_id, Plan.slug == data.slug)
    )
    if exists:
        raise Conflict("this product has a plan with this slug", field="slug")
    plan = Plan(
        tenant_id=session.info["tenant_id"],
        product_id=data.product_id,
        name=data.name.strip(),
        slug=data.slug,
        price_cents=data.price_cents,
        currency=data.currency,
        interval=data.interval,
        monthly_quota=data.monthly_quota,
        rate_limit_per_minute=data.rate_limit_per_minute,
        hard_quota=data.hard_quota,
    )
    session.add(plan)
    await _flush_unique(session, "this product has a plan with this slug", "slug")
    await save_charges(session, plan.id, charges)
    await outbox.emit(
        session, TOPIC, "plan.created", {"plan_id": plan.id, "product_id": plan.product_id}
    )
    return plan


async def archive_plan(session: AsyncSession, plan_id: uuid.UUID) -> Plan:
    """An archived plan takes no new subscriptions; existing ones keep running."""
    plan: Plan | None = await session.scalar(
        update(Plan)
        .where(Plan.id == plan_id, Plan.archived_at.is_(None))
        .values(archived_at=utcnow())
        .returning(Plan)
    )
    if plan is None:
        raise NotFound("no active plan with that id", field="id")
    await outbox.emit(session, TOPIC, "plan.archived", {"plan_id": plan.id})
    return plan


async def plans_by_product_ids(
    session: AsyncSession, product_ids: list[uuid.UUID], *, include_archived: bool = False
) -> list[list[Plan]]:
    """Batch for the ``plans_by_product_id`` dataloader: one list per product, in key order."""
    q = select(Plan).where(Plan.product_id.in_(product_ids))
    if not include_archived:
        q = q.where(Plan.archived_at.is_(None))
    grouped: dict[uuid.UUID, list[Plan]] = defaultdict(list)
    for plan in await session.scalars(q.order_by(Plan.price_cents, Plan.created_at)):
        grouped[plan.product_id].append(plan)
    return [grouped.get(i, []) for i in product_ids]


async def plans_by_ids(session: AsyncSession, ids: list[uuid.UUID]) -> list[Plan | None]:
    return await rows_by_ids(session, Plan, ids)


# -- subscriptions ---------------------------------------------------------------------------
async def subscribe(
    session: AsyncSession, user_id: uuid.UUID, plan_id: uuid.UUID, team_id: uuid.UUID | None = None
) -> Subscription:
    """Subscribe the caller, or (``team_id``) a team the caller may manage billing for."""
    await account_settings.require_verified(session, user_id)
    if team_id is not None:
        await ownership.require(
            session,
            user_id,
            team_id=team_id,
            owner_id=user_id,
            cap=Capability.MANAGE_SUBSCRIPTIONS,
            missing=NotFound("no team with that id", field="teamId"),
        )
    plan = await session.scalar(select(Plan).where(Plan.id == plan_id))
    if plan is None:
        raise NotFound("no plan with that id", field="planId")
    if plan.archived_at is not None:
        raise Conflict("this plan is archived and takes no new subscriptions", field="planId")
    owner = (
        Subscription.team_id == team_id
        if team_id is not None
        else (Subscription.user_id == user_id) & Subscription.team_id.is_(None)
    )
    taken = await session.scalar(
        select(Subscription.id).where(
            owner, Subscription.plan_id == plan_id, Subscription.status == ACTIVE
        )
    )
    who = "this team has" if team_id is not None else "you already have"
    if taken:
        raise Conflict(f"{who} an active subscription to this plan", field="planId")
    now = utcnow()
    sub = Subscription(
        tenant_id=session.info["tenant_id"],
        user_id=user_id,
        plan_id=plan_id,
        team_id=team_id,
        status=ACTIVE,
        created_at=now,
        billing_anchor=now,
    )
    session.add(sub)
    await _flush_unique(session, f"{who} an active subscription to this plan", "planId")
    await periods.open_first(session, sub, plan)
    await outbox.emit(
        session,
        TOPIC,
        "subscription.created",
        {"subscription_id": sub.id, "plan_id": plan_id, "user_id": user_id, "team_id": team_id},
    )
    return sub


async def list_subscriptions(
    session: AsyncSession,
    *,
    user_id: uuid.UUID | None,
    status: str | None,
    limit: int,
    offset: int = 0,
) -> list[Subscription]:
    q = select(Subscription)
    if user_id is not None:  # theirs and their teams' (ownership.visible)
        q = q.where(
            ownership.visible(
                Subscription.team_id, Subscription.user_id, user_id, Capability.VIEW_SUBSCRIPTIONS
            )
        )
    if status is not None:
        q = q.where(Subscription.status == status)
    q = q.order_by(Subscription.created_at.desc(), Subscription.id).limit(limit).offset(offset)
    return list(await session.scalars(q))


async def get_subscription(session: AsyncSession, sub_id: uuid.UUID) -> Subscription:
    sub = await session.scalar(select(Subscription).where(Subscription.id == sub_id))
    if sub is None:
        raise NotFound("no subscription with that id", field="id")
    return sub


@dataclass(frozen=True)
class Cancelled:
    subscription: Subscription
    revoked_keys: list[ApiKey]  # for cache invalidation once committed
    invoice: Invoice | None = None  # the final invoice (cancelled at once)


async def cancel_subscription(
    session: AsyncSession,
    sub_id: uuid.UUID,
    *,
    actor_id: uuid.UUID,
    as_admin: bool,
    at_period_end: bool = False,
) -> Cancelled:
    """Cancel at once: revoke every key bound to the subscription and close its period with a
    final invoice, all in the caller's transaction. ``at_period_end``: it runs (keys and all)
    until its current period ends, when the billing job ends it the same way.

    The row is locked first so a concurrent key creation on this subscription waits and then
    sees it cancelled."""
    sub = await session.scalar(
        select(Subscription).where(Subscription.id == sub_id).with_for_update()
    )
    if sub is None:
        raise NotFound("no subscription with that id", field="id")
    if not as_admin:
        await ownership.require(
            session,
            actor_id,
            team_id=sub.team_id,
            owner_id=sub.user_id,
            cap=Capability.MANAGE_SUBSCRIPTIONS,
            missing=NotFound("no subscription with that id", field="id"),
        )
    if sub.status != ACTIVE:
        raise Conflict("this subscription is already cancelled", field="id")
    if at_period_end:
        return Cancelled(await periods.schedule_cancel(session, sub.id, cancel=True), [])
    revoked, invoice = await periods.cancel_now(session, sub, actor_id=actor_id)
    await periods.emit_cancelled(session, sub, revoked, invoice, at_period_end=False)
    return Cancelled(sub, revoked, invoice)


async def resume_subscription(
    session: AsyncSession, sub_id: uuid.UUID, *, actor_id: uuid.UUID, as_admin: bool
) -> Subscription:
    """Take back a cancellation scheduled for the end of the period."""
    sub = await session.scalar(select(Subscription).where(Subscription.id == sub_id))
    if sub is None:
        raise NotFound("no subscription with that id", field="id")
    if not as_admin:
        await ownership.require(
            session,
            actor_id,
            team_id=sub.team_id,
            owner_id=sub.user_id,
            cap=Capability.MANAGE_SUBSCRIPTIONS,
            missing=NotFound("no subscription with that id", field="id"),
        )
    return await periods.schedule_cancel(session, sub_id, cancel=False)


def require_owner_or_admin(owner: uuid.UUID, actor: uuid.UUID, as_admin: bool) -> None:
    if not as_admin and owner != actor:
        raise Forbidden("not your subscription", field="subscriptionId")
