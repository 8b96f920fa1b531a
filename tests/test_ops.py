"""Health, readiness, metrics, GraphiQL and the graphql-transport-ws websocket."""

from __future__ import annotations

import asyncio
import json
import random
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import websockets
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from sqlalchemy import text
from starlette.routing import Route

from aforo import app as app_module
from aforo import db
from aforo.app import create_app
from aforo.config import Settings
from aforo.db import asyncpg_dsn
from aforo.runtime.metrics import BUCKETS, Metrics
from aforo.runtime.postgres import EmbeddedPostgres
from tests.conftest import with_settings
from tests.services import AppServer
from tests.support import Api, TenantFixture, make_tenant


async def test_health_ready_and_metrics(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    r = await api.client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["status"] == "ready" and r.json()["revision"] == r.json()["head"]

    t = await make_tenant(api.settings)
    await api.data("query TenantName { tenant { name } }", storefront=t.storefront_key)
    text = (await api.client.get("/metrics")).text
    assert (
        'aforo_graphql_operations_total{operation="TenantName",outcome="ok",type="query"} 1.0'
        in text
    )
    assert 'aforo_http_requests_total{method="GET",route="/readyz",status="200"} 1.0' in text
    assert "aforo_http_request_duration_seconds_bucket" in text


def test_request_metrics_expose_what_prometheus_client_would() -> None:
    """The request path keeps plain numbers (``metrics.Timed``); scraped, they read exactly as
    prometheus_client's own counter and histogram fed the same requests would (bucket edges
    included: a value equal to a bound counts in that bound's bucket)."""
    reference = CollectorRegistry()
    labels = ["method", "route", "status"]
    counter = Counter("aforo_http_requests", "HTTP requests", labels, registry=reference)
    histogram = Histogram(
        "aforo_http_request_duration_seconds",
        "HTTP request latency",
        labels[:2],
        buckets=BUCKETS,
        registry=reference,
    )
    metrics = Metrics()
    http = metrics.http
    rng = random.Random(3)
    for _ in range(500):
        method, route = rng.choice(["GET", "POST"]), rng.choice(["/readyz", "/v1/keys/{id}"])
        status = rng.choice([200, 404])
        seconds = rng.choice([*BUCKETS, 0.0004, 11.0, rng.random()])
        counter.labels(method, route, str(status)).inc()
        histogram.labels(method, route).observe(seconds)
        http.observe(method, route, status, seconds)

    def lines(registry: CollectorRegistry) -> list[str]:
        # (creation times differ, and our histogram has none)
        text = generate_latest(registry).decode()
        return sorted(line for line in text.splitlines() if "_created" not in line)

    ours = [line for line in lines(metrics.registry) if "graphql" not in line]
    assert ours == lines(reference)


async def test_readyz_reports_an_unreachable_database(settings: Settings) -> None:
    broken = with_settings(
        settings, database_url="postgresql+asyncpg://aforo_app:x@127.0.0.1:1/none"
    )
    app = create_app(broken)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        r = await c.get("/readyz")
    assert r.status_code == 503 and r.json()["status"] == "unavailable"


async def test_graphiql_in_a_browser(api: Api, settings: Settings, ui_assets: Path) -> None:
    # Without its assets installed, the page says how to install them (nothing from a CDN).
    r = await api.client.get("/graphql", headers={"Accept": "text/html"})
    assert r.status_code == 503 and "aforo assets fetch" in r.text
    app = create_app(with_settings(settings, assets_dir=ui_assets))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        r = await c.get("/graphql", headers={"Accept": "text/html"})
        assert r.status_code == 200 and "graphiql" in r.text.lower()
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert "<script>" not in r.text  # no inline script: the bootstrap is a served file
        for src in re.findall(r'src="([^"]+)"', r.text):
            asset = await c.get(src)
            assert asset.status_code == 200 and asset.headers["etag"], src


async def test_query_size_limits_apply(api: Api) -> None:
    t = await make_tenant(api.settings)
    many = "{ " + " ".join(f"a{i}: tenant {{ id }}" for i in range(40)) + " }"
    body = await api.gql(many, storefront=t.storefront_key)
    assert "aliases" in body["errors"][0]["message"].lower()
    huge = "{ tenant { " + "id " * 6000 + "} }"
    body = await api.gql(huge, storefront=t.storefront_key)
    assert "token" in body["errors"][0]["message"].lower()


@pytest.fixture
def server(settings: Settings) -> Iterator[AppServer]:
    s = AppServer(create_app(settings)).start()
    yield s
    s.stop()


async def _ws_query(
    server: AppServer, params: dict[str, str], query: str
) -> list[dict[str, object]]:
    url = server.url.replace("http", "ws") + "/graphql"
    async with websockets.connect(
        url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": params}))
        ack = json.loads(await ws.recv())
        assert ack["type"] == "connection_ack"
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv())["type"] == "pong"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        out = []
        while True:
            msg = json.loads(await ws.recv())
            out.append(msg)
            if msg["type"] in ("complete", "error"):
                return out


async def test_websocket_speaks_graphql_transport_ws(server: AppServer, settings: Settings) -> None:
    t = await make_tenant(settings)
    msgs = await _ws_query(server, {"X-Storefront-Key": t.storefront_key}, "{ tenant { slug } }")
    assert msgs[0] == {"id": "1", "type": "next", "payload": {"data": {"tenant": {"slug": "acme"}}}}
    assert msgs[-1]["type"] == "complete"


async def test_websocket_rejects_a_bad_credential(server: AppServer) -> None:
    url = server.url.replace("http", "ws") + "/graphql"
    async with websockets.connect(
        url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]
    ) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"X-Storefront-Key": "pk_nope"}})
        )
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_oversized_malformed_and_batched_requests_get_clear_4xx(api: Api) -> None:
    t = await make_tenant(api.settings)
    h = {"X-Storefront-Key": t.storefront_key}
    big = {"query": "query($v: String) { tenant { id } }", "variables": {"v": "x" * 300_000}}
    r = await api.client.post("/graphql", json=big, headers=h)
    assert r.status_code == 413
    assert r.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(40):
            yield b" " * 10_000

    r = await api.client.post(
        "/graphql", content=chunks(), headers={**h, "content-type": "application/json"}
    )
    assert r.status_code == 413

    r = await api.client.post(
        "/graphql", content=b'{"query": ', headers={**h, "content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"

    batch = [{"query": "{ tenant { id } }"}] * 2
    r = await api.client.post("/graphql", json=batch, headers=h)
    assert r.status_code == 400 and "batching" in r.json()["errors"][0]["message"].lower()


async def test_database_restart_is_a_retryable_503_then_recovers(
    api: Api, pg: EmbeddedPostgres
) -> None:
    t = await make_tenant(api.settings)
    q = "{ tenant { name } }"
    assert (await api.data(q, storefront=t.storefront_key))["tenant"]["name"] == "Acme"
    pg.stop()
    try:
        r = await api.raw(q, storefront=t.storefront_key)
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "1"
        assert r.json()["errors"][0]["extensions"] == {
            "code": "SERVICE_UNAVAILABLE",
            "retryable": True,
        }
        ready = await api.client.get("/readyz")
        assert ready.status_code == 503
    finally:
        pg.start()
    # Same process, no restart of ours: the pool reconnects.
    assert (await api.data(q, storefront=t.storefront_key))["tenant"]["name"] == "Acme"


async def test_a_pooled_connection_is_pinged_only_after_idling(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy pool lends its connections without a round trip each; one idle for a while is
    pinged first; one the server closed is replaced, and the statement still runs."""
    pings: list[str] = []
    execute = asyncpg.connection.Connection.execute

    async def spy(self: asyncpg.Connection, query: str, *args: Any, **kw: Any) -> str:
        if query == "select 1":
            pings.append(query)
        return await execute(self, query, *args, **kw)

    monkeypatch.setattr(asyncpg.connection.Connection, "execute", spy)
    assert settings.database_url
    engine = db.create_engine(settings.database_url, pool_size=1)

    async def backend() -> int:
        async with engine.connect() as c:
            return int((await c.execute(text("select pg_backend_pid()"))).scalar_one())

    try:
        first = {await backend() for _ in range(5)}
        assert len(first) == 1 and pings == []  # one connection, lent five times, no pings
        monkeypatch.setattr(db, "PING_IDLE_S", 0.0)  # as if it had idled
        assert await backend() in first
        assert pings == ["select 1"]
        raw = await asyncpg.connect(asyncpg_dsn(engine))
        try:
            assert await raw.fetchval("select pg_terminate_backend($1)", first.pop())
        finally:
            await raw.close()
        await asyncio.sleep(0.2)  # the pooled connection hears the server close it
        pings.clear()
        assert await backend() not in first  # replaced, not used: no error for the caller
        assert pings == []  # a closed connection needs no round trip to be found
    finally:
        await engine.dispose()


def test_a_hot_route_must_be_matched_by_its_path_alone(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hot routes are found by (path, method) before the middleware stack; one with path
    parameters could never be found that way, so the app refuses it rather than serve it
    through the ordinary router without its hot-path handling."""

    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("never called")

    monkeypatch.setattr(app_module, "STARLETTE_ROUTES", (Route("/v1/x/{id}", endpoint),))
    with pytest.raises(TypeError, match=re.escape("/v1/x/{id}")):
        create_app(settings)


async def test_a_tenant_bound_lookup_sees_its_tenant_only_and_never_lends_it_on(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``LookupPool.read_as``: row-level security applies as in a session bound to the
    tenant, read-only; a connection keeps its binding for the next read as the same tenant
    (one round trip), and every other statement runs with exactly the binding it asked for -
    also after a failed or cancelled read."""
    a, b = await make_tenant(settings, "A"), await make_tenant(settings, "B")
    binds: list[str] = []
    execute = asyncpg.connection.Connection.execute

    async def spy(self: asyncpg.Connection, query: str, *args: Any, **kw: Any) -> str:
        if "set_config('app.tenant_id'" in query:
            binds.append("unbind" if "''" in query else "bind")
        return await execute(self, query, *args, **kw)

    monkeypatch.setattr(asyncpg.connection.Connection, "execute", spy)
    assert settings.database_url
    engine = db.create_engine(settings.database_url, pool_size=1)
    pool = db.LookupPool(asyncpg_dsn(engine), 1)
    state = (
        "select current_setting('app.tenant_id', true) as tenant, txid_current() as tx,"
        " current_setting('transaction_read_only') as read_only, pg_backend_pid() as pid"
    )

    async def clean() -> int:
        (one,), (two,) = await pool.fetch(state), await pool.fetch(state)
        assert not one["tenant"] and not two["tenant"] and one["read_only"] == "off"
        assert one["tx"] != two["tx"]  # each statement its own transaction: none left open
        assert one["pid"] == two["pid"]
        return int(one["pid"])

    async def tenants_as(t: TenantFixture) -> list[str]:
        return [str(r["id"]) for r in await pool.read_as(uuid.UUID(t.id), "select id from tenants")]

    try:
        assert await tenants_as(a) == [a.id] and await tenants_as(a) == [a.id]
        assert binds == ["bind"]  # the second read found its connection bound already
        assert await tenants_as(b) == [b.id]
        assert await pool.fetch("select id from tenants") == []  # unbound: no tenant's rows
        assert binds == ["bind", "bind", "unbind"]
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await pool.read_as(uuid.UUID(a.id), "delete from tenants")
        await clean()
        with pytest.raises(asyncpg.DivisionByZeroError):
            await pool.read_as(uuid.UUID(a.id), "select 1 / 0")
        await clean()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await pool.read_as(uuid.UUID(a.id), "select pg_sleep(5)")
        first = await clean()
        assert await clean() == first  # a clean connection is lent on
        # An argument that does not encode is the caller's error, not a dead connection's.
        with pytest.raises(asyncpg.DataError, match="invalid input"):
            await pool.fetch("select $1::int", "not a number")
        assert await clean() == first
    finally:
        await pool.close()
        await engine.dispose()
