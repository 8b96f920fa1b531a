"""Helpers for the usage tests (no tests here): tokens, and reading what was stored as the
tenant itself would see it (the app role, tenant bound, under RLS)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg

from aforo.config import Settings
from tests.support import Api, TenantFixture


async def gateway_token(api: Api, t: TenantFixture) -> str:
    admin = await api.admin_token(t)
    d = await api.data(
        """mutation { createGatewayToken(name: "gw") {
             ... on GatewayTokenCreated { secret } ... on UserError { code } } }""",
        token=admin,
    )
    secret: str = d["createGatewayToken"]["secret"]
    return secret


def dsn(settings: Settings) -> str:
    assert settings.database_url
    return settings.database_url.replace("postgresql+asyncpg://", "postgresql://")


async def fetch(settings: Settings, tenant_id: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn(settings))
    try:
        async with conn.transaction():
            await conn.execute("select set_config('app.tenant_id', $1, true)", tenant_id)
            return [dict(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


async def count_events(settings: Settings, tenant_id: str, rows: bool = False) -> Any:
    if rows:
        got = await fetch(settings, tenant_id, "select * from usage_events order by event_id")
        for r in got:
            r["quantity"] = float(r["quantity"])
        return got
    # One statement, one snapshot: a writer committing meanwhile is seen by both counts or none.
    (n,) = await fetch(
        settings,
        tenant_id,
        """select (select count(*) from usage_events) as events,
                  (select count(*) from usage_event_ids) as claims""",
    )
    # Every stored event has exactly one claim and every claim one event.
    assert n["claims"] == n["events"]
    return n["events"]


async def rollup_total(settings: Settings, tenant_id: str) -> Decimal:
    got = await fetch(
        settings, tenant_id, "select coalesce(sum(quantity), 0) as q from usage_rollups"
    )
    total: Decimal = got[0]["q"]
    return total


async def rejections(settings: Settings, tenant_id: str) -> list[dict[str, Any]]:
    return await fetch(settings, tenant_id, "select * from usage_rejections order by created_at")
