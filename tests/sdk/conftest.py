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
from tests.gateway import KeyWorld, make_key_world
from tests.sdk.harness import FaultProxy, ThreadedServer
from tests.support import Api

EVENT_FIELDS = (
    "eventId metric quantity source consumer subscriptionId keyId method path route status "
    "latencyMs requestBytes responseBytes requestId clientIp tool agent session outcome properties"
)


def snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


@dataclass
class Console:
    server: ThreadedServer
    world: KeyWorld  # a tenant with a subscribed developer and an API key

    api: Api

    @property
    def token(self) -> str:
        """The tenant's gateway token: what the SDK and the sidecar send."""
        return self.world.gateway

    @property
    def subscription_id(self) -> str:
        return self.world.subscription_id

    @property
    def key_id(self) -> str:
        return self.world.key_id

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
                token=self.world.admin,
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
            token=self.world.admin,
        )
        series: dict[str, Any] = d["usage"]
        return series


@pytest.fixture
async def console(api: Api, settings: Settings) -> AsyncIterator[Console]:
    world = await make_key_world(api)
    server = ThreadedServer(lambda: create_app(settings))
    await server.astart()
    yield Console(server, world, api)
    await server.astop()


@pytest.fixture
async def fault_proxy(console: Console) -> AsyncIterator[FaultProxy]:
    proxy = FaultProxy(console.url)
    await proxy.server.astart()
    yield proxy
    await proxy.server.astop()
