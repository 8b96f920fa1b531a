"""The billing job: closes every billing period whose end has passed, in every tenant.

Each stretch is closed in a transaction of its own (``periods.close_due``: invoice drafted,
next period opened or subscription ended, keys revoked), so a failure or a database restart
loses at most the one in flight, which the next pass closes. Running the job twice, or on
several instances at once, closes nothing twice: the closer locks the subscription and finds
the stretch closed, and the unique constraints refuse a second invoice or period regardless.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import select

from aforo.db import utcnow
from aforo.models.billing import BillingPeriod
from aforo.runtime.state import Runtime
from aforo.services.billing import periods
from aforo.services.billing.states import OPEN
from aforo.services.key_verify import verifier
from aforo.tenancy import ops

log = logging.getLogger(__name__)
BATCH = 200
MAX_PASSES = 50  # a pass closes what is due; the next one what those roll over into


async def _due(
    runtime: Runtime, now: datetime, tenant_id: uuid.UUID | None
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    if tenant_id is None:  # before any tenant is bound: the one cross-tenant lookup
        async with runtime.maker() as s:
            return await ops.billing_due_periods(s, now, BATCH)
    async with runtime.transaction(tenant_id) as s:
        ids = await s.scalars(
            select(BillingPeriod.id)
            .where(BillingPeriod.status == OPEN, BillingPeriod.ends_at <= now)
            .order_by(BillingPeriod.ends_at)
            .limit(BATCH)
        )
        return [(tenant_id, i) for i in ids]


async def close_one(
    runtime: Runtime, tenant_id: uuid.UUID, period_id: uuid.UUID, now: datetime
) -> uuid.UUID | None:
    """Close one due stretch in its own transaction; returns the invoice drafted (None: it
    was closed already, or failed and is left for the next pass)."""
    try:
        async with runtime.transaction(tenant_id) as s:
            closed = await periods.close_due(s, period_id, now=now)
    except Exception:  # one broken subscription must not stop the others
        log.exception("billing period %s of tenant %s could not be closed", period_id, tenant_id)
        return None
    if closed.revoked_keys:  # committed: the keys must stop verifying everywhere now
        await verifier(runtime).invalidate_keys(closed.revoked_keys)
    return closed.invoice.id if closed.invoice else None


async def close_due_periods(
    runtime: Runtime, *, now: datetime | None = None, tenant_id: uuid.UUID | None = None
) -> list[uuid.UUID]:
    """Close every due period (of one tenant, or of all), rolling over as often as needed;
    returns the invoices drafted."""
    drafted: list[uuid.UUID] = []
    for _ in range(MAX_PASSES):
        at = now or utcnow()
        batch = await _due(runtime, at, tenant_id)
        closed = [i for i in [await close_one(runtime, t, p, at) for t, p in batch] if i]
        drafted += closed
        if not closed:  # nothing more to do, or only failures left for the next run
            break
    return drafted


async def loop(
    runtime: Runtime,
    interval_s: float,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Run the job every ``interval_s`` seconds for the app's lifetime."""
    while True:
        await sleep(interval_s)
        try:
            done = await close_due_periods(runtime)
            if done:
                log.info("billing: drafted %d invoices", len(done))
        except Exception:  # the database away: try again next time
            log.exception("billing pass failed")
