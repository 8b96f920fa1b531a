"""Fixtures for the SDK tests: the console served over real HTTP, a gateway token, and a way
to read back what it stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from aforo.config import Settings
from tests.sdk._recording import Recording
from tests.sdk.harness import FaultProxy, ThreadedServer
from tests.support import Api


@dataclass
class Console:
    server: ThreadedServer
    token: str
    recording: Recording

    @property
    def url(self) -> str:
        return self.server.url

    async def events(self, **filters: Any) -> list[dict[str, Any]]:
        out = list(self.recording.events.values())
        for k, v in filters.items():
            out = [e for e in out if e.get(k) == v]
        return out


@pytest.fixture
async def console(api: Api, settings: Settings) -> AsyncIterator[Console]:
    rec = Recording()
    server = ThreadedServer(rec.app)
    await server.astart()
    yield Console(server, "gwt_test", rec)
    await server.astop()


@pytest.fixture
async def fault_proxy(console: Console) -> AsyncIterator[FaultProxy]:
    proxy = FaultProxy(console.url)
    await proxy.server.astart()
    yield proxy
    await proxy.server.astop()
