"""Key verification for gateways, the hot path.

Lookups go L1 (in-process dict) → cache (Redis when configured) → database, and negative
results are cached too. Revocation, rotation and cancellation invalidate at once on every
instance: the writer deletes the cache entries after commit and publishes their names on the
bus; every instance drops them from its L1. While an instance is not subscribed to the bus
(its own heartbeat through the bus is late: Redis down) its L1 is off, so an entry another
instance invalidated is served for at most that heartbeat window.
``last_used_at`` and the "verified after revoke" audit are batched in memory and flushed every
few seconds in one statement per tenant, never one write per verification.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, NamedTuple

import jwt
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from aforo.db import LookupPool, asyncpg_dsn, utcnow
from aforo.errors import Unauthenticated
from aforo.models.api_keys import ApiKey
from aforo.models.gateway_tokens import GatewayToken
from aforo.runtime.cache import MemoryCache
from aforo.runtime.state import Runtime
from aforo.runtime.tasks import stop_tasks
from aforo.services import api_keys
from aforo.services.key_state import (
    GATEWAY_AUDIENCE,
    MALFORMED,
    NOT_FOUND,
    REVOKED,
    TOKEN_EXPIRED,
    KeyState,
    VerifyResult,
    evaluate,
)
from aforo.services.usage import CurrentUsage
from aforo.services.usage import quota as usage_quota
from aforo.tenancy import ops
from aforo.tenancy.auth import credential_cache_key
from aforo.tenancy.context import TenantContext
from aforo.tenancy.hashing import sha256

log = logging.getLogger(__name__)

CHANNEL = "aforo:cache:invalidate"
CACHE_TTL_S = 30.0
FLUSH_S = 2.0
MAX_CREDENTIAL = 4096
L1_MAX = 200_000
_UNKNOWN = b"-"
EXTRA_KEY = "key_verifier"
HEARTBEAT_S = 0.5
HEARTBEAT_WINDOW_S = 1.5
# Who-may-call entries: API keys here, gateway tokens and storefront keys in the Authenticator,
# users' standing (services/authz.py).
PURGED_PREFIXES = ("aforo:apikey:", "aforo:cred:", "aforo:authz:")
INVALID_TOKEN = "INVALID_TOKEN"  # noqa: S105 (a verdict code)


_HASH_PREFIX = "aforo:apikey:h:"
_GATEWAY_PREFIX = credential_cache_key("gateway", b"")


def hash_cache_key(key_hash: bytes) -> str:
    # Not tenant-prefixed: this lookup is what finds the tenant.
    return f"{_HASH_PREFIX}{key_hash.hex()}"


def _local(name: str) -> str | bytes:
    """The L1's key for a cache entry's name: a key's or a gateway token's hash is kept by its
    digest, so a cache hit finds both without formatting a name; other names as they are."""
    for prefix in (_HASH_PREFIX, _GATEWAY_PREFIX):
        if name.startswith(prefix):
            with contextlib.suppress(ValueError):
                return bytes.fromhex(name[len(prefix) :])
    return name


def id_cache_key(tenant_id: uuid.UUID, key_id: uuid.UUID) -> str:
    return f"aforo:apikey:{tenant_id}:{key_id}"


def cache_keys(keys: Iterable[ApiKey]) -> list[str]:
    out: list[str] = []
    for k in keys:
        out += [hash_cache_key(k.key_hash), id_cache_key(k.tenant_id, k.id)]
    return out


# Verdicts (and their JSON) of one L1 entry, per (gateway tenant, bound subscription).
Memo = dict[tuple[uuid.UUID, uuid.UUID | None], tuple[VerifyResult, bytes]]


class Verdict(NamedTuple):
    """What a gateway is told. ``result`` and ``body`` are the same objects on every cache
    hit (so the response built from them can be kept); ``quota`` is this moment's usage of
    the subscription's quota, or None when its plan has none."""

    result: VerifyResult
    body: bytes
    quota: CurrentUsage | None = None


