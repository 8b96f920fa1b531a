"""Reading usage: rollup buckets, the current period against the plan's quota, the events
themselves (newest first, keyset-paginated) and the dead letters.

Who sees what: admins see the whole tenant; anyone else only the subscriptions they own or
their teams own (``owner`` is then their user id and every query is confined to those
subscriptions, by ``ownership.visible``).
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.errors import DomainError, Forbidden, NotFound, ValidationFailed
from aforo.models.billing import Plan, Subscription
from aforo.models.usage import UsageEvent, UsageRejection, UsageRollup
from aforo.services import ownership
from aforo.services.ownership import Capability

GRANULARITIES = ("hour", "day", "month")
# The metrics a plan's monthly quota counts: calls, whichever way they were observed.
QUOTA_METRICS = ("api_calls", "mcp_tool_calls")
MAX_BUCKETS = 2000


@dataclass(frozen=True)
class UsageFilter:
    subscription_id: uuid.UUID | None = None
    key_id: uuid.UUID | None = None
    metric: str | None = None
    tool: str | None = None
    agent: str | None = None
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive


@dataclass(frozen=True)
class Bucket:
    start: datetime
    quantity: Decimal | None  # None: the bucket holds several metrics (not addable)
    events: int


@dataclass(frozen=True)
class MetricSeries:
    metric: str
    buckets: list[Bucket]
    total: Decimal
    events: int


@dataclass(frozen=True)
class UsageSeries:
    """Quantities of different metrics (calls, tokens, bytes) are never added together: with
    several metrics in range, ``total`` and each bucket's ``quantity`` are None and
    ``by_metric`` carries one series per metric. Event counts always add."""

    buckets: list[Bucket]
    total: Decimal | None
    events: int
    metric: str | None = None
    by_metric: list[MetricSeries] = field(default_factory=list)


@dataclass(frozen=True)
class CurrentUsage:
    subscription_id: uuid.UUID
    used: Decimal
    quota: int | None
    remaining: Decimal | None
    hard: bool
    period_start: datetime
    period_end: datetime

    @property
    def exceeded(self) -> bool:
        return self.quota is not None and self.used >= self.quota


def month_period(now: datetime | None = None) -> tuple[datetime, datetime]:
    now = (now or datetime.now(UTC)).astimezone(UTC)
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    end = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


async def owned_subscriptions(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    """Theirs and their teams' (``ownership.visible``)."""
    return list(
        await session.scalars(
            select(Subscription.id).where(
                ownership.visible(
                    Subscription.team_id, Subscription.user_id, user_id, Capability.VIEW_USAGE
                )
            )
        )
    )


def _validate(f: UsageFilter) -> None:
    if f.start and f.end and f.start >= f.end:
        raise ValidationFailed("from must be before to", field="from")
    for name in ("metric", "tool", "agent"):
        v = getattr(f, name)
        if v is not None and len(v) > 200:
            raise ValidationFailed(f"{name} is longer than 200 characters", field=name)


def _conditions(model: Any, f: UsageFilter, allowed: list[uuid.UUID] | None) -> list[Any]:
    c: list[Any] = []
    if allowed is not None:
        c.append(model.subscription_id.in_(allowed))
    if f.subscription_id is not None:
        c.append(model.subscription_id == f.subscription_id)
    if f.key_id is not None:
        c.append(model.key_id == f.key_id)
    for name in ("metric", "tool", "agent"):
        if getattr(f, name) is not None:
            c.append(getattr(model, name) == getattr(f, name))
    return c


async def _allowed(session: AsyncSession, owner: uuid.UUID | None) -> list[uuid.UUID] | None:
    return None if owner is None else await owned_subscriptions(session, owner)


