"""Fixtures for the SDK tests: the console served over real HTTP (uvicorn on a loopback port,
stoppable and restartable), a tenant gateway token, and reading back through GraphQL what the
console stored."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from aforo.app import create_app
from aforo.config import Settings
from tests.sdk.harness import FaultProxy, ThreadedServer
from tests.support import Api, make_tenant

EVENT_FIELDS = (
    "eventId metric quantity source consumer subscriptionId keyId method path route status "
    "latencyMs requestBytes responseBytes requestId clientIp tool agent session outcome properties"
)


def snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


@dataclass
class Console:
    server: ThreadedServer
    token: str  # the tenant's gateway token, what the SDK sends
    api: Api
    admin: str  # an admin's access token, for reading usage back

    @property
    def url(self) -> str:
        return self.server.url

    async def events(self, **filters: Any) -> list[dict[str, Any]]:
        """Every stored event (GraphQL ``usageEvents``, all pages), as snake_case dicts;
        ``filters`` keep the events whose field equals the value."""
        out: list[dict[str, Any]] = []
        after = None
        while True:
            d = await self.api.data(
                f"""query($after: String) {{ usageEvents(first: 200, after: $after) {{
                      nodes {{ {EVENT_FIELDS} }} endCursor hasNextPage }} }}""",
                {"after": after},
                token=self.admin,
            )
            page = d["usageEvents"]
            out += [{snake(k): v for k, v in n.items()} for n in page["nodes"]]
            if not page["hasNextPage"]:
                break
            after = page["endCursor"]
        for e in out:
            e["quantity"] = float(e["quantity"])
        return [e for e in out if all(e.get(k) == v for k, v in filters.items())]

    async def usage(self, **filter: Any) -> dict[str, Any]:
        """The ``usage`` series (one bucket per day) for ``filter``."""
        d = await self.api.data(
            """query($f: UsageFilter) { usage(filter: $f, granularity: DAY) {
                 total events buckets { start quantity events } } }""",
            {"f": filter},
            token=self.admin,
        )
        series: dict[str, Any] = d["usage"]
        return series


async def gateway_token(api: Api, admin: str) -> str:
    d = await api.data(
        """mutation { createGatewayToken(name: "metering sdk") {
             __typename ... on GatewayTokenCreated { secret } ... on UserError { code } } }""",
        token=admin,
    )
    secret: str = d["createGatewayToken"]["secret"]
    return secret


@pytest.fixture
async def console(api: Api, settings: Settings) -> AsyncIterator[Console]:
    tenant = await make_tenant(settings)
    admin = await api.admin_token(tenant)
    token = await gateway_token(api, admin)
    server = ThreadedServer(lambda: create_app(settings))
    await server.astart()
    yield Console(server, token, api, admin)
    await server.astop()


@pytest.fixture
async def fault_proxy(console: Console) -> AsyncIterator[FaultProxy]:
    proxy = FaultProxy(console.url)
    await proxy.server.astart()
    yield proxy
    await proxy.server.astop()
