"""Tenant isolation over every REST (and plain Starlette) route of ``create_app()``: tenant B's
credentials against tenant A's data. A's key is unknown to B's gateway token, usage posted
with B's token never lands in A, A's products and specs are out of B's reach, and no
response carries anything of A's. A route without a case here fails the test."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import websockets
from fastapi import FastAPI
from starlette.routing import BaseRoute, Route, WebSocketRoute

from aforo.app import create_app
from tests.isolation_cases import diff, snapshot
from tests.test_ingest_gateways import ISO, KONG, MS, REST_LOG
from tests.test_ingest_mcp import call
from tests.test_ingest_mcp import ok as mcp_ok
from tests.test_playground_support import openapi
from tests.world import T0, Served, World, Worlds, leaks, served, worlds

__all__ = ["served", "worlds"]  # module-scoped fixtures, used by the tests below

Check = Callable[[Served, Worlds], Awaitable[list[httpx.Response]]]


def routes(app: FastAPI) -> set[str]:
    """``METHOD /path`` for every route the app answers (``WS /path`` for websockets),
    including those of included routers."""
    out: set[str] = set()

    def walk(rs: list[BaseRoute]) -> None:
        for r in rs:
            inner = getattr(r, "original_router", None)
            if inner is not None:
                walk(inner.routes)
            elif isinstance(r, WebSocketRoute):
                out.add(f"WS {r.path}")
            elif isinstance(r, Route):
                out.update(f"{m} {r.path}" for m in r.methods or () if m != "HEAD")

    walk(app.router.routes)
    return out


def gw(w: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {w.gateway}"}


async def verify(s: Served, w: Worlds) -> list[httpx.Response]:
    a, b = w.a, w.b
    api = s.api.client
    r1 = await api.post("/v1/keys/verify", json={"key": a.key_secret}, headers=gw(b))
    r2 = await api.post("/v1/keys/verify", headers={**gw(b), "X-Api-Key": a.key_secret})
    for r in (r1, r2):  # refused for the gateway (403), as an unknown key
        assert r.status_code == 403, r.text
        assert (r.json()["valid"], r.json()["code"]) == (False, "NOT_FOUND"), r.text
    # The control: A's own token knows A's key.
    assert (await api.post("/v1/keys/verify", json={"key": a.key_secret}, headers=gw(a))).is_success
    return [r1, r2]


async def oauth(s: Served, w: Worlds) -> list[httpx.Response]:
    a, b = w.a, w.b
    out = []
    for cid, secret in ((a.cc_client, b.cc_secret), (b.cc_client, a.cc_secret)):
        r = await s.api.client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret},
        )
        assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text
        out.append(r)
    return out


async def events(s: Served, w: Worlds) -> list[httpx.Response]:
    """A's event id and A's key as the consumer, under B's token: a new event of B's."""
    a, b = w.a, w.b
    r = await s.api.client.post(
        "/v1/usage/events",
        json={
            "events": [
                {
                    "event_id": f"{a.marker}-e1",
                    "metric": "api_calls",
                    "quantity": 5,
                    "occurred_at": T0,
                    "consumer": a.key,
                }
            ]
        },
        headers=gw(b),
    )
    assert r.status_code == 200 and (r.json()["accepted"], r.json()["duplicates"]) == (1, 0), r.text
    got = await s.api.data(
        "{ usageEvents { nodes { eventId keyId subscriptionId } } }", token=b.admin
    )
    node = next(n for n in got["usageEvents"]["nodes"] if n["eventId"] == f"{a.marker}-e1")
    assert (node["keyId"], node["subscriptionId"]) == (None, None), node  # not mapped to A's
    return [r]


async def upload(s: Served, w: Worlds) -> list[httpx.Response]:
    a, b = w.a, w.b
    csv = f"event_id,metric,quantity,occurred_at,consumer\n{a.marker}-u1,api_calls,7,{T0},{a.key}\n"
    r = await s.api.client.post(
        "/v1/usage/upload",
        content=csv.encode(),
        headers={**gw(b), "content-type": "text/csv"},
    )
    assert r.status_code == 200 and (r.json()["accepted"], r.json()["duplicates"]) == (1, 0), r.text
    return [r]


async def preview(s: Served, w: Worlds) -> list[httpx.Response]:
    """B's preview with A's saved mapping: not found; without it: B's rows, nothing stored."""
    a, b = w.a, w.b
    csv = f"time,consumer\n{T0},someone\n".encode()
    h = {**gw(b), "content-type": "text/csv"}
    theirs = await s.api.client.post(
        "/v1/usage/upload/preview", content=csv, params={"mapping": a.mapping}, headers=h
    )
    assert theirs.status_code == 404 and theirs.json()["error"]["code"] == "NOT_FOUND", theirs.text
    own = await s.api.client.post("/v1/usage/upload/preview", content=csv, headers=h)
    assert own.status_code == 200 and len(own.json()["events"]) == 1, own.text
    return [theirs, own]


