"""What one worker process shares with the others, and how it settles after start-up.

``shared_parts`` picks the cache, the bus and the shared state by ``Settings.bus_kind``:

* ``redis``: Redis for all three (several machines);
* ``postgres``: several workers on one database and no Redis - an in-process cache per worker
  (invalidated through the bus), PostgreSQL ``LISTEN/NOTIFY`` as the bus and an UNLOGGED
  table as the shared state;
* ``memory``: one process - everything in-process.
"""

from __future__ import annotations

import gc

from sqlalchemy.ext.asyncio import AsyncEngine

from aforo.config import Settings
from aforo.db import asyncpg_dsn
from aforo.runtime.bus import Bus, MemoryBus, RedisBus, bus_client
from aforo.runtime.cache import Cache, MemoryCache, RedisCache, redis_client
from aforo.runtime.pgbus import PgBus
from aforo.runtime.pgcache import PgCache

# Young-generation collections every 20,000 allocations instead of 700: a page of 100 items
# allocates tens of thousands of short-lived objects, and with the default threshold the
# collector ran a dozen times per request (and a full collection every hundred requests).
GC_THRESHOLDS = (20_000, 50, 100)


async def shared_parts(settings: Settings, engine: AsyncEngine) -> tuple[Cache, Bus, Cache]:
    kind = settings.bus_kind
    if kind == "redis":
        if not settings.redis_url:
            raise ValueError("AFORO_BUS=redis needs AFORO_REDIS_URL")
        redis = RedisCache(redis_client(settings.redis_url))
        return redis, RedisBus(bus_client(settings.redis_url)), redis
    if kind == "postgres":
        dsn = asyncpg_dsn(engine)
        bus = PgBus(dsn)
        await bus.start()
        shared = PgCache(dsn)
        shared.start()
        return MemoryCache(), bus, shared
    cache = MemoryCache()
    return cache, MemoryBus(), cache


def settle_heap() -> None:
    """Once the app is built: move what start-up allocated (schema, modules) out of the
    collector's sight, so a full collection scans only what requests allocate. Once per
    process (a process that builds many apps - the tests - pays it once)."""
    global _settled
    if _settled:
        return
    _settled = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


_settled = False
