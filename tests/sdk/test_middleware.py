"""ASGI (FastAPI) and WSGI (Flask, Django) middleware: one line to add, one event per request."""

from __future__ import annotations

import asyncio

import flask
import httpx
from fastapi import APIRouter, FastAPI
from fastapi.responses import PlainTextResponse

from aforo.runtime.postgres import free_port
from aforo_metering import (
    AsyncClient,
    Client,
    MeteringMiddleware,
    WSGIMeteringMiddleware,
    meter_flask,
)
from tests.sdk import django_site
from tests.sdk.conftest import Console


def fastapi_app(client: Client | AsyncClient) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.post("/echo", response_class=PlainTextResponse)
    async def echo(body: dict[str, str]) -> str:
        return body["text"] * 3

    app.add_middleware(MeteringMiddleware, client=client)
    return app


async def test_asgi_middleware_meters_route_status_latency_bytes_and_key(
    console: Console,
) -> None:
    client = AsyncClient(console.url, console.token, flush_interval=0.05)
    app = fastapi_app(client)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://app.test"
    ) as http:
        r1 = await http.get(
            "/items/42", headers={"X-Api-Key-Id": console.key_id, "X-Request-Id": "rq-1"}
        )
        r2 = await http.post("/echo", json={"text": "ab"}, headers={"X-Api-Key-Id": "acme-key"})
        r3 = await http.get("/items/nope")
    assert (r1.status_code, r2.status_code, r3.status_code) == (200, 200, 422)
    assert await client.flush(20)
    await client.aclose()

    events = {e["path"]: e for e in await console.events(metric="api.requests")}
    assert set(events) == {"/items/42", "/echo", "/items/nope"}
    got = events["/items/42"]
    assert (got["method"], got["route"], got["status"], got["key_id"], got["request_id"]) == (
        "GET",
        "/items/{item_id}",
        200,
        console.key_id,
        "rq-1",
    )
    assert got["response_bytes"] == len(r1.content) and got["latency_ms"] >= 0
    echo = events["/echo"]
    assert echo["request_bytes"] == len(b'{"text":"ab"}')
    assert echo["response_bytes"] == len("ababab")
    # a key reference that is not a key id is kept as the consumer, not lost
    assert (echo["key_id"], echo["consumer"]) == (None, "acme-key")
    assert (events["/items/nope"]["status"], events["/items/nope"]["route"]) == (
        422,
        "/items/{item_id}",
    )
    # what the developer then sees: the requests in the usage series
    series = await console.usage(metric="api.requests")
    assert (float(series["total"]), series["events"]) == (3, 3)
    assert (await console.usage(keyId=console.key_id))["events"] == 1


async def test_asgi_app_is_unaffected_when_the_console_is_unreachable() -> None:
    client = Client(f"http://127.0.0.1:{free_port()}", "gwt_x", backoff_base=0.01)
    app = fastapi_app(client)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://app.test"
    ) as http:
        responses = await asyncio.gather(*(http.get(f"/items/{i}") for i in range(50)))
    assert [r.json() for r in responses] == [{"item_id": i} for i in range(50)]
    assert client.pending == 50  # buffered for later, none lost, none sent inline
    client.close(timeout=0)


def flask_app(client: Client) -> flask.Flask:
    app = flask.Flask("metered")

    @app.get("/users/<int:user_id>")
    def user(user_id: int) -> dict[str, int]:
        return {"user_id": user_id}

    @app.post("/upload")
    def upload() -> tuple[str, int]:
        return "stored", 201

    return meter_flask(app, client)  # type: ignore[no-any-return]


def call_flask(app: flask.Flask, key_id: str) -> list[httpx.Response]:
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://app.test") as http:
        return [
            http.get("/users/7", headers={"X-Api-Key-Id": key_id}),
            http.post("/upload", content=b"x" * 1000),
            http.get("/nowhere"),
        ]


async def test_wsgi_middleware_meters_flask_requests(console: Console) -> None:
    client = Client(console.url, console.token, flush_interval=0.05)
    app = flask_app(client)
    r1, r2, r3 = await asyncio.to_thread(call_flask, app, console.key_id)
    assert (r1.status_code, r2.status_code, r3.status_code) == (200, 201, 404)
    assert await asyncio.to_thread(client.flush, 20)
    client.close()

    events = {e["path"]: e for e in await console.events(metric="api.requests")}
    assert set(events) == {"/users/7", "/upload", "/nowhere"}
    got = events["/users/7"]
    assert (got["method"], got["route"], got["status"], got["key_id"]) == (
        "GET",
        "/users/<int:user_id>",
        200,
        console.key_id,
    )
    assert got["response_bytes"] == len(r1.content)
    up = events["/upload"]
    assert (up["method"], up["status"], up["request_bytes"], up["response_bytes"]) == (
        "POST",
        201,
        1000,
        len(b"stored"),
    )
    assert (events["/nowhere"]["status"], events["/nowhere"]["route"]) == (404, None)


