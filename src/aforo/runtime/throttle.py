"""Rate limits: one module for every throttled path, on the ``limits`` library.

Each limit has a name and one or more tiers (``limits`` notation, ``5/minute;20/hour``), counted
in sliding windows per identifier (an IP address, an account, a credential), shared through
Redis when ``AFORO_REDIS_URL`` is set, through PostgreSQL's ``shared_cache`` when several
worker processes run without Redis (``aforo serve --workers N``), and in-process otherwise.
While the shared store is unreachable the counting falls back to the instance's memory: limits
degrade to per-instance, never vanish.

``AFORO_RATE_LIMITS`` overrides tiers by name (``login.ip=100/minute,signup.ip=50/hour``; the
name ``*`` replaces every limit, as tests and benchmarks do). A refusal is ``RateLimited``: HTTP
429 with ``Retry-After``, code ``RATE_LIMITED`` (GraphQL: the whole response is a 429 whose
error carries ``extensions.code`` and ``extensions.retryAfter``).

Use from any flow (the accounts issue's verification resend and password reset included)::

    t = throttle(runtime)
    await t.hit("login.ip", ip)              # count one; refused past the limit
    await t.check("login.account", tid, who)  # refused when over, counts nothing
    await t.clear("login.account", tid, who)  # forget (after a success)

A new limit is a line in ``DEFAULTS``; GraphQL fields declare theirs with the ``Throttled``
field extension (``schema/throttling.py``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from typing import Any, NamedTuple

from limits import RateLimitItem, WindowStats, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from redis.exceptions import RedisError

from aforo.errors import RateLimited
from aforo.runtime.pgcache import PgCache

__all__ = ["RateLimited", "Throttle", "throttle"]

log = logging.getLogger(__name__)

EXTRA_KEY = "throttle"

# name → tiers. Per IP: every attempt; per account / credential: what the comment says.
DEFAULTS: dict[str, str] = {
    "login.ip": "60/minute;600/hour",
    # Failed passwords per account (per email asked, known or not: the same answer for both),
    # slowing an attacker progressively: 5 a minute, then 10 in 15 minutes, 20 an hour, 50 a
    # day. A success clears the count.
    "login.account": "5/minute;10/15 minutes;20/hour;50/day",
    "signup.ip": "10/hour;50/day",
    "refresh.ip": "300/minute;5000/hour",
    "oauth.ip": "120/minute",
    "oauth.client": "10/minute;100/hour",  # failed client authentications per client id
    "verify.miss": "600/minute",  # unknown or malformed keys per gateway token
    "forum.write": "10/minute;100/hour",  # threads, replies and edits per account
    "forum.report": "10/hour;50/day",  # reports per account
    "spec.import": "30/hour",  # imports and syncs from a URL per account
    # Accounts: mailed links and their tokens (beyond the per-account mail cooldowns kept in
    # the database), password resets asked per address, two-factor changes, invitations.
    "token.ip": "30/minute;300/hour",  # verifyEmail, resetPassword, confirmEmailChange, invites
    "reset.ip": "10/minute;100/hour",
    "mail.request": "10/minute;60/hour",  # resend verification, email change, per account
    "two_factor.account": "10/minute;50/hour",  # enrolment, recovery codes, turning it off
    "invite.account": "30/hour;200/day",
}


def tiers(overrides: Iterable[tuple[str, str]] = ()) -> dict[str, list[RateLimitItem]]:
    """Every limit's tiers, overrides applied (``*`` first, then by name)."""
    chosen = dict(DEFAULTS)
    for name, value in overrides:
        if name == "*":
            chosen = dict.fromkeys(chosen, value)
        elif name in chosen:
            chosen[name] = value
        else:
            raise ValueError(f"AFORO_RATE_LIMITS: no limit named {name!r}")
    return {name: parse_many(value) for name, value in chosen.items()}


class _Window(NamedTuple):
    key: str
    number: int  # of the current window (time // expiry)
    previous: int
    current: int
    weighted: float  # limits' weighted count


