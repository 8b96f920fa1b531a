"""Usage ingestion under load and a database restart, against a uvicorn-served app: several
clients with retries, abandoned requests and duplicated batches store every distinct event
exactly once; a PostgreSQL restart mid-load is a retryable 503, never a 500, and the service
recovers by itself.

CI-sized by default; ``AFORO_LOAD_EVENTS=1000000`` for the full run by hand."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator

import httpx
import pytest

from aforo.app import create_app
from aforo.config import Settings
from aforo.runtime.postgres import EmbeddedPostgres
from tests.faults import Load, batches, ingest, load_clients, load_events, stored
from tests.services import AppServer
from tests.support import Api, TenantFixture, make_tenant
from tests.test_usage_helpers import gateway_token

UNAVAILABLE = {"code": "SERVICE_UNAVAILABLE", "retryable": True}


@pytest.fixture
def server(settings: Settings) -> Iterator[AppServer]:
    s = AppServer(create_app(settings)).start()
    yield s
    s.stop()


async def _tenant(server: AppServer, settings: Settings) -> tuple[TenantFixture, str]:
    t = await make_tenant(settings)
    async with httpx.AsyncClient(base_url=server.url) as c:
        return t, await gateway_token(Api(c, settings), t)


async def test_concurrent_clients_with_retries_and_duplicates_store_each_event_once(
    server: AppServer, settings: Settings
) -> None:
    n = load_events()
    rng = random.Random(9)
    t, token = await _tenant(server, settings)
    work = batches(n, "load", rng)
    assert sum(len(b) for b in work) > n  # duplicates are really sent
    load = await ingest(server.url, token, work, clients=load_clients(), rng=rng, load=Load())
    print(f"\nevents {n}, batches {len(work)}, statuses {dict(load.statuses)}")
    print(f"abandoned mid-request {load.abandoned}, acknowledged as new {load.accepted}")
    assert set(load.statuses) == {"200"}
    got = await stored(settings, t.id)
    print(f"stored {got}")
    assert got == {"events": n, "distinct_ids": n, "claims": n, "rolled_up": n}
    # Every acknowledged "new" event is a stored one; abandoned requests may have stored some
    # whose acknowledgement never arrived, and their retries then counted them as duplicates.
    assert load.accepted <= n and (load.accepted == n or load.abandoned > 0)


async def test_postgres_restart_mid_load_is_a_retryable_503_and_loses_nothing(
    server: AppServer, settings: Settings, pg: EmbeddedPostgres
) -> None:
    n = load_events() // 2
    rng = random.Random(4)
    t, token = await _tenant(server, settings)
    work = batches(n, "restart", rng)
    load = Load()
    restarted = asyncio.Event()
    graphql: list[int] = []

    async def restart_once(progress: Load) -> None:
        # A third of the way in: stop the database under the clients' feet, keep it down until
        # they have been refused (progress, not time), then bring it back on the same port.
        if restarted.is_set() or progress.sent < len(work) // 3:
            return
        restarted.set()
        await asyncio.to_thread(pg.stop)
        try:
            for _ in range(600):
                if "503" in load.statuses and graphql.count(503) > 0:
                    break
                await asyncio.sleep(0.05)
        finally:
            await asyncio.to_thread(pg.start)

    async def storefront_traffic() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
            while not done.is_set():
                r = await c.post(
                    "/graphql",
                    json={"query": "{ tenant { name } }"},
                    headers={"X-Storefront-Key": t.storefront_key},
                )
                graphql.append(r.status_code)
                if r.status_code == 503:
                    ext = r.json()["errors"][0]["extensions"]
                    assert ext == UNAVAILABLE
                    assert r.headers["retry-after"] == "1"
                await asyncio.sleep(0.01)

    done = asyncio.Event()
    reader = asyncio.create_task(storefront_traffic())
    try:
        await ingest(
            server.url,
            token,
            work,
            clients=load_clients(),
            rng=rng,
            load=load,
            on_progress=restart_once,
        )
    finally:
        done.set()
        await reader
        if not (pg.datadir / "postmaster.pid").exists():  # a failed run leaves it up for others
            await asyncio.to_thread(pg.start)
    print(f"\nevents {n}, statuses {dict(load.statuses)}, graphql {sorted(set(graphql))}")
    assert restarted.is_set()
    assert load.statuses["503"] > 0 and set(load.statuses) <= {"200", "503"}
    assert {r["status"] for r in load.refusals} == {503}
    for r in load.refusals:
        assert r["retry-after"] == "1", r
        assert r["body"]["errors"][0]["extensions"] == UNAVAILABLE, r
    assert set(graphql) == {200, 503} and graphql[-1] == 200  # recovered, no restart of ours
    got = await stored(settings, t.id)
    print(f"stored {got}")
    assert got == {"events": n, "distinct_ids": n, "claims": n, "rolled_up": n}