def test_wsgi_app_is_unaffected_when_the_console_is_unreachable() -> None:
    client = Client(f"http://127.0.0.1:{free_port()}", "gwt_x", backoff_base=0.01)
    app = flask_app(client)
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://app.test") as http:
        assert [http.get(f"/users/{i}").json() for i in range(20)] == [
            {"user_id": i} for i in range(20)
        ]
    assert client.pending == 20
    client.close(timeout=0)


def mounted_app(client: AsyncClient) -> FastAPI:
    """Routes below a mounted sub-application and an included router with prefixes."""
    v2 = FastAPI()

    @v2.get("/items/{item_id}")
    async def item_v2(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    admin = APIRouter(prefix="/admin")

    @admin.get("/users/{user_id}")
    async def user(user_id: int) -> dict[str, int]:
        return {"user_id": user_id}

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    app.include_router(admin, prefix="/api")
    app.mount("/v2", v2)
    app.mount("/tenants/{tenant}", v2)
    app.add_middleware(MeteringMiddleware, client=client)
    return app


async def test_asgi_route_templates_keep_mount_and_router_prefixes(console: Console) -> None:
    client = AsyncClient(console.url, console.token, flush_interval=0.05)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=mounted_app(client)), base_url="http://app.test"
    ) as http:
        statuses = [
            (await http.get(p)).status_code
            for p in (
                "/items/1",
                "/v2/items/2",
                "/api/admin/users/3",
                "/tenants/acme/items/4",
                "/v2/missing",
            )
        ]
    assert statuses == [200, 200, 200, 200, 404]
    assert await client.flush(20)
    await client.aclose()

    routes = {e["path"]: e["route"] for e in await console.events(metric="api.requests")}
    assert routes == {
        "/items/1": "/items/{item_id}",
        # the sub-application's own route is /items/{item_id}: the mount keeps them apart
        "/v2/items/2": "/v2/items/{item_id}",
        "/api/admin/users/3": "/api/admin/users/{user_id}",
        # one route per tenant would make the template useless for grouping
        "/tenants/acme/items/4": "/tenants/{tenant}/items/{item_id}",
        "/v2/missing": None,
    }


def django_app(client: Client) -> object:
    return WSGIMeteringMiddleware(django_site.wsgi_app(), client)  # the README's one line


def call_django(app: object, key_id: str) -> list[httpx.Response]:
    with django_site.serve(app) as url, httpx.Client(base_url=url) as http:
        return [
            http.get("/items/7", headers={"X-Api-Key-Id": key_id, "X-Request-Id": "dj-1"}),
            http.get("/items/500"),
            http.post("/api/upload", content=b"x" * 1000),
            http.get("/api/boom"),
            http.get("/nowhere"),
        ]


async def test_wsgi_middleware_meters_django_requests(console: Console) -> None:
    client = Client(console.url, console.token, flush_interval=0.05)
    responses = await asyncio.to_thread(call_django, django_app(client), console.key_id)
    assert [r.status_code for r in responses] == [200, 404, 201, 500, 404]
    assert await asyncio.to_thread(client.flush, 20)
    client.close()

    events = {e["path"]: e for e in await console.events(metric="api.requests")}
    assert set(events) == {"/items/7", "/items/500", "/api/upload", "/api/boom", "/nowhere"}
    got = events["/items/7"]
    assert (got["method"], got["route"], got["status"], got["key_id"], got["request_id"]) == (
        "GET",
        "/items/<int:item_id>",
        200,
        console.key_id,
        "dj-1",
    )
    assert got["response_bytes"] == len(responses[0].content) == len(b'{"item_id": 7}')
    assert got["latency_ms"] >= 0 and got["client_ip"] == "127.0.0.1"
    # a view's own 404 and 500 keep the route they matched (with the include() prefix)
    assert (events["/items/500"]["status"], events["/items/500"]["route"]) == (
        404,
        "/items/<int:item_id>",
    )
    assert (events["/api/boom"]["status"], events["/api/boom"]["route"]) == (500, "/api/boom")
    up = events["/api/upload"]
    assert (up["method"], up["route"], up["status"], up["request_bytes"]) == (
        "POST",
        "/api/upload",
        201,
        1000,
    )
    assert up["response_bytes"] == len(b"stored:1000")
    # no URL pattern matched: Django has no route to report
    assert (events["/nowhere"]["status"], events["/nowhere"]["route"]) == (404, None)
    assert (await console.usage(keyId=console.key_id))["events"] == 1
    assert (await console.usage(metric="api.requests"))["events"] == 5


def test_django_app_is_unaffected_when_the_console_is_unreachable() -> None:
    client = Client(f"http://127.0.0.1:{free_port()}", "gwt_x", backoff_base=0.01)
    with django_site.serve(django_app(client)) as url, httpx.Client(base_url=url) as http:
        assert [http.get(f"/items/{i}").json() for i in range(20)] == [
            {"item_id": i} for i in range(20)
        ]
    assert client.pending == 20
    client.close(timeout=0)