class LocalWindows:
    """This process's counting: ``limits``' sliding-window counter (its arithmetic, its answers
    and reset times) over one plain dict. The library's ``MemoryStorage`` keeps a counter and
    an expiry per window key, through wrapped awaits and a timer task: a twentieth of a
    verify cache miss, which pays for a count of guesses on every request."""

    SWEEP_AT = 10_000  # entries before stale ones are swept

    def __init__(self) -> None:
        # limit key → (window index, previous window's count, current count, stale after)
        self._windows: dict[str, tuple[int, int, int, float]] = {}

    def _read(self, item: RateLimitItem, ids: tuple[str, ...], now: float) -> _Window:
        key, expiry = item.key_for(*ids), item.get_expiry()
        index = int(now // expiry)
        at, previous, current, _ = self._windows.get(key, (index, 0, 0, 0.0))
        if at != index:  # a later window: the current count became the previous one, or 0
            previous, current = (current if at == index - 1 else 0), 0
        # The previous window counts for the share of it still inside the sliding window.
        weighted = previous * (expiry - now % expiry) / expiry + current
        return _Window(key, index, previous, current, weighted)

    async def hit(self, item: RateLimitItem, *ids: str, cost: int = 1) -> bool:
        now = time.time()  # one reading for the window and its weight
        w = self._read(item, ids, now)
        if math.floor(w.weighted) + cost > item.amount:
            return False
        if len(self._windows) >= self.SWEEP_AT:
            self._windows = {k: v for k, v in self._windows.items() if v[3] > now}
        stale_after = (w.number + 2) * item.get_expiry()
        self._windows[w.key] = (w.number, w.previous, w.current + cost, stale_after)
        return True

    async def test(self, item: RateLimitItem, *ids: str, cost: int = 1) -> bool:
        return self._read(item, ids, time.time()).weighted < item.amount - cost + 1

    async def get_window_stats(self, item: RateLimitItem, *ids: str) -> WindowStats:
        now, expiry = time.time(), item.get_expiry()
        w = self._read(item, ids, now)
        remaining = max(0, item.amount - math.floor(w.weighted))
        if not (w.previous or w.current):
            return WindowStats(now, remaining)
        left = expiry - now % expiry  # of the current window
        resets = [left % (expiry / w.previous)] if w.previous else []
        resets += [left] if w.current else []
        return WindowStats(now + min(resets), remaining)

    async def clear(self, item: RateLimitItem, *ids: str) -> None:
        self._windows.pop(item.key_for(*ids), None)


class SharedCounters(MemoryStorage):
    """The sliding-window counters in PostgreSQL's ``shared_cache``: the limiter's window
    arithmetic is ``limits``' own (inherited), its counters live where every worker process
    counts alike. A failing database reads as zero and counts in the process (``PgCache``)."""

    PREFIX = "aforo:rl:"

    def __init__(self, cache: PgCache) -> None:
        super().__init__()
        self.cache = cache

    async def get(self, key: str) -> int:
        return await self.cache.counter(self.PREFIX + key)

    async def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        return await self.cache.incr(self.PREFIX + key, expiry, amount)

    async def decr(self, key: str, amount: int = 1) -> int:
        return await self.cache.decr(self.PREFIX + key, amount)

    async def clear(self, key: str) -> None:
        await self.cache.delete(self.PREFIX + key)


class Throttle:
    def __init__(
        self,
        redis_url: str | None = None,
        overrides: Iterable[tuple[str, str]] = (),
        *,
        postgres: PgCache | None = None,
    ) -> None:
        self.tiers = tiers(overrides)
        self._memory = LocalWindows()
        self._shared: SlidingWindowCounterRateLimiter | None = None
        self._redis: RedisStorage | None = None
        if postgres is not None and not redis_url:
            self._shared = SlidingWindowCounterRateLimiter(SharedCounters(postgres))
        if redis_url:
            self._redis = RedisStorage(
                "async+" + redis_url,
                implementation="redispy",
                wrap_exceptions=True,
                key_prefix="aforo:rl",
                socket_timeout=0.5,
                socket_connect_timeout=0.5,
            )
            self._shared = SlidingWindowCounterRateLimiter(self._redis)

    async def _do(self, op: str, *args: Any, **kw: Any) -> Any:
        if self._shared is not None:
            try:
                return await getattr(self._shared, op)(*args, **kw)
            except (StorageError, RedisError, OSError) as e:
                log.warning("rate limits: redis failed, counting in-process: %s", type(e).__name__)
        return await getattr(self._memory, op)(*args, **kw)

    def _items(self, name: str) -> list[RateLimitItem]:
        try:
            return self.tiers[name]
        except KeyError:
            raise KeyError(f"no rate limit named {name!r}; add it to DEFAULTS") from None

    async def _refusal(self, name: str, item: RateLimitItem, keys: tuple[str, ...]) -> RateLimited:
        stats = await self._do("get_window_stats", item, name, *keys)
        retry = max(1, math.ceil(stats.reset_time - time.time()))
        return RateLimited(f"too many attempts; retry in {retry} s", retry_after=retry)

    async def hit(self, name: str, *keys: str, cost: int = 1) -> None:
        """Count one attempt; ``RateLimited`` when a tier of limit ``name`` is exhausted."""
        for item in self._items(name):
            if not await self._do("hit", item, name, *keys, cost=cost):
                raise await self._refusal(name, item, keys)

    async def check(self, name: str, *keys: str) -> None:
        """``RateLimited`` when a tier is exhausted already; counts nothing."""
        for item in self._items(name):
            if not await self._do("test", item, name, *keys):
                raise await self._refusal(name, item, keys)

    async def clear(self, name: str, *keys: str) -> None:
        for item in self._items(name):
            await self._do("clear", item, name, *keys)

    async def close(self) -> None:
        if self._redis is not None:
            client = getattr(self._redis.bridge, "storage", None)
            if client is not None:
                await client.aclose()


def throttle(runtime: Any) -> Throttle:
    """The runtime's limiter (built by the app; lazily, in memory, for scripts and tests)."""
    found = runtime.extra.get(EXTRA_KEY)
    if found is None:
        found = runtime.extra[EXTRA_KEY] = Throttle(None, runtime.settings.rate_limits)
    assert isinstance(found, Throttle)
    return found
