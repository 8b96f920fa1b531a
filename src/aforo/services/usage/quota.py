"""The plan quota on the verify path: how much of this month a key's subscription has left,
and a refusal (``QUOTA_EXCEEDED``) once a hard quota is used up.

Used-so-far comes from the hourly rollups (one indexed sum); it is cached per subscription in
the process for ``TTL_S`` seconds, so a busy key costs one query per TTL, and the count the
gateway sees lags the events by at most that (plus ingestion). Plans without a quota cost
nothing.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from typing import Any

from aforo.db import tenant_session
from aforo.runtime.state import Runtime
from aforo.services.key_state import VerifyResult
from aforo.services.usage.reading import CurrentUsage, quota_for_subscriptions

QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
TTL_S = 2.0
MAX_ENTRIES = 100_000
EXTRA_KEY = "usage_quota_cache"


def to_dict(c: CurrentUsage) -> dict[str, Any]:
    return {
        "limit": c.quota,
        "used": int(c.used) if c.used == int(c.used) else float(c.used),
        "remaining": (
            None
            if c.remaining is None
            else int(c.remaining)
            if c.remaining == int(c.remaining)
            else float(c.remaining)
        ),
        "hard": c.hard,
        "resets_at": c.period_end.isoformat(),
    }


def headers(c: CurrentUsage) -> dict[str, str]:
    """For gateways that read headers only (nginx ``auth_request``)."""
    d = to_dict(c)
    return {
        "X-Aforo-Quota-Limit": str(d["limit"]),
        "X-Aforo-Quota-Remaining": str(d["remaining"]),
        "X-Aforo-Quota-Reset": d["resets_at"],
    }


async def _current(runtime: Runtime, tenant_id: uuid.UUID, sub: uuid.UUID) -> CurrentUsage | None:
    cache: dict[tuple[uuid.UUID, uuid.UUID], tuple[float, CurrentUsage]] = runtime.extra.setdefault(
        EXTRA_KEY, {}
    )
    now = time.monotonic()
    hit = cache.get((tenant_id, sub))
    if hit is not None and hit[0] > now:
        return hit[1]
    async with tenant_session(runtime.maker, tenant_id) as session:
        found = await quota_for_subscriptions(session, [sub])
    if not found:
        return None
    if len(cache) >= MAX_ENTRIES:
        cache.clear()
    cache[(tenant_id, sub)] = (now + TTL_S, found[0])
    return found[0]


def forget(runtime: Runtime, tenant_id: uuid.UUID, subscriptions: set[uuid.UUID]) -> None:
    """Usage just landed for these subscriptions: this instance re-reads them at once."""
    cache = runtime.extra.get(EXTRA_KEY)
    if cache:
        for sub in subscriptions:
            cache.pop((tenant_id, sub), None)


def _metered(result: VerifyResult) -> bool:
    plan = result.plan
    return (
        result.valid
        and plan is not None
        and plan.monthly_quota is not None
        and result.tenant_id is not None
        and result.subscription_id is not None
    )


def _judged(
    result: VerifyResult, cur: CurrentUsage | None
) -> tuple[VerifyResult, CurrentUsage | None]:
    if cur is not None and cur.hard and cur.exceeded:
        refused = dataclasses.replace(
            result, valid=False, code=QUOTA_EXCEEDED, extra={"quota": to_dict(cur)}, quota=cur
        )
        return refused, cur
    return result, cur


async def apply(runtime: Runtime, result: VerifyResult) -> tuple[VerifyResult, CurrentUsage | None]:
    """The subscription's quota for ``result`` (None without one), and ``result`` itself -
    or a refusal when a hard quota is spent. The result is not copied to carry the quota:
    on the hot path it is the cached verdict whose response is ready."""
    if not _metered(result):
        return result, None
    assert result.tenant_id is not None and result.subscription_id is not None
    return _judged(result, await _current(runtime, result.tenant_id, result.subscription_id))


def cached(
    runtime: Runtime, result: VerifyResult
) -> tuple[VerifyResult, CurrentUsage | None] | None:
    """``apply`` when it needs no read (no quota, or one cached): None otherwise."""
    if not _metered(result):
        return result, None
    cache = runtime.extra.get(EXTRA_KEY)
    hit = cache.get((result.tenant_id, result.subscription_id)) if cache else None
    if hit is None or hit[0] <= time.monotonic():
        return None
    return _judged(result, hit[1])
