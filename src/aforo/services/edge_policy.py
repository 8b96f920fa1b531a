"""The per-tenant edge policy on the request path: allowed origins and the trusted-documents
switch, cached in process (a few seconds) in front of the runtime cache (Redis or in-process)
in front of the database. A change deletes the shared entry and tells every instance, through
the bus, to drop its copy; a lost message costs at most ``L1_TTL_S`` of staleness.

Preflights name no tenant: "does any tenant allow this origin" is cached per origin the same
way, and every change drops all of those answers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

from aforo.db import tenant_session
from aforo.runtime.state import Runtime
from aforo.runtime.tasks import stop_tasks
from aforo.services import edge
from aforo.services.edge import EdgePolicy, Origin, OriginPattern, parse_pattern
from aforo.tenancy.hashing import sha256

log = logging.getLogger(__name__)

CHANNEL = "aforo:edge:invalidate"
L1_TTL_S = 5.0
SHARED_TTL_S = 300.0
L1_MAX = 50_000
EXTRA_KEY = "edge_policies"


def policy_cache_key(tenant_id: uuid.UUID) -> str:
    return f"aforo:t:{tenant_id}:edge"


def operator_patterns(raw: str) -> tuple[bool, tuple[OriginPattern, ...]]:
    """``AFORO_CORS_ORIGINS``: comma-separated origins (same syntax as a tenant's), or ``*``
    for any origin. Allowed for every tenant: a development convenience."""
    items = [p.strip() for p in raw.split(",") if p.strip()]
    return "*" in items, tuple(parse_pattern(p, "AFORO_CORS_ORIGINS") for p in items if p != "*")


class EdgePolicies:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.any_origin, self.operator = operator_patterns(runtime.settings.cors_origins)
        self._policies: dict[uuid.UUID, tuple[float, EdgePolicy]] = {}
        self._anywhere: dict[Origin, tuple[float, bool]] = {}
        self._epoch = 0
        self._task: asyncio.Task[None] | None = None

    # -- lookups ---------------------------------------------------------------------------
    def operator_allows(self, origin: Origin) -> bool:
        return self.any_origin or any(p.matches(origin) for p in self.operator)

    async def policy(self, tenant_id: uuid.UUID) -> EdgePolicy:
        now = time.monotonic()
        hit = self._policies.get(tenant_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        epoch = self._epoch
        name = policy_cache_key(tenant_id)
        raw = await self.runtime.shared.get(name)
        if raw is not None:
            policy = EdgePolicy.from_json(json.loads(raw))
        else:
            async with tenant_session(self.runtime.maker, tenant_id) as s:
                policy = await edge.load_policy(s)
            await self.runtime.shared.set(name, json.dumps(policy.to_json()).encode(), SHARED_TTL_S)
        if epoch == self._epoch:  # no invalidation raced the load
            self._remember(self._policies, tenant_id, (now + L1_TTL_S, policy))
        return policy

    async def allowed_anywhere(self, origin: Origin) -> bool:
        """Whether the operator or any tenant allows ``origin`` (a preflight's question)."""
        if self.operator_allows(origin):
            return True
        now = time.monotonic()
        hit = self._anywhere.get(origin)
        if hit is not None and hit[0] > now:
            return hit[1]
        epoch = self._epoch
        async with self.runtime.maker() as s:
            found = await edge.origin_allowed_anywhere(s, origin)
        if epoch == self._epoch:
            self._remember(self._anywhere, origin, (now + L1_TTL_S, found))
        return found

    async def allows(
        self, tenant_id: uuid.UUID, origin: Origin, storefront_key_hash: str | None
    ) -> bool:
        if self.operator_allows(origin):
            return True
        return (await self.policy(tenant_id)).allows(origin, storefront_key_hash)

    @staticmethod
    def _remember(table: dict[Any, Any], key: Any, value: Any) -> None:
        if len(table) >= L1_MAX:
            table.clear()
        table[key] = value

    # -- invalidation ----------------------------------------------------------------------
    def _drop(self, tenant_id: uuid.UUID | None) -> None:
        self._epoch += 1
        self._anywhere.clear()
        if tenant_id is None:
            self._policies.clear()
        else:
            self._policies.pop(tenant_id, None)

    async def invalidate(self, tenant_id: uuid.UUID) -> None:
        """After a committed change: here, in the shared cache, and on every instance."""
        self._drop(tenant_id)
        await self.runtime.shared.delete(policy_cache_key(tenant_id))
        await self.runtime.bus.publish(CHANNEL, str(tenant_id).encode())

    async def _listen(self) -> None:
        while True:
            try:
                async with self.runtime.bus.subscribe(CHANNEL) as messages:
                    async for raw in messages:
                        try:
                            self._drop(uuid.UUID(raw.decode()))
                        except ValueError:
                            self._drop(None)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the bus is down: entries lapse after L1_TTL_S anyway
                log.warning("edge policy invalidation feed lost: %s", type(e).__name__)
            await asyncio.sleep(0.5)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[EdgePolicies]:
        self._task = asyncio.create_task(self._listen(), name="edge-policy-invalidations")
        try:
            yield self
        finally:
            await stop_tasks([self._task])


def policies(runtime: Runtime) -> EdgePolicies:
    found = runtime.extra.get(EXTRA_KEY)
    if found is None:
        found = runtime.extra[EXTRA_KEY] = EdgePolicies(runtime)
    assert isinstance(found, EdgePolicies)
    return found


async def invalidate(runtime: Runtime, tenant_id: uuid.UUID) -> None:
    await policies(runtime).invalidate(tenant_id)


# -- the browser-origin decision of one request ------------------------------------------------
CORS_STATE = "cors"


class CrossOrigin:
    """Put in ``scope["state"]`` by the CORS middleware for a cross-origin browser request;
    the app settles it once it knows the caller's tenant, the middleware reads it when the
    response starts."""

    def __init__(self, origin: Origin | None, raw: str) -> None:
        self.origin = origin
        self.raw = raw
        self.granted: bool | None = None  # None: the app never learned a tenant


class OriginNotAllowed(Exception):
    """Raised by ``admit``; the caller turns it into its surface's refusal."""

    code = "ORIGIN_NOT_ALLOWED"

    def __init__(self, raw: str) -> None:
        self.message = (
            f"origin {raw} is not allowed for this tenant: an admin adds it with "
            "addAllowedOrigin (see docs/tenant-frontend.md)"
        )
        super().__init__(self.message)


async def admit(
    state: MutableMapping[str, Any],
    runtime: Runtime,
    tenant_id: uuid.UUID | None,
    storefront_key: str | None,
) -> None:
    """Settle a cross-origin request once its tenant is known: granted when the tenant (and
    the storefront key's own narrowing, if any) allows the origin; refused before anything
    runs otherwise. No-op for same-origin and non-browser requests."""
    cross: CrossOrigin | None = state.get(CORS_STATE)
    if cross is None or tenant_id is None:
        return
    key_hash = sha256(storefront_key.strip()).hex() if storefront_key else None
    ok = cross.origin is not None and await policies(runtime).allows(
        tenant_id, cross.origin, key_hash
    )
    cross.granted = ok
    if not ok:
        raise OriginNotAllowed(cross.raw)


@contextlib.asynccontextmanager
async def lifespan(runtime: Runtime, state: Any) -> AsyncIterator[None]:
    """The policy cache's invalidation listener, for the app's lifetime."""
    async with policies(runtime).running():
        yield
