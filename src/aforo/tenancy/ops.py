"""Every lookup that crosses tenants, made before the tenant is known.

Each calls a SECURITY DEFINER function in the ``ops`` schema, owned by the BYPASSRLS ops role;
the app role itself can never read across tenants.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.db import LookupPool


async def storefront_key_tenant(session: AsyncSession, key_hash: bytes) -> uuid.UUID | None:
    """Which tenant a storefront key belongs to (None if unknown or revoked)."""
    row = (
        await session.execute(
            text("select tenant_id, revoked from ops.storefront_key_tenant(:h)"), {"h": key_hash}
        )
    ).first()
    if row is None or row.revoked:
        return None
    tenant_id: uuid.UUID = row.tenant_id
    return tenant_id


async def gateway_token_owner(
    session: AsyncSession, token_hash: bytes
) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(tenant id, token id) of an active gateway token, None if unknown or revoked."""
    row = (
        await session.execute(
            text("select tenant_id, token_id, revoked from ops.gateway_token_tenant(:h)"),
            {"h": token_hash},
        )
    ).first()
    if row is None or row.revoked:
        return None
    return row.tenant_id, row.token_id


_KEY_STATE = (
    "select tenant_id, key_id, format, client_id, expires_at, revoked, subscription_id,"
    " active, plan_id, plan_slug, plan_name, monthly_quota, rate_limit_per_minute,"
    " hard_quota from ops.api_key_state({})"
)


async def api_key_state(session: AsyncSession, key_hash: bytes) -> list[RowMapping]:
    """An API key (any tenant) by the hash of its secret, one row per subscription binding
    (one row with null subscription columns when it has none); empty when unknown."""
    result = await session.execute(text(_KEY_STATE.format(":h")), {"h": key_hash})
    return list(result.mappings().all())


async def api_key_state_raw(pool: LookupPool, key_hash: bytes) -> list[Any]:
    """``api_key_state`` on the verify path: one round trip on a bare pooled connection."""
    return await pool.fetch(_KEY_STATE.format("$1"), key_hash)


async def billing_due_periods(
    session: AsyncSession, now: Any, limit: int
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(tenant id, billing period id) of open billing periods of any tenant that ended by
    ``now``, the longest overdue first."""
    rows = await session.execute(
        text("select tenant_id, period_id from ops.billing_due_periods(:now, :n)"),
        {"now": now, "n": limit},
    )
    return [(r.tenant_id, r.period_id) for r in rows]


async def origin_allowed_anywhere(
    session: AsyncSession, scheme: str, host: str, port: int, parents: list[str]
) -> bool:
    """Whether any tenant allows this web origin (a browser preflight names no tenant).
    ``parents``: the host's parent domains, which a wildcard entry would be stored as."""
    found = await session.scalar(
        text("select ops.origin_allowed_anywhere(:s, :h, :p, :parents)"),
        {"s": scheme, "h": host, "p": port, "parents": parents},
    )
    return bool(found)
