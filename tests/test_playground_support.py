"""Try-it playground test kit: an upstream that echoes what reached it (and misbehaves on
request), nginx as the tenant's gateway passing the credential on, a spec pointing at them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from aforo.services.playground_runs import Limits, executor
from tests.gateway import KeyWorld, Nginx, make_key_world, ok
from tests.services import AppServer
from tests.support import Api

TRY = """mutation($i: TryOperationInput!) { tryOperation(input: $i) { __typename
  ... on PlaygroundResponse { runId status headers { name value } body bodyBytes contentType url
      timing { dnsMs connectMs tlsMs ttfbMs transferMs totalMs reusedConnection } }
  ... on UserError { code message field } } }"""

IMPORT = """mutation($i: ImportSpecInput!) { importSpec(input: $i) { __typename
  ... on SpecImported { spec { id } version { operations { id key } } }
  ... on SpecInvalid { code message problems { pointer message } }
  ... on UserError { code message field } } }"""

ALLOW = """mutation($e: String!) { addOutboundAllow(entry: $e) { __typename } }"""


@dataclass
class Upstream:
    """The tenant's API: records every request, echoes it back with the credential it got
    (in the body and in headers, the way a careless API would)."""

    seen: list[dict[str, Any]] = field(default_factory=list)

    async def echo(self, request: Request) -> Response:
        body = (await request.body()).decode()
        got = {
            "method": request.method,
            "path": request.url.path,
            "raw_path": request.scope["raw_path"].decode(),
            "query": request.url.query,
            "headers": dict(request.headers),
            "body": body,
        }
        self.seen.append(got)
        auth = request.headers.get("authorization", "")
        return JSONResponse(
            got,
            headers={
                "X-Echo-Authorization": auth,
                "X-Request-Seen": "yes",
                "Set-Cookie": "session=s3cr3t; HttpOnly",
                "WWW-Authenticate": 'Bearer realm="api"',
            },
        )

    async def redirect(self, request: Request) -> Response:
        return RedirectResponse(request.query_params["to"], status_code=302)

    async def big(self, request: Request) -> Response:
        return Response(b"x" * (2 * 1024 * 1024), media_type="application/octet-stream")

    async def slow(self, request: Request) -> Response:
        await asyncio.sleep(float(request.query_params.get("s", "2")))
        return JSONResponse({"slow": True})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/redirect", self.redirect),
                Route("/big", self.big),
                Route("/slow", self.slow),
                Route("/{path:path}", self.echo, methods=["GET", "POST", "PUT", "DELETE"]),
            ]
        )


@contextmanager
def upstream() -> Iterator[tuple[Upstream, AppServer]]:
    up = Upstream()
    server = AppServer(up.app()).start()
    try:
        yield up, server
    finally:
        server.stop()


class PassingNginx(Nginx):
    """The gateway of the key vault's tests, except that the verified credential goes on to
    the upstream: so a test can see exactly what the API received."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        conf = self.conf.read_text()
        assert 'proxy_set_header Authorization "";' in conf
        self.conf.write_text(conf.replace('proxy_set_header Authorization "";', ""))


@contextmanager
def gateway_to(app: FastAPI, gateway_token: str, upstream_port: int) -> Iterator[Nginx]:
    """nginx (``auth_request`` to ``app``'s ``/v1/keys/verify``, uvicorn-served) → upstream."""
    service = AppServer(app).start()
    nginx = PassingNginx(
        verify_url=service.url, upstream_port=upstream_port, gateway_token=gateway_token
    ).start()
    try:
        yield nginx
    finally:
        nginx.stop()
        service.stop()


def openapi(servers: list[str], *, security: str | None = "bearer") -> str:
    get: dict[str, Any] = {
        "operationId": "forecast",
        "parameters": [{"name": "days", "in": "query", "schema": {"type": "integer"}}],
        "responses": {"200": {"description": "ok"}},
    }
    simple = {"responses": {"200": {"description": "ok"}}}
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "Weather", "version": "1"},
        "servers": [{"url": s} for s in servers],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "header": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
                "basic": {"type": "http", "scheme": "basic"},
            }
        },
        "paths": {
            "/forecast/{city}": {
                "parameters": [
                    {"name": "city", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "get": get,
                "post": {
                    **simple,
                    "requestBody": {
                        "content": {"application/json": {"schema": {"type": "object"}}}
                    },
                },
            },
            "/redirect": {
                "get": {
                    **simple,
                    "parameters": [{"name": "to", "in": "query", "required": True, "schema": {}}],
                }
            },
            "/big": {"get": simple},
            "/slow": {"get": simple},
        },
    }
    if security:
        doc["security"] = [{security: []}]
    return json.dumps(doc)


@dataclass
class World:
    keys: KeyWorld
    ops: dict[str, str]  # "GET /forecast/{city}" → operation id

    def run(self, key: str, **inp: Any) -> dict[str, Any]:
        return {"operationId": self.ops[key], "keyId": self.keys.key_id, **inp}


async def make_world(
    api: Api,
    servers: list[str],
    *,
    security: str | None = "bearer",
    allow: tuple[str, ...] = (),
    keys: KeyWorld | None = None,
) -> World:
    w = keys or await make_key_world(api)
    for entry in allow:
        await api.data(ALLOW, {"e": entry}, token=w.admin)
    imported = await ok(
        api,
        IMPORT,
        {
            "i": {
                "productId": w.product_id,
                "format": "OPENAPI_3",
                "content": openapi(servers, security=security),
                "name": f"weather-{security}-{len(servers)}",
            }
        },
        "importSpec",
        token=w.admin,
    )
    assert imported["__typename"] == "SpecImported", imported
    ops = {o["key"]: o["id"] for o in imported["version"]["operations"]}
    return World(w, ops)


async def try_it(api: Api, token: str, inp: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = (await api.data(TRY, {"i": inp}, token=token))["tryOperation"]
    return result


def limits(app: FastAPI, **changes: Any) -> None:
    """Tighter caps for a test (timeout, size, rate) on this instance."""
    ex = executor(app.state.runtime)
    ex.limits = Limits(**{**ex.limits.__dict__, **changes})
