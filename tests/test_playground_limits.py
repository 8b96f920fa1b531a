"""The rate limit's counter: ``Cache.incr`` in-process and on a real redis-server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from aforo.runtime.cache import Cache, MemoryCache, RedisCache, redis_client
from aforo.runtime.postgres import free_port
from tests.services import RedisServer


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest, redis_server: RedisServer) -> AsyncIterator[Cache]:
    c: Cache = (
        MemoryCache() if request.param == "memory" else RedisCache(redis_client(redis_server.url))
    )
    yield c
    await c.close()


async def test_incr_counts_atomically_within_a_window_then_starts_over(cache: Cache) -> None:
    key = f"aforo:{uuid.uuid4()}:playground:rate:u"
    counts = await asyncio.gather(*(cache.incr(key, 0.5) for _ in range(40)))
    assert sorted(counts) == list(range(1, 41))  # no lost or doubled increments
    other = f"aforo:{uuid.uuid4()}:playground:rate:v"
    assert await cache.incr(other, 30) == 1  # counters are per key
    for _ in range(100):  # the window is fixed from the first increment, not sliding
        await asyncio.sleep(0.05)
        if await cache.incr(key, 0.5) == 1:
            break
    else:
        raise AssertionError("the window never ended")
    assert await cache.incr(other, 30) == 2


async def test_redis_window_is_set_once_and_not_extended(redis_server: RedisServer) -> None:
    client = redis_client(redis_server.url)
    cache = RedisCache(client)
    key = f"aforo:{uuid.uuid4()}:playground:rate:u"
    try:
        await cache.incr(key, 60)
        first = await client.pttl(key)
        await client.pexpire(key, 5000)  # as if 55 s had passed
        await cache.incr(key, 60)
        assert 0 < first <= 60_000
        assert 0 < await client.pttl(key) <= 5000  # a later increment keeps the window's end
    finally:
        await cache.close()


async def test_redis_down_counts_in_process_instead_of_failing_open() -> None:
    cache = RedisCache(redis_client(f"redis://127.0.0.1:{free_port()}/0"))
    try:
        assert [await cache.incr("aforo:t:playground:rate:u", 60) for _ in range(3)] == [1, 2, 3]
    finally:
        await cache.close()
