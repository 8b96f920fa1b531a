"""The cache: Redis when configured, in-process otherwise. Keys always carry the tenant id.

A cache is an optimisation, never a source of truth: every Redis failure is logged and
answered as a miss, so callers fall back to the database and keep serving.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class Cache(Protocol):
    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl_s: float) -> None: ...
    async def delete(self, *keys: str) -> None: ...
    async def incr(self, key: str, ttl_s: float) -> int: ...
    async def purge(self, prefix: str) -> bool: ...
    async def close(self) -> None: ...


class MemoryCache:
    """A TTL dict, bounded: the oldest entries go first when it is full."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._data: dict[str, tuple[float, bytes]] = {}
        self._max = max_entries

    async def get(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[0] < time.monotonic():
            self._data.pop(key, None)
            return None
        return item[1]

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        if len(self._data) >= self._max:
            for k in list(self._data)[: self._max // 10 or 1]:
                del self._data[k]
        self._data[key] = (time.monotonic() + ttl_s, value)

    async def delete(self, *keys: str) -> None:
        self.discard(*keys)

    def discard(self, *keys: str) -> None:
        """``delete``, synchronously (an invalidation must land before the next request)."""
        for k in keys:
            self._data.pop(k, None)

    async def incr(self, key: str, ttl_s: float) -> int:
        """Add one to a counter that lives ``ttl_s`` from its first increment (a rate window)."""
        item = self._data.get(key)
        now = time.monotonic()
        if item is None or item[0] < now:
            item = (now + ttl_s, b"0")
        count = int(item[1]) + 1
        if key not in self._data and len(self._data) >= self._max:
            for k in list(self._data)[: self._max // 10 or 1]:
                del self._data[k]
        self._data[key] = (item[0], str(count).encode())
        return count

    async def purge(self, prefix: str) -> bool:
        self.discard_prefix(prefix)
        return True

    def discard_prefix(self, prefix: str) -> None:
        for k in [k for k in self._data if k.startswith(prefix)]:
            del self._data[k]

    async def close(self) -> None:
        self._data.clear()


class RedisCache:
    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        # Counters while Redis is unreachable: limits degrade to per-instance, never vanish.
        self._fallback = MemoryCache(10_000)

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self.client.get(key)
            return value.encode() if isinstance(value, str) else value
        except (RedisError, OSError) as e:
            log.warning("redis get failed, treating as a miss: %s", type(e).__name__)
            return None

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        try:
            await self.client.set(key, value, px=max(1, int(ttl_s * 1000)))
        except (RedisError, OSError) as e:
            log.warning("redis set failed: %s", type(e).__name__)

    async def delete(self, *keys: str) -> None:
        if not keys:
            return
        try:
            await self.client.delete(*keys)
        except (RedisError, OSError) as e:
            log.warning("redis delete failed: %s", type(e).__name__)

    async def incr(self, key: str, ttl_s: float) -> int:
        """INCR and, on the first increment only, PEXPIRE: one atomic MULTI round trip."""
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.pexpire(key, max(1, int(ttl_s * 1000)), nx=True)
                count, _ = await pipe.execute()
            return int(count)
        except (RedisError, OSError) as e:
            log.warning("redis incr failed, counting in-process: %s", type(e).__name__)
            return await self._fallback.incr(key, ttl_s)

    async def purge(self, prefix: str) -> bool:
        """Delete every key under ``prefix``; False when Redis could not be reached."""
        try:
            batch: list[bytes] = []
            async for name in self.client.scan_iter(match=f"{prefix}*", count=1000):
                batch.append(name)
                if len(batch) >= 1000:
                    await self.client.unlink(*batch)
                    batch = []
            if batch:
                await self.client.unlink(*batch)
            return True
        except (RedisError, OSError) as e:
            log.warning("redis purge failed: %s", type(e).__name__)
            return False

    async def close(self) -> None:
        await self.client.aclose()


def redis_client(url: str) -> aioredis.Redis:
    # Short timeouts: a dead Redis must cost a request milliseconds, not seconds.
    return aioredis.Redis.from_url(
        url, socket_connect_timeout=0.5, socket_timeout=0.5, health_check_interval=10
    )
