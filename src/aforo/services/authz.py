"""Current authorization: a token's claims are a cache of the truth, not the truth.

Every request carrying a console access token is checked against the user's *standing*: their
roles now, whether they are banned or removed, and which of their sessions (refresh-token
families) ended within an access token's lifetime. A demoted admin is a developer on their
next request, a logged-out session's token is refused, a banned or removed account's tokens
are refused, on every instance.

Lookups go L1 (in-process) → the shared cache (Redis when configured) → the database, like key
verification, and ride the same invalidation channel (``key_verify``): a service that changes
a standing calls ``changed(session, user_id)``, and once the transaction commits the entry is
dropped here, in the shared cache and on every other instance. While this instance cannot prove
it receives invalidations (the channel's heartbeat is late), the L1 and the shared cache are
skipped and every request reads the database.

Live subscriptions watch their caller's standing (``Authz.watch``) and are closed with a
close code and a reason when their token expires, their session ends, their account is banned
or removed, or their roles change.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.db import tenant_session, utcnow
from aforo.errors import Unauthenticated
from aforo.models.accounts import RefreshToken, User
from aforo.models.forum import Profile
from aforo.runtime.state import Runtime, invalidate_after_commit
from aforo.services.key_verify import verifier
from aforo.tenancy.context import PrincipalKind, Role, TenantContext

EXTRA_KEY = "authz"
TTL_S = 30.0
L1_MAX = 100_000
RECHECK_S = 30.0  # a live connection re-reads its standing at least this often
# Sessions that ended this long before an access token's lifetime are no longer listed: every
# token of theirs has expired by then.
ENDED_SLACK_S = 60.0
_UNKNOWN = b"-"
# WebSocket close codes (graphql-transport-ws reserves 4400-4499 for such refusals).
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403

BANNED, REMOVED = "banned", "removed"


@dataclass(frozen=True)
class Standing:
    roles: frozenset[Role]
    disabled: str | None  # BANNED, REMOVED or None
    ended: frozenset[uuid.UUID]  # sessions ended recently

    def dumps(self) -> bytes:
        return json.dumps(
            {
                "r": sorted(self.roles),
                "d": self.disabled,
                "e": sorted(str(s) for s in self.ended),
            }
        ).encode()

    @classmethod
    def loads(cls, raw: bytes) -> Standing:
        d = json.loads(raw)
        return cls(
            frozenset(Role(r) for r in d["r"]), d["d"], frozenset(uuid.UUID(s) for s in d["e"])
        )


def cache_name(tenant_id: uuid.UUID, user_id: uuid.UUID) -> str:
    return f"aforo:authz:{tenant_id}:{user_id}"


def changed(session: AsyncSession, user_id: uuid.UUID) -> None:
    """A user's roles, ban, removal or sessions changed in this transaction: every instance
    forgets their standing once it commits."""
    invalidate_after_commit(session, cache_name(session.info["tenant_id"], user_id))


async def load(
    session: AsyncSession, user_id: uuid.UUID, *, ended_since: datetime
) -> Standing | None:
    """A user's standing, in one statement (None: no such user)."""
    ended = (
        select(func.array_agg(RefreshToken.family_id.distinct()))
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at > ended_since)
        .scalar_subquery()
    )
    row = (
        await session.execute(
            select(User.roles, User.removed_at, Profile.is_banned, ended)
            .outerjoin(Profile, Profile.user_id == User.id)
            .where(User.id == user_id)
        )
    ).first()
    if row is None:
        return None
    roles, removed_at, banned, families = row
    disabled = REMOVED if removed_at is not None else BANNED if banned else None
    return Standing(frozenset(Role(r) for r in roles), disabled, frozenset(families or ()))


def disabled_reason(user: User, banned: bool) -> str | None:
    """Why an account may not sign in (log-in and refresh read the row they hold)."""
    return REMOVED if user.removed_at is not None else BANNED if banned else None


async def is_banned(session: AsyncSession, user_id: uuid.UUID) -> bool:
    return bool(await session.scalar(select(Profile.is_banned).where(Profile.user_id == user_id)))