async def usage(
    session: AsyncSession, f: UsageFilter, granularity: str, *, owner: uuid.UUID | None
) -> UsageSeries:
    """Buckets from the hourly rollups (``from`` is rounded down and ``to`` up to the hour)."""
    _validate(f)
    if granularity not in GRANULARITIES:
        raise ValidationFailed(f"granularity must be one of {GRANULARITIES}", field="granularity")
    allowed = await _allowed(session, owner)
    c = _conditions(UsageRollup, f, allowed)
    if f.start is not None:
        c.append(UsageRollup.hour >= func.date_trunc("hour", f.start, "UTC"))
    if f.end is not None:
        c.append(UsageRollup.hour < f.end)
    bucket = func.date_trunc(granularity, UsageRollup.hour, "UTC").label("bucket")
    rows = (
        await session.execute(
            select(
                bucket,
                UsageRollup.metric,
                func.sum(UsageRollup.quantity),
                func.sum(UsageRollup.events),
            )
            .where(*c)
            .group_by(bucket, UsageRollup.metric)
            .order_by(bucket, UsageRollup.metric)
            .limit(MAX_BUCKETS * 20 + 1)
        )
    ).all()
    per_metric: dict[str, list[Bucket]] = {}
    for start, metric, quantity, events in rows:
        per_metric.setdefault(metric, []).append(
            Bucket(start.astimezone(UTC), quantity, int(events))
        )
    starts = sorted({b.start for bs in per_metric.values() for b in bs})
    if len(starts) > MAX_BUCKETS or len(rows) > MAX_BUCKETS * 20:
        raise ValidationFailed(
            f"more than {MAX_BUCKETS} buckets: narrow from/to or widen granularity", field="from"
        )
    by_metric = [
        MetricSeries(
            m,
            bs,
            sum((b.quantity or Decimal(0) for b in bs), Decimal(0)),
            sum(b.events for b in bs),
        )
        for m, bs in sorted(per_metric.items())
    ]
    if len(by_metric) == 1:
        only = by_metric[0]
        return UsageSeries(only.buckets, only.total, only.events, only.metric, by_metric)
    events_at: dict[datetime, int] = {}
    for series in by_metric:
        for b in series.buckets:
            events_at[b.start] = events_at.get(b.start, 0) + b.events
    buckets = [
        Bucket(start, None if by_metric else Decimal(0), events_at[start]) for start in starts
    ]
    total = None if by_metric else Decimal(0)
    return UsageSeries(buckets, total, sum(events_at.values()), None, by_metric)


async def current_usage(
    session: AsyncSession,
    subscription_id: uuid.UUID,
    *,
    owner: uuid.UUID | None,
    now: datetime | None = None,
) -> CurrentUsage:
    row = (
        await session.execute(
            select(Subscription.user_id, Subscription.team_id, Plan.monthly_quota, Plan.hard_quota)
            .join(
                Plan,
                and_(Plan.tenant_id == Subscription.tenant_id, Plan.id == Subscription.plan_id),
            )
            .where(Subscription.id == subscription_id)
        )
    ).first()
    if row is None or (
        owner is not None
        and not await ownership.allows(
            session, owner, team_id=row.team_id, owner_id=row.user_id, cap=Capability.VIEW_USAGE
        )
    ):
        raise NotFound("no subscription with that id", field="subscriptionId")
    return await _current(session, subscription_id, row.monthly_quota, row.hard_quota, now)


async def _current(
    session: AsyncSession,
    subscription_id: uuid.UUID,
    quota: int | None,
    hard: bool,
    now: datetime | None = None,
) -> CurrentUsage:
    start, end = month_period(now)
    used = await session.scalar(
        select(func.coalesce(func.sum(UsageRollup.quantity), 0)).where(
            UsageRollup.subscription_id == subscription_id,
            UsageRollup.metric.in_(QUOTA_METRICS),
            UsageRollup.hour >= start,
            UsageRollup.hour < end,
        )
    )
    used = Decimal(used or 0)
    remaining = None if quota is None else max(Decimal(quota) - used, Decimal(0))
    return CurrentUsage(subscription_id, used, quota, remaining, hard, start, end)