def gateway_post(path: str, body: Callable[[Any], Any], *, firehose: bool = False) -> Check:
    """A gateway's log record naming A's key as its consumer, posted with B's token: one
    event of B's (the snapshot shows A's usage unchanged)."""

    def extra(b: World) -> dict[str, str]:  # Firehose sends the token in a header of its own
        return {"X-Amz-Firehose-Access-Key": b.gateway} if firehose else {}

    async def check(s: Served, w: Worlds) -> list[httpx.Response]:
        r = await s.api.client.post(
            path,
            content=json.dumps(body(w.a)),
            headers={**gw(w.b), "content-type": "application/json", **extra(w.b)},
        )
        assert r.status_code == 200, r.text
        if "requestId" in r.json():  # Firehose's own answer shape
            assert "errorMessage" not in r.json(), r.text
        else:
            assert r.json()["accepted"] == 1, r.text
        return [r]

    return check


def kong(a: World) -> dict[str, Any]:
    req = {**KONG["request"], "id": f"{a.marker}-kong"}
    return {**KONG, "request": req, "consumer": {"id": a.key, "username": a.marker}}


def azure(a: World) -> dict[str, Any]:
    return {
        "records": [
            {
                "time": ISO,
                "resourceId": "/SUBSCRIPTIONS/0/PROVIDERS/MICROSOFT.APIMANAGEMENT/SERVICE/S",
                "operationName": "Microsoft.ApiManagement/GatewayLogs",
                "category": "GatewayLogs",
                "durationMs": 5,
                "correlationId": f"{a.marker}-azure",
                "properties": {
                    "method": "GET",
                    "url": "https://s.azure-api.net/x",
                    "responseCode": 200,
                    "apimSubscriptionId": a.key,
                },
            }
        ]
    }


def apigee(a: World) -> dict[str, Any]:
    return {
        "records": [
            {
                "organization": "org",
                "environment": "prod",
                "apiproxy": "p",
                "client_received_start_timestamp": str(MS),
                "request_uri": "/x",
                "request_verb": "GET",
                "response_status_code": "200",
                "client_id": a.key,
                "messageid": f"{a.marker}-apigee",
            }
        ]
    }


def mulesoft(a: World) -> list[dict[str, Any]]:
    return [
        {
            "API ID": "1",
            "API Name": "x",
            "Application": a.key,
            "Message ID": f"{a.marker}-mule",
            "Resource Path": "/x",
            "Verb": "get",
            "Status Code": "200",
            "Timestamp": ISO,
        }
    ]


def aws(a: World) -> dict[str, Any]:
    log = {**REST_LOG, "requestId": f"{a.marker}-aws", "apiKeyId": a.key}
    return {
        "requestId": "delivery-1",
        "timestamp": MS,
        "records": [{"data": base64.b64encode(json.dumps(log).encode()).decode()}],
    }