def _dumps(result: VerifyResult) -> bytes:
    return json.dumps(result.to_dict(), separators=(",", ":")).encode()


def _verdict(
    state: KeyState | None,
    memo: Memo | None,
    tenant_id: uuid.UUID,
    subscription_id: uuid.UUID | None = None,
) -> tuple[VerifyResult, bytes]:
    if state is None:
        return _NOT_FOUND
    if memo is not None and (hit := memo.get((tenant_id, subscription_id))) is not None:
        return hit
    result = evaluate(state, tenant_id, subscription_id=subscription_id)
    out = (result, _dumps(result))
    if memo is not None:
        memo[(tenant_id, subscription_id)] = out
    return out


def _constant(code: str) -> tuple[VerifyResult, bytes]:
    result = VerifyResult(False, code)
    return result, _dumps(result)


_MALFORMED = _constant(MALFORMED)
CLIENT_SECRET = "CLIENT_SECRET_NOT_A_KEY"  # noqa: S105 (a verdict code)
_CLIENT_SECRET = (
    r := VerifyResult(
        False,
        CLIENT_SECRET,
        extra={
            "hint": "this is a client secret (cs_live_…): exchange it with its client id at "
            "POST /oauth/token (grant_type=client_credentials) and send the access token"
        },
    ),
    _dumps(r),
)
_NOT_FOUND = _constant(NOT_FOUND)  # an unknown key: one verdict, its response built once


def _ttl(state: KeyState | None) -> float:
    """Never cache a key past its expiry (a rotated key's grace end)."""
    if state is None or state.expires_at is None:
        return CACHE_TTL_S
    left = (state.expires_at - utcnow()).total_seconds()
    return min(CACHE_TTL_S, left) if left > 0 else CACHE_TTL_S


