"""The one read billing makes of metered usage: the hourly rollups, summed per window.

This is the seam with the usage domain: the rollup table (``usage_rollups``: one row per hour,
metric, subscription, key, tool and agent, each event counted exactly once) is read here and
nowhere else in billing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.models.billing import BillingPeriod


@dataclass(frozen=True)
class Window:
    """Hours ``start`` (inclusive) to ``end`` (exclusive), both on the hour."""

    id: uuid.UUID  # the billing period the window meters
    start: datetime
    end: datetime


def floor_hour(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(t: datetime) -> datetime:
    f = floor_hour(t)
    return f if f == t else f + timedelta(hours=1)


def metered_window(p: BillingPeriod) -> Window:
    """The hours a stretch bills: from its start to its end, each rounded down to the hour
    (so consecutive stretches share out every hour exactly once); a subscription's last
    stretch also bills the hour it ends in."""
    end = ceil_hour(p.ends_at) if p.final else floor_hour(p.ends_at)
    return Window(p.id, floor_hour(p.starts_at), max(end, floor_hour(p.starts_at)))


_TOTALS = text(
    """
    select w.id, r.metric, sum(r.quantity) as quantity
    from unnest(cast(:ids as uuid[]), cast(:starts as timestamptz[]),
                cast(:ends as timestamptz[])) as w(id, lo, hi)
    join usage_rollups r on r.subscription_id = :sub and r.hour >= w.lo and r.hour < w.hi
    group by w.id, r.metric
    """
)


async def usage_totals(
    session: AsyncSession, subscription_id: uuid.UUID, windows: Sequence[Window]
) -> dict[tuple[uuid.UUID, str], Decimal]:
    """(window id, metric) -> the summed quantity of the subscription's usage in the window,
    in one statement (an index range scan per window on (tenant, subscription, hour))."""
    if not windows:
        return {}
    rows = await session.execute(
        _TOTALS,
        {
            "sub": subscription_id,
            "ids": [w.id for w in windows],
            "starts": [w.start for w in windows],
            "ends": [w.end for w in windows],
        },
    )
    return {(r.id, r.metric): Decimal(r.quantity) for r in rows}
