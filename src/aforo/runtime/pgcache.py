"""The cache protocol on PostgreSQL: state several worker processes must share without Redis.

Each process keeps its own in-process cache for what is only an optimisation (credential and
key lookups, invalidated through the bus). What must be the same for every worker - a rate
counter, a try-it run's event log a follower on another worker reads - lives here, in the
UNLOGGED ``shared_cache`` table, one statement per operation on a bare pooled connection.
Keys carry the tenant id, as Redis keys do. Expired entries are ignored when read and swept
every minute.

As with Redis, a failure is logged and answered as a miss; counters fall back to counting in
the process, so a limit degrades to per-worker, never vanishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aforo.db import LookupPool
from aforo.runtime.cache import MemoryCache
from aforo.runtime.tasks import stop_tasks

log = logging.getLogger(__name__)

SWEEP_S = 60.0
_GET = "select value from shared_cache where key = $1 and expires_at > now()"
_SET = """
    insert into shared_cache (key, value, counter, expires_at)
    values ($1, $2, 0, now() + make_interval(secs => $3))
    on conflict (key) do update
       set value = excluded.value, counter = 0, expires_at = excluded.expires_at"""
_DELETE = "delete from shared_cache where key = any($1::text[])"
# A window that has expired starts again at the amount added, with a new expiry.
_INCR = """
    insert into shared_cache as c (key, value, counter, expires_at)
    values ($1, null, $3, now() + make_interval(secs => $2))
    on conflict (key) do update
       set counter = case when c.expires_at <= now() then $3 else c.counter + $3 end,
           expires_at = case when c.expires_at <= now() then excluded.expires_at
                             else c.expires_at end
    returning counter"""
_COUNTER = "select counter from shared_cache where key = $1 and expires_at > now()"
_DECR = """
    update shared_cache set counter = greatest(counter - $2, 0)
     where key = $1 and expires_at > now()
    returning counter"""
_PURGE = "delete from shared_cache where starts_with(key, $1)"
_SWEEP = "delete from shared_cache where expires_at <= now()"


class PgCache:
    def __init__(self, dsn: str, size: int = 4) -> None:
        self.pool = LookupPool(dsn, size)
        self._fallback = MemoryCache(10_000)
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep(), name="shared-cache-sweep")

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            with contextlib.suppress(Exception):  # the next sweep tries again
                await self.pool.fetch(_SWEEP)

    async def get(self, key: str) -> bytes | None:
        try:
            rows = await self.pool.fetch(_GET, key)
        except Exception as e:
            log.warning("shared cache get failed, treating as a miss: %s", type(e).__name__)
            return None
        value = rows[0]["value"] if rows else None
        return bytes(value) if value is not None else None

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        try:
            await self.pool.fetch(_SET, key, value, float(ttl_s))
        except Exception as e:
            log.warning("shared cache set failed: %s", type(e).__name__)

    async def delete(self, *keys: str) -> None:
        if not keys:
            return
        try:
            await self.pool.fetch(_DELETE, list(keys))
        except Exception as e:
            log.warning("shared cache delete failed: %s", type(e).__name__)

    async def incr(self, key: str, ttl_s: float, amount: int = 1) -> int:
        """Add ``amount`` to a counter that lives ``ttl_s`` from its first increment (a rate
        window), atomically across processes."""
        try:
            rows = await self.pool.fetch(_INCR, key, float(ttl_s), amount)
            return int(rows[0]["counter"])
        except Exception as e:
            log.warning("shared cache incr failed, counting in-process: %s", type(e).__name__)
            count = 0
            for _ in range(max(1, amount)):
                count = await self._fallback.incr(key, ttl_s)
            return count

    async def counter(self, key: str) -> int:
        """A counter's value (0 when absent or expired)."""
        try:
            rows = await self.pool.fetch(_COUNTER, key)
        except Exception as e:
            log.warning("shared cache read failed, treating as zero: %s", type(e).__name__)
            return 0
        return int(rows[0]["counter"]) if rows else 0

    async def decr(self, key: str, amount: int = 1) -> int:
        """Take ``amount`` back from a live counter (never below 0)."""
        try:
            rows = await self.pool.fetch(_DECR, key, amount)
        except Exception as e:
            log.warning("shared cache decr failed: %s", type(e).__name__)
            return 0
        return int(rows[0]["counter"]) if rows else 0

    async def purge(self, prefix: str) -> bool:
        try:
            await self.pool.fetch(_PURGE, prefix)
            return True
        except Exception as e:
            log.warning("shared cache purge failed: %s", type(e).__name__)
            return False

    async def close(self) -> None:
        if self._sweeper is not None:
            await stop_tasks([self._sweeper])
            self._sweeper = None
        await self.pool.close()