class KeyVerifier:
    def __init__(self, runtime: Runtime, *, flush_s: float = FLUSH_S) -> None:
        self.runtime = runtime
        self.flush_s = flush_s
        # Keyed by ``_local(name)``: digests for keys' and gateway tokens' hashes.
        self._l1: dict[str | bytes, tuple[float, KeyState | None, Memo]] = {}
        self._gw: dict[bytes, tuple[float, TenantContext]] = {}
        self._id = uuid.uuid4().hex
        self._last_beat = -HEARTBEAT_WINDOW_S  # no L1 until the first heartbeat returns
        self._epoch = 0  # bumped by every invalidation: a load that raced one is not cached
        # Last uses as epoch seconds (a float costs a tenth of a datetime on the hot path).
        self._used: dict[uuid.UUID, dict[uuid.UUID, float]] = defaultdict(dict)
        self._gw_used: dict[uuid.UUID, dict[uuid.UUID, float]] = defaultdict(dict)
        self._after_revoke: dict[uuid.UUID, dict[uuid.UUID, tuple[int, datetime, datetime]]] = (
            defaultdict(dict)
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._purging: asyncio.Task[None] | None = None
        self._acks = Acks()
        self.subscribed = asyncio.Event()
        # Other in-process caches fed by this invalidation channel (services/authz.py): told
        # the names dropped, or None when everything is.
        self.on_drop: list[Callable[[list[str] | None], None]] = []
        engine: AsyncEngine = runtime.maker.kw["bind"]
        self.lookups = LookupPool(asyncpg_dsn(engine), runtime.settings.db_pool_size)
        runtime.auth.on_forget.append(self._forget_gateway)

    # -- lifecycle -------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[KeyVerifier]:
        self._tasks = [
            asyncio.create_task(self._listen(), name="key-verifier-invalidations"),
            asyncio.create_task(self._heartbeat(), name="key-verifier-heartbeat"),
            asyncio.create_task(self._flush_loop(), name="key-verifier-flush"),
        ]
        try:
            # Serve with the L1 on from the first request when the bus is up; never wait long.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.subscribed.wait(), 2.0)
            yield self
        finally:
            if self._purging is not None:
                self._tasks.append(self._purging)
            await stop_tasks(self._tasks)
            self._tasks = []
            await self.flush()
            await self.lookups.close()

    @property
    def l1_on(self) -> bool:
        """The L1 is trusted only while this instance provably receives invalidations: its own
        heartbeat came back through the bus within the window."""
        return time.monotonic() - self._last_beat < HEARTBEAT_WINDOW_S

    async def _heartbeat(self) -> None:
        beat = json.dumps({"hb": self._id}).encode()
        while True:
            await self.runtime.bus.publish(CHANNEL, beat)
            await asyncio.sleep(HEARTBEAT_S)

    def _beat(self) -> None:
        now = time.monotonic()
        if now - self._last_beat >= HEARTBEAT_WINDOW_S:
            self._drop_all_local()  # invalidations may have been missed meanwhile
            if self.subscribed.is_set():
                # Back from an outage: a revocation made meanwhile could not delete its shared
                # entry, and a restarted Redis reloads old ones. Purge them (everywhere, and
                # every instance's L1) before trusting the caches again.
                if self._purging is None or self._purging.done():
                    self._purging = asyncio.create_task(self._purge_shared())
                return
        self._last_beat = now
        self.subscribed.set()

    async def _purge_shared(self) -> None:
        for prefix in PURGED_PREFIXES:
            if not await self.runtime.cache.purge(prefix):
                return  # still unreachable: the next heartbeat tries again
        await self.runtime.bus.publish(CHANNEL, json.dumps({"purged": self._id}).encode())
        self._drop_all_local()
        self._last_beat = time.monotonic()

    async def _listen(self) -> None:
        while True:
            try:
                async with self.runtime.bus.subscribe(CHANNEL) as messages:
                    async for raw in messages:
                        msg = json.loads(raw)
                        if not isinstance(msg, dict):
                            self._drop_local(msg)  # names alone: an older instance's
                        elif (peer := msg.get("hb")) is not None:
                            if peer == self._id:
                                self._beat()
                            else:
                                self._acks.seen(peer)
                        elif "inv" in msg:
                            if msg.get("from") != self._id:
                                self._drop_local(msg["inv"])
                                ack = {"ack": msg.get("seq"), "to": msg.get("from")}
                                ack["from"] = self._id
                                await self.runtime.bus.publish(CHANNEL, json.dumps(ack).encode())
                        elif "ack" in msg:
                            if msg.get("to") == self._id:
                                self._acks.acked(msg["ack"], msg.get("from"))
                        elif "purged" in msg:
                            self._drop_all_local()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # Redis gone: keep answering, the L1 lapses on its own
                log.warning("key cache invalidation feed lost: %s", type(e).__name__)
            await asyncio.sleep(0.5)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_s)
            try:
                await self.flush()
            except Exception:
                log.exception("flushing key usage failed; will retry")

    # -- invalidation ----------------------------------------------------------------------
    def _drop_local(self, names: list[str]) -> None:
        self._epoch += 1
        for n in names:
            local = _local(n)
            self._l1.pop(local, None)
            if isinstance(local, bytes):
                self._gw.pop(local, None)
        for hook in self.on_drop:
            hook(names)
        cache = self.runtime.cache
        if isinstance(cache, MemoryCache):  # this process's own: no writer can reach it
            cache.discard(*names)

    def _drop_all_local(self) -> None:
        self._epoch += 1
        self._l1.clear()
        self._gw.clear()
        for hook in self.on_drop:
            hook(None)
        cache = self.runtime.cache
        if isinstance(cache, MemoryCache):
            for prefix in PURGED_PREFIXES:
                cache.discard_prefix(prefix)

    @property
    def epoch(self) -> int:
        """Bumped by every invalidation: a load that raced one must not be cached."""
        return self._epoch

    async def invalidate(self, names: list[str]) -> None:
        """Drop cache entries here, in the shared cache and on every other instance, and
        return once every live instance says it has dropped them (or is not live any more):
        the next request anywhere sees the change."""
        if not names:
            return
        self._drop_local(names)
        await self.runtime.cache.delete(*names)
        seq, peers = self._acks.expect()
        msg = {"inv": names, "seq": seq, "from": self._id}
        await self.runtime.bus.publish(CHANNEL, json.dumps(msg).encode())
        await self._acks.wait(seq, peers)

    async def invalidate_keys(self, keys: Iterable[ApiKey]) -> None:
        await self.invalidate(cache_keys(keys))

    async def _forget_gateway(self, name: str) -> None:
        await self.invalidate([name])

    # -- the cached lookup -----------------------------------------------------------------
    async def _state(
        self,
        name: str,
        load: Callable[[AsyncSession | None], Awaitable[KeyState | None]],
        tenant_id: uuid.UUID | None,
    ) -> tuple[KeyState | None, Memo | None]:
        """The key's state and, when it sits in the L1, the entry's memo of verdicts."""
        now = time.monotonic()
        local = _local(name)
        if self.l1_on:
            hit = self._l1.get(local)
            if hit is not None and hit[0] > now:
                return hit[1], hit[2]
        epoch = self._epoch
        # The shared cache only while invalidations provably arrive (and it was purged after
        # an outage): otherwise it may hold a verdict from before a revocation.
        shared = self.l1_on
        raw = await self.runtime.cache.get(name) if shared else None
        if raw is not None:
            state = None if raw == _UNKNOWN else KeyState.loads(raw)
        else:
            if tenant_id is None:
                state = await load(None)
            else:
                async with self.runtime.maker() as session:
                    session.info["tenant_id"] = tenant_id
                    state = await load(session)
            if shared and self._epoch == epoch:
                await self.runtime.cache.set(
                    name, state.dumps() if state else _UNKNOWN, _ttl(state)
                )
        if self.l1_on and self._epoch == epoch:
            if len(self._l1) >= L1_MAX:
                self._l1.clear()  # crude but bounded; refills from the shared cache
            memo: Memo = {}
            # The entry never outlives the key's expiry, so its memoised verdicts hold.
            self._l1[local] = (now + _ttl(state), state, memo)
            return state, memo
        return state, None

    async def gateway(self, raw: str | None) -> TenantContext:
        """The gateway token's tenant, through the L1 (the Authenticator caches below it)."""
        if not raw:
            raise Unauthenticated("send the gateway token", code="UNAUTHENTICATED")
        digest = sha256(raw.strip())
        now = time.monotonic()
        if self.l1_on:
            hit = self._gw.get(digest)
            if hit is not None and hit[0] > now:
                ctx = hit[1]
                self._note_gateway(ctx)
                return ctx
        epoch = self._epoch
        ctx = await self.runtime.auth.gateway(raw)
        if self.l1_on and self._epoch == epoch:
            self._gw[digest] = (now + CACHE_TTL_S, ctx)
        self._note_gateway(ctx)
        return ctx

    def _note_gateway(self, ctx: TenantContext) -> None:
        if ctx.credential_id is not None:
            self._gw_used[ctx.tenant_id][ctx.credential_id] = time.time()

    # -- verification ----------------------------------------------------------------------
    def hit(self, gateway_token: str | None, credential: str) -> Verdict | None:
        """The verdict when everything it needs is cached here (the gateway token, the key's
        state and verdict, the quota): synchronous, the hot path. None: ``gateway`` then
        ``verdict`` answer (the same verdict, reading what is missing)."""
        now = time.monotonic()
        if not gateway_token or now - self._last_beat >= HEARTBEAT_WINDOW_S:  # the L1 is off
            return None
        gw = self._gw.get(sha256(gateway_token.strip()))
        credential = credential.strip()
        if gw is None or gw[0] <= now or len(credential) > MAX_CREDENTIAL:
            return None
        entry = self._l1.get(sha256(credential))
        if entry is None or entry[0] <= now or credential.count(".") == 2:
            return None
        ctx = gw[1]
        out = _verdict(entry[1], entry[2], ctx.tenant_id)
        judged = usage_quota.cached(self.runtime, out[0])
        if judged is None:
            return None
        self._note_gateway(ctx)
        return self._done(out, *judged)

    async def check(self, tenant_id: uuid.UUID, credential: str) -> VerifyResult:
        """Verify an API key, or a JWT standing in for one, for a gateway of ``tenant_id``."""
        v = await self.verdict(tenant_id, credential)
        return v.result if v.quota is None else dataclasses.replace(v.result, quota=v.quota)

    async def verdict(self, tenant_id: uuid.UUID, credential: str) -> Verdict:
        """``check``, as its memoised parts: the hot path."""
        credential = credential.strip()
        if not credential or len(credential) > MAX_CREDENTIAL:
            return Verdict(*_MALFORMED)
        if credential.count(".") == 2:
            return await self._check_token(tenant_id, credential)
        if credential.startswith(api_keys.CLIENT_SECRET_PREFIX):
            return Verdict(*_CLIENT_SECRET)  # never valid here, whatever it is: say what to do
        key_hash = sha256(credential)
        name = hash_cache_key(key_hash)
        # Only well-formed keys ever enter the L1: an L1 entry spares the checksum.
        if key_hash not in self._l1 and not api_keys.well_formed(credential):
            return Verdict(*_MALFORMED)  # a typo: no database read

        async def load(_: AsyncSession | None) -> KeyState | None:
            # No tenant to bind and one read: a bare pooled connection, a single round trip.
            return KeyState.from_rows(await ops.api_key_state_raw(self.lookups, key_hash))

        state, memo = await self._state(name, load, None)
        return await self._finish(_verdict(state, memo, tenant_id))

    async def _check_token(self, tenant_id: uuid.UUID, token: str) -> Verdict:
        auth = self.runtime.auth
        try:
            claims = auth.ring.decode(token, audience=GATEWAY_AUDIENCE, issuer=auth.issuer)
            token_tenant = uuid.UUID(claims["tid"])
            key_id = uuid.UUID(claims["sub"])
            sub_id = uuid.UUID(claims["sid"])
        except jwt.ExpiredSignatureError:
            return Verdict(*_constant(TOKEN_EXPIRED))
        except (jwt.InvalidTokenError, KeyError, ValueError, TypeError):
            return Verdict(*_constant(INVALID_TOKEN))
        if token_tenant != tenant_id:
            return Verdict(*_constant(NOT_FOUND))
        return await self._finish(await self._by_id(tenant_id, key_id, sub_id))

    async def _by_id(
        self, tenant_id: uuid.UUID, key_id: uuid.UUID, subscription_id: uuid.UUID
    ) -> tuple[VerifyResult, bytes]:
        async def load(session: AsyncSession | None) -> KeyState | None:
            assert session is not None
            return await api_keys.key_state_by_id(session, key_id)

        state, memo = await self._state(id_cache_key(tenant_id, key_id), load, tenant_id)
        return _verdict(state, memo, tenant_id, subscription_id)

    async def key_verdict(
        self, tenant_id: uuid.UUID, key_id: uuid.UUID, subscription_id: uuid.UUID
    ) -> VerifyResult:
        """What a token standing in for the key would get, for a token this service minted
        itself (try-it): no signature to check, and no quota, as when minting."""
        result = (await self._by_id(tenant_id, key_id, subscription_id))[0]
        self._note(result)
        return result

    async def _finish(self, out: tuple[VerifyResult, bytes]) -> Verdict:
        """Add the subscription's quota (it changes by the minute, so it is never memoised;
        the body changes only when the quota refuses) and note the use."""
        return self._done(out, *await usage_quota.apply(self.runtime, out[0]))

    def _done(
        self, out: tuple[VerifyResult, bytes], result: VerifyResult, quota: CurrentUsage | None
    ) -> Verdict:
        self._note(result)
        if result is not out[0]:  # refused by the quota
            return Verdict(result, _dumps(result), quota)
        return Verdict(out[0], out[1], quota)

    # -- batched bookkeeping ---------------------------------------------------------------
    def _note(self, r: VerifyResult) -> None:
        if r.key_id is None or r.tenant_id is None:
            return
        if r.valid:
            self._used[r.tenant_id][r.key_id] = time.time()
        elif r.code == REVOKED:
            now = utcnow()
            seen = self._after_revoke[r.tenant_id].get(r.key_id)
            self._after_revoke[r.tenant_id][r.key_id] = (
                (seen[0] + 1, seen[1], now) if seen else (1, now, now)
            )

    async def flush(self) -> None:
        """Write what verification noted since the last flush: one transaction per tenant."""
        used, self._used = self._used, defaultdict(dict)
        gw_used, self._gw_used = self._gw_used, defaultdict(dict)
        revoked, self._after_revoke = self._after_revoke, defaultdict(dict)
        for tenant_id in set(used) | set(gw_used) | set(revoked):
            try:
                async with self.runtime.transaction(tenant_id) as s:
                    keys = {k: _at(t) for k, t in used.get(tenant_id, {}).items()}
                    await api_keys.record_use(s, keys, revoked.get(tenant_id, {}))
                    for token_id, at in gw_used.get(tenant_id, {}).items():
                        await s.execute(
                            update(GatewayToken)
                            .where(GatewayToken.id == token_id)
                            .values(last_used_at=_at(at))
                        )
            except Exception:
                log.exception("could not record key usage for tenant %s", tenant_id)


