"""Fixtures for the SDK tests: the console served over real HTTP (uvicorn on a loopback port,
stoppable and restartable), a tenant gateway token, and a way to read back what it stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from aforo.app import create_app
from aforo.config import Settings
from aforo.db import create_engine
from tests.sdk.harness import FaultProxy, ThreadedServer
from tests.support import Api, make_tenant


@dataclass
class Console:
    server: ThreadedServer
    token: str
    tenant_id: str
    settings: Settings

    @property
    def url(self) -> str:
        return self.server.url

    async def events(self, **filters: Any) -> list[dict[str, Any]]:
        engine = create_engine(self.settings.owner_url or "", pool_size=1)
        try:
            async with engine.connect() as c:
                rows = (
                    (
                        await c.execute(
                            text(
                                "select * from usage_events where tenant_id = :t order by event_id"
                            ),
                            {"t": self.tenant_id},
                        )
                    )
                    .mappings()
                    .all()
                )
        finally:
            await engine.dispose()
        out = [
            {
                k: (
                    str(v)
                    if k.endswith("_id") and v is not None
                    else float(v)
                    if isinstance(v, Decimal)
                    else v
                )
                for k, v in r.items()
            }
            for r in rows
        ]
        for k, v in filters.items():
            out = [e for e in out if e.get(k) == v]
        return out


async def gateway_token(api: Api, settings: Settings) -> tuple[str, str]:
    tenant = await make_tenant(settings)
    admin = await api.admin_token(tenant)
    d = await api.data(
        """mutation { createGatewayToken(name: "metering sdk") {
             __typename ... on GatewayTokenCreated { secret } ... on UserError { code } } }""",
        token=admin,
    )
    secret: str = d["createGatewayToken"]["secret"]
    return tenant.id, secret


@pytest.fixture
async def console(api: Api, settings: Settings) -> AsyncIterator[Console]:
    tenant_id, token = await gateway_token(api, settings)
    server = ThreadedServer(lambda: create_app(settings))
    await server.astart()
    yield Console(server, token, tenant_id, settings)
    await server.astop()


@pytest.fixture
async def fault_proxy(console: Console) -> AsyncIterator[FaultProxy]:
    proxy = FaultProxy(console.url)
    await proxy.server.astart()
    yield proxy
    await proxy.server.astop()