def mcp(a: World) -> dict[str, Any]:
    record = call(1, "search", mcp_ok(1))
    return {"records": [{**record, "session_id": a.marker, "agent": {"client_id": a.key}}]}


async def specs(s: Served, w: Worlds) -> list[httpx.Response]:
    a, b = w.a, w.b
    token = {"Authorization": f"Bearer {b.admin}", "X-Storefront-Key": b.tenant.storefront_key}
    r1 = await s.api.client.post(
        "/api/v1/docs/api-specs",
        json={
            "product_id": a.product,
            "spec_format": "OPENAPI_3",
            "source_url": "http://127.0.0.1/x",
        },
        headers=token,
    )
    r2 = await s.api.client.post(
        "/api/v1/docs/api-specs",
        data={"product_id": a.product, "spec_format": "OPENAPI_3"},
        files={"file": ("spec.json", openapi([]).encode())},
        headers=token,
    )
    for r in (r1, r2):
        assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND", r.text
    return [r1, r2]


async def invoice_pdf(s: Served, w: Worlds) -> list[httpx.Response]:
    """A's invoice PDF with B's sessions (not found) and with a signed link to B's own invoice
    (a link opens the one invoice it names)."""
    a, b = w.a, w.b
    path = f"/v1/billing/invoices/{a.invoice}.pdf"
    out = []
    for token in (b.admin, b.dev):
        r = await s.api.client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND", r.text
        out.append(r)
    d = await s.api.data(
        "query($id: ID!) { invoice(id: $id) { pdfUrl } }", {"id": b.invoice}, token=b.admin
    )
    own = d["invoice"]["pdfUrl"]
    assert (await s.api.client.get(own)).status_code == 200  # the control: B's own opens
    r = await s.api.client.get(path + "?token=" + own.split("token=")[1])
    assert r.status_code == 401 and r.json()["error"]["code"] == "INVALID_TOKEN", r.text
    return [*out, r]


def public(path: str) -> Check:
    async def check(s: Served, w: Worlds) -> list[httpx.Response]:
        b = w.b
        r = await s.api.client.get(
            path,
            headers={
                "Authorization": f"Bearer {b.admin}",
                "X-Storefront-Key": b.tenant.storefront_key,
            },
        )
        assert r.status_code in (200, 503), r.text
        return [r]

    return check


TENANT_Q = "{ tenant { id slug name } products { id slug } threads { nodes { id title } } }"


async def graphql_get(s: Served, w: Worlds) -> list[httpx.Response]:
    # B's token with A's storefront key: the token's tenant answers, or the mix is refused.
    r = await s.api.client.get(
        "/graphql",
        params={"query": TENANT_Q},
        headers={
            "Authorization": f"Bearer {w.b.admin}",
            "X-Storefront-Key": w.a.tenant.storefront_key,
        },
    )
    assert r.status_code in (200, 400, 401, 403, 405), r.text
    return [r]


async def graphql_post(s: Served, w: Worlds) -> list[httpx.Response]:
    r = await s.api.raw(TENANT_Q, token=w.b.admin, storefront=w.a.tenant.storefront_key)
    assert r.status_code in (200, 400, 401, 403), r.text
    data = r.json().get("data") or {}
    if data.get("tenant"):
        assert data["tenant"]["id"] == w.b.tenant.id, data
    return [r]