def _at(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


class Acks:
    """The other instances on the bus (by their heartbeats) and their acknowledgements of
    invalidations: a revocation waits until every live instance has dropped the entries."""

    def __init__(self) -> None:
        self.peers: dict[str, float] = {}
        self._seq = itertools.count(1)
        self._waiting: dict[int, tuple[set[str], asyncio.Event]] = {}

    def seen(self, peer: str) -> None:
        self.peers[peer] = time.monotonic()

    def live(self) -> set[str]:
        now = time.monotonic()
        for peer in [p for p, at in self.peers.items() if now - at >= HEARTBEAT_WINDOW_S]:
            del self.peers[peer]  # silent for a window: gone, or its own L1 is off by now
        return set(self.peers)

    def expect(self) -> tuple[int, set[str]]:
        seq = next(self._seq)
        self._waiting[seq] = (set(), asyncio.Event())
        return seq, self.live()

    def acked(self, seq: Any, peer: Any) -> None:
        found = self._waiting.get(seq) if isinstance(seq, int) else None
        if found is not None and isinstance(peer, str):
            found[0].add(peer)
            found[1].set()

    async def wait(self, seq: int, peers: set[str]) -> None:
        """Until every peer acked ``seq``; a peer that falls silent meanwhile is not waited
        for (its L1 lapses within the heartbeat window)."""
        acked, event = self._waiting[seq]
        deadline = time.monotonic() + HEARTBEAT_WINDOW_S
        try:
            while (missing := (peers & self.live()) - acked) and time.monotonic() < deadline:
                event.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), HEARTBEAT_S)
            if missing:
                log.warning("invalidation %d not acknowledged by %d instance(s)", seq, len(missing))
        finally:
            del self._waiting[seq]


def verifier(runtime: Runtime) -> KeyVerifier:
    """The runtime's verifier (created by the app's lifespan; lazily for scripts and tests)."""
    v = runtime.extra.get(EXTRA_KEY)
    if v is None:
        v = runtime.extra[EXTRA_KEY] = KeyVerifier(runtime)
        runtime.invalidator = v.invalidate  # the process's one invalidation channel
    assert isinstance(v, KeyVerifier)
    return v
