"""The per-request GraphQL context: caller, one locked session, dataloaders."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.websockets import WebSocket

from aforo.errors import Unauthenticated
from aforo.runtime.state import Runtime
from aforo.tenancy.context import TenantContext

if TYPE_CHECKING:
    from aforo.schema.loaders import Loaders


@dataclass
class Context:
    runtime: Runtime
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
                self._session = self.runtime.maker()
                self._session.info["tenant_id"] = tenant.tenant_id
            yield self._session

    async def finish(self, *, ok: bool) -> None:
        """Commit (or roll back) the request's transaction, then fan events out."""
        # The loaders' closures hold this context: let go of them, and the request's loaders
        # and what they loaded are freed as the request ends, not left to the cycle collector
        # (whose pass over many requests' worth of them was a pause of several milliseconds).
        self._loaders = None
        session, self._session = self._session, None
        if session is None:
            return
        try:
            if ok:
                await session.commit()
                await self.runtime.fan_out(session)
            else:
                session.info.clear()
                await session.rollback()
        finally:
            await session.close()

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            from aforo.schema.loaders import Loaders

            self._loaders = Loaders(self)
        return self._loaders