async def graphql_ws(s: Served, w: Worlds) -> list[httpx.Response]:
    params = {"Authorization": f"Bearer {w.b.admin}", "X-Storefront-Key": w.a.tenant.storefront_key}
    async with websockets.connect(
        s.url.replace("http", "ws") + "/graphql",
        subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": params}))
        try:
            ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert ack["type"] == "connection_ack", ack
            sub = {"id": "q", "type": "subscribe", "payload": {"query": TENANT_Q}}
            await ws.send(json.dumps(sub))
            msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
        except websockets.ConnectionClosed as e:  # the mix refused at the handshake
            assert e.rcvd is not None and e.rcvd.code == 4403, e
            msg = {"closed": e.rcvd.code}
    tenant = ((msg.get("payload") or {}).get("data") or {}).get("tenant")
    assert tenant is None or tenant["id"] == w.b.tenant.id, msg
    return [httpx.Response(200, json=msg)]


CASES: dict[str, Check] = {
    "POST /v1/keys/verify": verify,
    "POST /oauth/token": oauth,
    "POST /v1/usage/events": events,
    "POST /v1/usage/upload": upload,
    "POST /v1/usage/upload/preview": preview,
    "POST /v1/usage/mcp": gateway_post("/v1/usage/mcp", mcp),
    "POST /v1/usage/gateways/kong": gateway_post("/v1/usage/gateways/kong", kong),
    "POST /v1/usage/gateways/azure": gateway_post("/v1/usage/gateways/azure", azure),
    "POST /v1/usage/gateways/apigee": gateway_post("/v1/usage/gateways/apigee", apigee),
    "POST /v1/usage/gateways/mulesoft": gateway_post("/v1/usage/gateways/mulesoft", mulesoft),
    "POST /v1/usage/gateways/aws": gateway_post("/v1/usage/gateways/aws", aws, firehose=True),
    "POST /api/v1/docs/api-specs": specs,
    "GET /v1/billing/invoices/{invoice_id}.pdf": invoice_pdf,
    "GET /openapi.json": public("/openapi.json"),
    "GET /api/openapi.json": public("/api/openapi.json"),
    "GET /api/docs": public("/api/docs"),
    "GET /ui/assets/{folder}/{name:path}": public("/ui/assets/aforo/graphiql-boot.js"),
    # The developer portal's static build (tenant-neutral files; 503 where it is not built).
    "GET /portal": public("/portal/"),  # a redirect to /portal/
    "GET /portal/{path:path}": public("/portal/keys"),
    "GET /healthz": public("/healthz"),
    "GET /readyz": public("/readyz"),
    "GET /metrics": public("/metrics"),
    "GET /.well-known/jwks.json": public("/.well-known/jwks.json"),
    "GET /graphql": graphql_get,
    "POST /graphql": graphql_post,
    "WS /graphql": graphql_ws,
}


def test_every_route_has_a_case() -> None:
    live = routes(create_app(_settings_stub()))
    assert sorted(live - set(CASES)) == [], "routes without an isolation case"
    assert sorted(set(CASES) - live) == [], "cases naming a route that no longer exists"


def _settings_stub() -> Any:
    from aforo.config import Settings

    return Settings(database_url="postgresql+asyncpg://unused/unused")  # routes only, no lifespan


async def test_b_reaches_nothing_of_a_through_any_route(served: Served, worlds: Worlds) -> None:
    a = worlds.a
    before = await snapshot(served, a)
    problems = []
    for key, check in sorted(CASES.items()):
        for r in await check(served, worlds):
            if found := leaks(r.text, a.secrets()):
                problems.append(f"{key}: leaks {found}: {r.text[:300]}")
    assert not problems, "\n".join(problems)
    # Besides B's own, what B posted above (naming A's key and ids): none on A's key.
    got = await served.api.data(
        "{ usageEvents(first: 200) { nodes { eventId keyId subscriptionId } } }",
        token=worlds.b.admin,
    )
    b = worlds.b
    own = [
        n for n in got["usageEvents"]["nodes"] if b.marker in n["eventId"] or n["keyId"] == b.key
    ]
    mine = [n for n in got["usageEvents"]["nodes"] if n not in own]
    assert len(own) == 3, own  # B's own event, upload row and try-it run
    assert len(mine) == 8, mine  # events, upload, MCP and the five gateways
    assert {(n["keyId"], n["subscriptionId"]) for n in mine} == {(None, None)}, mine
    print(f"isolation walk: {len(CASES)} REST routes")
    after = await snapshot(served, a)
    assert not diff(before, after), {k: (before[k], after.get(k)) for k in diff(before, after)}