async def quota_for_subscriptions(
    session: AsyncSession, subscription_ids: list[uuid.UUID]
) -> list[CurrentUsage]:
    """The current period of several subscriptions in two statements (key verification)."""
    if not subscription_ids:
        return []
    plans = (
        await session.execute(
            select(Subscription.id, Plan.monthly_quota, Plan.hard_quota)
            .join(
                Plan,
                and_(Plan.tenant_id == Subscription.tenant_id, Plan.id == Subscription.plan_id),
            )
            .where(Subscription.id.in_(subscription_ids))
        )
    ).all()
    start, end = month_period()
    used = dict(
        (r[0], r[1])
        for r in (
            await session.execute(
                select(UsageRollup.subscription_id, func.sum(UsageRollup.quantity))
                .where(
                    UsageRollup.subscription_id.in_(subscription_ids),
                    UsageRollup.metric.in_(QUOTA_METRICS),
                    UsageRollup.hour >= start,
                    UsageRollup.hour < end,
                )
                .group_by(UsageRollup.subscription_id)
            )
        ).all()
    )
    out = []
    for sid, quota, hard in plans:
        u = Decimal(used.get(sid) or 0)
        remaining = None if quota is None else max(Decimal(quota) - u, Decimal(0))
        out.append(CurrentUsage(sid, u, quota, remaining, hard, start, end))
    return out


# -- events, newest first ---------------------------------------------------------------------
def encode_cursor(at: datetime, key: str) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{key}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, _, key = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(at), key
    except (ValueError, UnicodeDecodeError):
        raise DomainError("not a valid cursor", field="after", code="INVALID") from None


async def list_events(
    session: AsyncSession,
    f: UsageFilter,
    *,
    owner: uuid.UUID | None,
    first: int,
    after: str | None = None,
    source: str | None = None,
) -> tuple[list[UsageEvent], bool]:
    """(a page of events, whether there are more). Keyset on (occurred_at, event_id) desc,
    which is the primary key's order: a page is an index range scan however deep."""
    _validate(f)
    allowed = await _allowed(session, owner)
    c = _conditions(UsageEvent, f, allowed)
    if f.start is not None:
        c.append(UsageEvent.occurred_at >= f.start)
    if f.end is not None:
        c.append(UsageEvent.occurred_at < f.end)
    if source is not None:
        c.append(UsageEvent.source == source)
    if after:
        at, key = decode_cursor(after)
        c.append(
            or_(
                UsageEvent.occurred_at < at,
                and_(UsageEvent.occurred_at == at, UsageEvent.event_id < key),
            )
        )
    rows = list(
        await session.scalars(
            select(UsageEvent)
            .where(*c)
            .order_by(UsageEvent.occurred_at.desc(), UsageEvent.event_id.desc())
            .limit(first + 1)
        )
    )
    return rows[:first], len(rows) > first


async def list_rejections(
    session: AsyncSession,
    *,
    first: int,
    after: str | None = None,
    upload_id: uuid.UUID | None = None,
    source: str | None = None,
    code: str | None = None,
) -> tuple[list[UsageRejection], bool]:
    c: list[ColumnElement[bool]] = []
    if upload_id is not None:
        c.append(UsageRejection.upload_id == upload_id)
    if source is not None:
        c.append(UsageRejection.source == source)
    if code is not None:
        c.append(UsageRejection.code == code)
    if after:
        at, key = decode_cursor(after)
        try:
            rid = uuid.UUID(key)
        except ValueError:
            raise DomainError("not a valid cursor", field="after", code="INVALID") from None
        c.append(
            or_(
                UsageRejection.created_at < at,
                and_(UsageRejection.created_at == at, UsageRejection.id < rid),
            )
        )
    rows = list(
        await session.scalars(
            select(UsageRejection)
            .where(*c)
            .order_by(UsageRejection.created_at.desc(), UsageRejection.id.desc())
            .limit(first + 1)
        )
    )
    return rows[:first], len(rows) > first


def require_admin_or_owner(is_admin: bool, owner: uuid.UUID | None) -> uuid.UUID | None:
    """``None`` (no restriction) for admins, else the caller's user id."""
    if is_admin:
        return None
    if owner is None:
        raise Forbidden("sign in first", code="UNAUTHENTICATED")
    return owner
