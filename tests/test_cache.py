"""The cache and the bus: in-process, on a real redis-server, and on PostgreSQL (the several
workers of one machine without Redis)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from aforo.config import Settings
from aforo.db import asyncpg_dsn
from aforo.runtime.bus import Bus, MemoryBus, RedisBus, bus_client
from aforo.runtime.cache import Cache, MemoryCache, RedisCache, redis_client
from aforo.runtime.pgbus import MAX_PAYLOAD, PgBus, encode
from aforo.runtime.pgcache import PgCache
from aforo.runtime.postgres import free_port
from tests.services import RedisServer


@pytest.fixture(params=["memory", "redis", "postgres"])
async def cache(request: pytest.FixtureRequest, redis_server: RedisServer, settings: Settings):  # type: ignore[no-untyped-def]
    c: Cache
    if request.param == "memory":
        c = MemoryCache()
    elif request.param == "redis":
        c = RedisCache(redis_client(redis_server.url))
    else:
        c = PgCache(_dsn(settings))
    yield c
    await c.close()


def _dsn(settings: Settings) -> str:
    return asyncpg_dsn(create_async_engine(settings.database_url or ""))


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


async def test_counters_and_prefix_purge(cache: Cache) -> None:
    assert [await cache.incr("aforo:t1:rate", 0.3) for _ in range(3)] == [1, 2, 3]
    await asyncio.sleep(0.5)  # the window is over: counting starts again
    assert await cache.incr("aforo:t1:rate", 30) == 1
    await cache.set("aforo:t1:a", b"1", 30)
    await cache.set("aforo:t2:a", b"2", 30)
    assert await cache.purge("aforo:t1:")
    assert (await cache.get("aforo:t1:a"), await cache.get("aforo:t2:a")) == (None, b"2")


async def test_postgres_cache_is_shared_between_processes(settings: Settings) -> None:
    """Two caches on one database (two worker processes): one counter, one value."""
    a, b = PgCache(_dsn(settings)), PgCache(_dsn(settings))
    try:
        counts = await asyncio.gather(*(c.incr("aforo:t:rate:u", 60) for c in (a, b) * 10))
        assert sorted(counts) == list(range(1, 21))  # atomic: no count twice, none lost
        await a.set("aforo:t:log:run", b"\x00binary\xff", 60)
        assert await b.get("aforo:t:log:run") == b"\x00binary\xff"
    finally:
        await a.close()
        await b.close()


def test_bus_payloads_fit_postgres_and_never_split_a_character() -> None:
    message = ("é" * 9000 + "x").encode()  # 18,001 bytes of two-byte characters
    payloads = encode("aforo:t1:events", message, "m1")
    assert len(payloads) == 3
    assert all(len(p.encode()) <= MAX_PAYLOAD for p in payloads)
    assert all(p.split("\n", 1)[1].encode().decode() for p in payloads)  # each part valid UTF-8


async def test_postgres_bus_crosses_processes_with_long_and_binary_messages(
    settings: Settings,
) -> None:
    a, b = PgBus(_dsn(settings)), PgBus(_dsn(settings))
    try:
        await a.start()
        await b.start()
        assert await asyncio.wait_for(_roundtrip(a, b), 5) == [b"one", b"two"]
        long = ('{"body": "' + "ü" * 30_000 + '"}').encode()  # 60 KB: eight payloads
        binary = bytes(range(256)) * 40  # not text at all
        async with b.subscribe("aforo:t1:run") as messages:
            await a.publish("aforo:t1:run", long)
            await a.publish("aforo:t1:run", binary)
            it = aiter(messages)
            got = [await asyncio.wait_for(anext(it), 5) for _ in range(2)]
        assert got == [long, binary]
    finally:
        await a.close()
        await b.close()


async def test_postgres_bus_reconnects_after_its_connection_is_killed(settings: Settings) -> None:
    """A database restart (here: the listening backend terminated) loses what was sent
    meanwhile, as Redis pub/sub does, and delivery resumes by itself."""
    bus = PgBus(_dsn(settings))
    owner = await asyncpg.connect(asyncpg_dsn(create_async_engine(settings.owner_url or "")))
    try:
        await bus.start()
        async with bus.subscribe("aforo:t1:events") as messages:
            killed = await owner.fetchval(
                "select count(pg_terminate_backend(pid)) from pg_stat_activity "
                "where application_name = 'aforo-bus' and datname = current_database()"
            )
            assert killed >= 1
            for _ in range(100):  # until it listens again, on a new connection
                await asyncio.sleep(0.1)
                if bus.connections == 2 and bus.listening.is_set():
                    break
            await bus.publish("aforo:t1:events", b"after")
            assert await asyncio.wait_for(anext(aiter(messages)), 5) == b"after"
    finally:
        await owner.close()
        await bus.close()
