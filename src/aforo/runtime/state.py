"""Process-wide parts every request uses, built once in the app's lifespan."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aforo.config import Settings
from aforo.db import tenant_session
from aforo.runtime.bus import Bus
from aforo.runtime.cache import Cache
from aforo.services import outbox
from aforo.tenancy.auth import Authenticator

AFTER_COMMIT = "after_commit"
INVALIDATE = "invalidate"


def after_commit(session: AsyncSession, hook: Callable[[], Awaitable[None]]) -> None:
    """Run ``hook`` once the session's transaction has committed (never if it rolls back)."""
    session.info.setdefault(AFTER_COMMIT, []).append(hook)


def invalidate_after_commit(session: AsyncSession, *names: str) -> None:
    """Drop these cache entries, here, in the shared cache and on every instance, once the
    session's transaction has committed (for services, which hold no runtime)."""
    session.info.setdefault(INVALIDATE, []).extend(names)


@dataclass
class Runtime:
    settings: Settings
    maker: async_sessionmaker[AsyncSession]
    auth: Authenticator
    cache: Cache
    bus: Bus
    # What every worker process must see alike (counters, run logs): Redis when configured,
    # PostgreSQL when several workers share no Redis, else the in-process cache itself.
    shared: Cache
    # Optional parts by name (metrics, relay, per-domain singletons such as HTTP clients).
    extra: dict[str, Any] = field(default_factory=dict)
    # Drops cache entries on every instance (the key verifier's invalidation channel, set when
    # it starts); used for ``invalidate_after_commit``.
    invalidator: Callable[[list[str]], Awaitable[None]] | None = None

    @asynccontextmanager
    async def transaction(self, tenant_id: uuid.UUID) -> AsyncIterator[AsyncSession]:
        """One tenant-bound transaction (REST side, CLI, background jobs): commits when the
        block succeeds, then fans the events it emitted out to live subscribers."""
        async with tenant_session(self.maker, tenant_id) as session:
            yield session
        await self.fan_out(session)

    async def fan_out(self, session: AsyncSession) -> None:
        """After a commit: run the session's after-commit hooks (cache invalidation), publish
        its events to live subscribers and wake the relay."""
        for hook in session.info.pop(AFTER_COMMIT, []):
            await hook()
        names = session.info.pop(INVALIDATE, None)
        if names and self.invalidator is not None:
            await self.invalidator(sorted(set(names)))
        for event in outbox.take_pending(session):
            await self.bus.publish(outbox.channel(event.tenant_id, event.topic), event.to_json())
        relay = self.extra.get("relay")
        if relay is not None:
            relay.wake()
