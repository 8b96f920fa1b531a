"""Invoices: drafted from a closed stretch's rollups, then finalized, paid or voided.

A draft has one line for the plan's fixed fee (prorated to the second when the stretch is
part of a period), one per metered charge (quantity, unit price or tier breakdown, amount) and
one adjustment per metric of an earlier stretch whose usage grew after it was invoiced (late
events); ``lines`` computes them. A finalized invoice is never edited (the database refuses it
too): late usage goes to the next invoice. Voiding forgives an invoice; its usage is not billed
again.

Finalizing numbers the invoice (``PREFIX-000042``), per tenant, without gaps: the number is
taken under the tenant's counter row lock in the finalizing transaction, so two finalizations
queue and a rolled-back one gives its number back. Each transition is written to the invoice's
audit trail and emitted on ``aforo.billing.events``: ``invoice.drafted``,
``invoice.finalized`` (what a payment provider consumes to collect), ``invoice.paid``,
``invoice.voided``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, false, insert, select, true, update
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
    Subscription,
)
from aforo.services import outbox, ownership
from aforo.services.billing.lines import Computed, compute
from aforo.services.billing.money import tax_minor, to_major
from aforo.services.billing.settings import get_settings
from aforo.services.billing.states import (
    DRAFT,
    FINALIZED,
    INVOICE_STATUSES,
    OPEN,
    PAID,
    TOPIC,
    VOID,
)
from aforo.services.ownership import Capability


# -- who reads which invoices --------------------------------------------------------------------
@dataclass(frozen=True)
class Viewer:
    user_id: uuid.UUID | None
    is_admin: bool


def billing_scope(viewer: Viewer) -> ColumnElement[bool]:
    """The one rule for whose billing a caller reads (invoices, upcoming invoices, PDFs), as a
    condition on ``subscriptions``: an admin reads the whole tenant's; anyone else the
    subscriptions they own, and their teams' where their team role may see invoices (OWNER,
    ADMIN, BILLING; not MEMBER)."""
    if viewer.is_admin:
        return true()
    if viewer.user_id is None:
        return false()
    return ownership.visible(
        Subscription.team_id, Subscription.user_id, viewer.user_id, Capability.VIEW_INVOICES
    )


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
