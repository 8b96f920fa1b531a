"""The per-request GraphQL context: caller, one locked session, dataloaders."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.websockets import WebSocket

from aforo.config import Settings
from aforo.errors import Unauthenticated
from aforo.runtime.bus import Bus
from aforo.runtime.cache import Cache
from aforo.services import outbox
from aforo.tenancy.auth import Authenticator
from aforo.tenancy.context import TenantContext

if TYPE_CHECKING:
    from aforo.schema.loaders import Loaders


@dataclass
class Services:
    """Process-wide parts every request uses; built once in the app's lifespan."""

    settings: Settings
    maker: async_sessionmaker[AsyncSession]
    auth: Authenticator
    cache: Cache
    bus: Bus
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    services: Services
    request: Request | WebSocket
    tenant: TenantContext | None
    connection_params: dict[str, Any] | None = None
    _session: AsyncSession | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _loaders: Loaders | None = None

    # -- who is asking ---------------------------------------------------------------------
    def require_tenant(self) -> TenantContext:
        if self.tenant is None:
            raise Unauthenticated(
                "send an X-Storefront-Key or an Authorization bearer token", code="UNAUTHENTICATED"
            )
        return self.tenant

    def require_user(self) -> uuid.UUID:
        t = self.require_tenant()
        if t.user_id is None:
            raise Unauthenticated("sign in first", code="UNAUTHENTICATED")
        return t.user_id

    # -- the request's one transaction -----------------------------------------------------
    @asynccontextmanager
    async def db(self) -> AsyncIterator[AsyncSession]:
        """The request session, one statement at a time (sibling resolvers run concurrently)."""
        tenant = self.require_tenant()
        async with self._lock:
            if self._session is None:
                self._session = self.services.maker()
                self._session.info["tenant_id"] = tenant.tenant_id
            yield self._session

    async def finish(self, *, ok: bool) -> None:
        """Commit (or roll back) the request's transaction, then fan events out."""
        session, self._session = self._session, None
        if session is None:
            return
        try:
            if ok:
                await session.commit()
                for event in outbox.take_pending(session):
                    await self.services.bus.publish(
                        outbox.channel(event.tenant_id, event.topic), event.to_json()
                    )
            else:
                await session.rollback()
        finally:
            await session.close()

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            from aforo.schema.loaders import Loaders

            self._loaders = Loaders(self)
        return self._loaders