def verdict(standing: Standing | None, ctx: TenantContext) -> TenantContext:
    """The caller as they stand now, or ``Unauthenticated`` when they may not go on."""
    if standing is None or standing.disabled == REMOVED:
        raise Unauthenticated("this account was removed", code="ACCOUNT_DISABLED")
    if standing.disabled == BANNED:
        raise Unauthenticated("this account is suspended", code="ACCOUNT_DISABLED")
    if ctx.session_id is not None and ctx.session_id in standing.ended:
        raise Unauthenticated("this session has ended; sign in again", code="SESSION_ENDED")
    roles = ctx.current_roles(standing.roles)
    if roles != ctx.roles:
        return dataclasses.replace(ctx, roles=roles)
    return ctx


class Authz:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.feed = verifier(runtime)
        self._l1: dict[str, tuple[float, Standing | None]] = {}
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self.feed.on_drop.append(self._dropped)

    def _dropped(self, names: list[str] | None) -> None:
        if names is None:
            self._l1.clear()
            events = [e for es in self._waiters.values() for e in es]
        else:
            events = []
            for n in names:
                if self._l1.pop(n, None) is not None or n in self._waiters:
                    events += self._waiters.get(n, ())
        for e in events:
            e.set()

    async def standing(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> Standing | None:
        name = cache_name(tenant_id, user_id)
        now = time.monotonic()
        trusted = self.feed.l1_on
        if trusted:
            hit = self._l1.get(name)
            if hit is not None and hit[0] > now:
                return hit[1]
        epoch = self.feed.epoch
        cache = self.runtime.cache
        raw = await cache.get(name) if trusted else None
        if raw is not None:
            standing = None if raw == _UNKNOWN else Standing.loads(raw)
        else:
            since = utcnow() - timedelta(
                seconds=self.runtime.settings.access_token_ttl_s + ENDED_SLACK_S
            )
            async with tenant_session(self.runtime.maker, tenant_id) as s:
                standing = await load(s, user_id, ended_since=since)
            if trusted and self.feed.epoch == epoch:
                await cache.set(name, standing.dumps() if standing else _UNKNOWN, TTL_S)
        if trusted and self.feed.epoch == epoch:
            if len(self._l1) >= L1_MAX:
                self._l1.clear()  # crude but bounded; refills from the shared cache
            self._l1[name] = (now + TTL_S, standing)
        return standing

    async def current(self, ctx: TenantContext) -> TenantContext:
        if ctx.kind is not PrincipalKind.USER or ctx.user_id is None:
            return ctx
        return verdict(await self.standing(ctx.tenant_id, ctx.user_id), ctx)

    async def watch(self, ctx: TenantContext, close: Callable[[int, str], Awaitable[None]]) -> None:
        """For a live connection's lifetime: close it, with a code and a reason, when its
        token expires, its session ends, its account is banned or removed or its roles
        change. Woken by invalidations; re-reads at least every ``RECHECK_S`` anyway."""
        if ctx.kind is not PrincipalKind.USER or ctx.user_id is None:
            return
        name = cache_name(ctx.tenant_id, ctx.user_id)
        event = asyncio.Event()
        self._waiters[name].add(event)
        try:
            while True:
                left = RECHECK_S if ctx.expires_at is None else ctx.expires_at - time.time()
                if left <= 0:
                    await close(CLOSE_UNAUTHORIZED, "access token expired")
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), min(left, RECHECK_S))
                event.clear()
                try:
                    now = await self.current(ctx)
                except Unauthenticated as e:
                    await close(CLOSE_UNAUTHORIZED, e.message)
                    return
                if now.roles != ctx.roles:
                    await close(CLOSE_FORBIDDEN, "roles changed; reconnect")
                    return
        finally:
            waiters = self._waiters.get(name)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[name]


def authz(runtime: Runtime) -> Authz:
    found = runtime.extra.get(EXTRA_KEY)
    if found is None:
        found = runtime.extra[EXTRA_KEY] = Authz(runtime)
    assert isinstance(found, Authz)
    return found


@contextlib.asynccontextmanager
async def lifespan(runtime: Runtime, state: Any) -> AsyncIterator[None]:
    """Every request's signed-in caller is checked as they stand now, for the app's life."""
    runtime.auth.current = authz(runtime).current
    try:
        yield
    finally:
        runtime.auth.current = None
