"""Live sync: specs imported from a URL are re-fetched on a schedule.

The scheduler lists due specs of every tenant through one ops function (the tenant is not known
yet), then syncs each in its own tenant-bound transaction. A failed fetch or an invalid document
is recorded on the spec (``last_error``) and never stops the loop.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aforo.db import utcnow
from aforo.errors import DomainError
from aforo.services.spec_import import worker
from aforo.services.specs import imports as specs

log = logging.getLogger(__name__)
BATCH = 50

Transaction = Callable[[uuid.UUID], AbstractAsyncContextManager[AsyncSession]]


async def due(
    maker: async_sessionmaker[AsyncSession], interval_s: float
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    before = utcnow() - timedelta(seconds=interval_s)
    async with maker() as s:
        rows = await s.execute(
            text("select tenant_id, spec_id from ops.spec_sync_due(:b, :n)"),
            {"b": before, "n": BATCH},
        )
        return [(r.tenant_id, r.spec_id) for r in rows]


async def sync_one(
    transaction: Transaction,
    tenant_id: uuid.UUID,
    spec_id: uuid.UUID,
    limits: worker.Limits | None = None,
) -> None:
    try:
        async with transaction(tenant_id) as s:
            try:
                await specs.sync_spec(s, spec_id, limits=limits)
            except DomainError as e:
                # sync_spec stored last_error and last_checked_at; commit that, not a rollback.
                log.info("spec %s sync failed: %s", spec_id, e.code)
    except Exception:  # one broken spec or tenant must not stop the others
        log.exception("spec %s sync crashed", spec_id)


async def run_once(
    maker: async_sessionmaker[AsyncSession],
    transaction: Transaction,
    interval_s: float,
    limits: worker.Limits | None = None,
) -> int:
    batch = await due(maker, interval_s)
    for tenant_id, spec_id in batch:
        await sync_one(transaction, tenant_id, spec_id, limits)
    return len(batch)


async def loop(
    maker: async_sessionmaker[AsyncSession],
    transaction: Transaction,
    interval_s: float,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    limits: worker.Limits | None = None,
) -> None:
    while True:
        # Sleep first: a freshly started app (or a test) does no fetching in its first moments.
        await sleep(interval_s)
        try:
            await run_once(maker, transaction, interval_s, limits)
        except Exception:
            log.exception("spec sync pass failed")
