"""The cache and the bus, in-process and on a real redis-server."""

from __future__ import annotations

import asyncio

import pytest

from aforo.runtime.bus import Bus, MemoryBus, RedisBus, bus_client
from aforo.runtime.cache import Cache, MemoryCache, RedisCache, redis_client
from aforo.runtime.postgres import free_port
from tests.services import RedisServer


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest, redis_server: RedisServer):  # type: ignore[no-untyped-def]
    c: Cache = (
        MemoryCache() if request.param == "memory" else RedisCache(redis_client(redis_server.url))
    )
    yield c
    await c.close()


async def test_set_get_delete_and_expiry(cache: Cache) -> None:
    await cache.set("aforo:t1:k", b"v", 30)
    assert await cache.get("aforo:t1:k") == b"v"
    assert await cache.get("aforo:t2:k") is None
    await cache.delete("aforo:t1:k")
    assert await cache.get("aforo:t1:k") is None
    await cache.set("aforo:t1:short", b"v", 0.05)
    await asyncio.sleep(0.2)
    assert await cache.get("aforo:t1:short") is None


async def test_memory_cache_is_bounded() -> None:
    c = MemoryCache(max_entries=100)
    for i in range(500):
        await c.set(f"k{i}", b"v", 60)
    assert len(c._data) <= 100
    assert await c.get("k499") == b"v"


async def test_redis_down_is_a_miss_not_an_error() -> None:
    dead = RedisCache(redis_client(f"redis://127.0.0.1:{free_port()}/0"))
    assert await dead.get("k") is None
    await dead.set("k", b"v", 10)  # logged, not raised
    await dead.delete("k")
    await dead.close()


async def _roundtrip(pub: Bus, sub: Bus) -> list[bytes]:
    got: list[bytes] = []
    async with sub.subscribe("aforo:t1:events") as messages:
        await asyncio.sleep(0.1)  # subscription registered
        await pub.publish("aforo:t1:events", b"one")
        await pub.publish("aforo:t2:events", b"other tenant")
        await pub.publish("aforo:t1:events", b"two")
        async for m in messages:
            got.append(m)
            if len(got) == 2:
                break
    return got


async def test_memory_bus_delivers_per_channel() -> None:
    bus = MemoryBus()
    assert await asyncio.wait_for(_roundtrip(bus, bus), 5) == [b"one", b"two"]


async def test_redis_bus_crosses_instances(redis_server: RedisServer) -> None:
    a, b = RedisBus(bus_client(redis_server.url)), RedisBus(bus_client(redis_server.url))
    try:
        assert await asyncio.wait_for(_roundtrip(a, b), 5) == [b"one", b"two"]
    finally:
        await a.close()
        await b.close()


async def test_slow_subscriber_never_blocks_publishers() -> None:
    bus = MemoryBus(queue_size=3)
    async with bus.subscribe("c") as _:
        for i in range(100):  # nobody reads: the publisher still never waits
            await asyncio.wait_for(bus.publish("c", str(i).encode()), 0.5)
