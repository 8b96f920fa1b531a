"""Turn a request's credentials into a ``TenantContext``.

Storefront SDKs send ``X-Storefront-Key`` (tenant, anonymous); signed-in users send
``Authorization: Bearer <JWT>``. When both are present they must name the same tenant.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping

import jwt
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aforo.errors import Forbidden, Unauthenticated
from aforo.runtime.cache import Cache
from aforo.tenancy import ops
from aforo.tenancy.context import PrincipalKind, Role, TenantContext
from aforo.tenancy.hashing import sha256
from aforo.tenancy.signing import KeyRing

CONSOLE_AUDIENCE = "aforo-console"
STOREFRONT_HEADER = "x-storefront-key"
_CREDENTIAL_TTL_S = 30.0
_UNKNOWN = b"-"


def credential_cache_key(kind: str, key_hash: bytes) -> str:
    # Not tenant-prefixed: this lookup is what finds the tenant.
    return f"aforo:cred:{kind}:{key_hash.hex()}"


def issue_access_token(
    ring: KeyRing,
    issuer: str,
    *,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    roles: list[str],
    session_id: uuid.UUID | None,
    ttl_s: int,
    staff_withheld: bool = False,
) -> tuple[str, int]:
    claims: dict[str, object] = {
        "sub": str(user_id),
        "tid": str(tenant_id),
        "roles": sorted(roles),
        "aud": CONSOLE_AUDIENCE,
        "iss": issuer,
    }
    if session_id is not None:
        claims["sid"] = str(session_id)
    if staff_withheld:
        claims["swh"] = True
    return ring.sign(claims, ttl_s=ttl_s)


class Authenticator:
    def __init__(
        self,
        ring: KeyRing,
        maker: async_sessionmaker[AsyncSession],
        cache: Cache,
        issuer: str,
    ) -> None:
        self.ring = ring
        self.maker = maker
        self.cache = cache
        self.issuer = issuer
        # Called with the cache key of every forgotten credential (in-process caches in front
        # of ``cache`` hook in here to drop theirs, on every instance).
        self.on_forget: list[Callable[[str], Awaitable[None]]] = []
        # A signed-in caller as they stand now: a token's roles are a cache of the truth, so
        # every request checks them (and a ban, a removal, an ended session) through this
        # (services/authz.py installs it; it raises ``Unauthenticated`` to refuse).
        self.current: Callable[[TenantContext], Awaitable[TenantContext]] | None = None

    def issue_access_token(
        self,
        *,
        tenant_id: uuid.UUID,
        user_id: uuid.UUID,
        roles: list[str],
        session_id: uuid.UUID | None,
        ttl_s: int,
        staff_withheld: bool = False,
    ) -> tuple[str, int]:
        return issue_access_token(
            self.ring,
            self.issuer,
            tenant_id=tenant_id,
            user_id=user_id,
            roles=roles,
            session_id=session_id,
            ttl_s=ttl_s,
            staff_withheld=staff_withheld,
        )

    async def _lookup(
        self, kind: str, key_hash: bytes, load: Callable[[AsyncSession], Awaitable[bytes | None]]
    ) -> bytes | None:
        """A cached cross-tenant lookup by credential hash; misses are cached too."""
        cache_key = credential_cache_key(kind, key_hash)
        cached = await self.cache.get(cache_key)
        if cached is None:
            async with self.maker() as session:
                cached = await load(session) or _UNKNOWN
            await self.cache.set(cache_key, cached, _CREDENTIAL_TTL_S)
        return None if cached == _UNKNOWN else cached

    async def tenant_for_storefront_key(self, raw: str) -> uuid.UUID:
        async def load(session: AsyncSession) -> bytes | None:
            tenant = await ops.storefront_key_tenant(session, key_hash)
            return tenant.bytes if tenant else None

        key_hash = sha256(raw)
        found = await self._lookup("storefront", key_hash, load)
        if found is None:
            raise Unauthenticated(
                "unknown or revoked storefront key", code="INVALID_STOREFRONT_KEY"
            )
        return uuid.UUID(bytes=found)

    async def gateway(self, raw: str | None) -> TenantContext:
        """The caller of a gateway / ingestion endpoint, from its gateway token."""
        if not raw:
            raise Unauthenticated("send the gateway token", code="UNAUTHENTICATED")

        async def load(session: AsyncSession) -> bytes | None:
            owner = await ops.gateway_token_owner(session, key_hash)
            return owner[0].bytes + owner[1].bytes if owner else None

        key_hash = sha256(raw.strip())
        found = await self._lookup("gateway", key_hash, load)
        if found is None:
            raise Unauthenticated("unknown or revoked gateway token", code="INVALID_GATEWAY_TOKEN")
        return TenantContext(
            tenant_id=uuid.UUID(bytes=found[:16]),
            kind=PrincipalKind.GATEWAY,
            credential_id=uuid.UUID(bytes=found[16:]),
        )

    def context_from_jwt(self, token: str) -> TenantContext:
        try:
            claims = self.ring.decode(token, audience=CONSOLE_AUDIENCE, issuer=self.issuer)
        except jwt.ExpiredSignatureError as e:
            raise Unauthenticated("access token expired", code="TOKEN_EXPIRED") from e
        except jwt.InvalidTokenError as e:
            raise Unauthenticated("invalid access token", code="INVALID_TOKEN") from e
        try:
            roles = frozenset(Role(r) for r in claims.get("roles", []))
            return TenantContext(
                tenant_id=uuid.UUID(claims["tid"]),
                kind=PrincipalKind.USER,
                user_id=uuid.UUID(claims["sub"]),
                roles=roles,
                session_id=uuid.UUID(claims["sid"]) if claims.get("sid") else None,
                expires_at=float(claims["exp"]),
                staff_withheld=claims.get("swh") is True,
            )
        except (KeyError, ValueError, TypeError) as e:
            raise Unauthenticated("invalid access token", code="INVALID_TOKEN") from e

    async def resolve(
        self, storefront_key: str | None, authorization: str | None
    ) -> TenantContext | None:
        """None when the request carries no credential at all."""
        ctx: TenantContext | None = None
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated(
                    "Authorization must be 'Bearer <token>'", code="INVALID_TOKEN"
                )
            ctx = self.context_from_jwt(token.strip())
        if storefront_key:
            tenant_id = await self.tenant_for_storefront_key(storefront_key.strip())
            if ctx is None:
                return TenantContext(tenant_id=tenant_id, kind=PrincipalKind.ANONYMOUS)
            if ctx.tenant_id != tenant_id:
                raise Forbidden(
                    "the access token belongs to another tenant than the storefront key",
                    code="TENANT_MISMATCH",
                )
        if ctx is not None and self.current is not None:
            ctx = await self.current(ctx)
        return ctx

    async def resolve_headers(self, headers: Mapping[str, str]) -> TenantContext | None:
        return await self.resolve(headers.get(STOREFRONT_HEADER), headers.get("authorization"))

    async def forget(self, kind: str, key_hash: bytes) -> None:
        """Drop a cached credential lookup at once (on revoke)."""
        name = credential_cache_key(kind, key_hash)
        await self.cache.delete(name)
        for hook in self.on_forget:
            await hook(name)
