"""Pub/sub for live GraphQL subscriptions and cache invalidation across instances.

In-process by default; Redis pub/sub when ``AFORO_REDIS_URL`` is set, so an event published
on one instance reaches subscribers on every instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class Bus(Protocol):
    async def publish(self, channel: str, message: bytes) -> None: ...
    def subscribe(
        self, channel: str
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[bytes]]: ...
    async def close(self) -> None: ...


class MemoryBus:
    def __init__(self, queue_size: int = 1000) -> None:
        self._subs: dict[str, set[asyncio.Queue[bytes]]] = defaultdict(set)
        self._queue_size = queue_size

    async def publish(self, channel: str, message: bytes) -> None:
        self.deliver(channel, message)

    def deliver(self, channel: str, message: bytes) -> None:
        """To this process's subscribers of ``channel`` (the other buses' local delivery)."""
        for q in list(self._subs.get(channel, ())):
            if q.full():  # a slow subscriber loses its oldest message, never stalls others
                q.get_nowait()
            q.put_nowait(message)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[bytes]]:
        q: asyncio.Queue[bytes] = asyncio.Queue(self._queue_size)
        self._subs[channel].add(q)

        async def messages() -> AsyncIterator[bytes]:
            while True:
                yield await q.get()

        try:
            yield messages()
        finally:
            self._subs[channel].discard(q)
            if not self._subs[channel]:
                del self._subs[channel]

    async def close(self) -> None:
        self._subs.clear()


class RedisBus:
    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client

    async def publish(self, channel: str, message: bytes) -> None:
        try:
            await self.client.publish(channel, message)
        except (RedisError, OSError) as e:
            log.warning("redis publish failed: %s", type(e).__name__)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[bytes]]:
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(channel)

        async def messages() -> AsyncIterator[bytes]:
            while True:
                try:
                    msg = await pubsub.get_message(timeout=1.0)
                except (RedisError, OSError) as e:
                    # Redis restarting: keep the subscriber alive and re-subscribe.
                    log.warning("redis pub/sub lost: %s; re-subscribing", type(e).__name__)
                    await asyncio.sleep(0.5)
                    with contextlib.suppress(RedisError, OSError):
                        await pubsub.subscribe(channel)
                    continue
                if msg is not None and msg.get("type") == "message":
                    yield msg["data"]

        try:
            yield messages()
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.unsubscribe(channel)
            # Untyped before redis-py 8.2: through Any, clean under either.
            await cast(Any, pubsub).aclose()

    async def close(self) -> None:
        await self.client.aclose()


def bus_client(url: str) -> aioredis.Redis:
    # No read timeout: a subscriber legitimately waits for minutes between messages.
    return aioredis.Redis.from_url(url, socket_connect_timeout=0.5, health_check_interval=10)
