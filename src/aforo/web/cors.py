"""CORS for the routes a browser calls, from each tenant's allowed origins.

A preflight (``OPTIONS`` with ``Access-Control-Request-Method``) carries no credential, so it
cannot name a tenant: it is granted when the operator (``AFORO_CORS_ORIGINS``) or *any* tenant
allows the origin. The actual request carries the credential: once the app knows the tenant
it settles the request (``edge_policy.admit``) and a tenant (or storefront key) that does not
allow the origin gets a refusal before anything runs, with no CORS grant. A request that never
learns a tenant (no or a bad credential) only ever answers an error; it is readable by origins
a preflight would be granted to. Same-origin requests and requests without ``Origin`` (servers,
curl) pass untouched. Every response on these routes varies by ``Origin``.

Server-to-server routes (usage ingestion, key verification, OAuth token) get no CORS at all.
"""

from __future__ import annotations

import json

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aforo.runtime.state import Runtime
from aforo.services import edge_policy
from aforo.services.edge import parse_origin
from aforo.services.edge_policy import CORS_STATE, CrossOrigin

# Prefixes of routes browsers call; everything else (the gateway side) gets no CORS.
BROWSER_PATHS = ("/graphql", "/api/v1/docs/")
ALLOW_METHODS = "GET, POST, OPTIONS"
ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "x-storefront-key",
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "if-none-match",
)
EXPOSE_HEADERS = "ETag, Retry-After, WWW-Authenticate"
MAX_AGE = "600"


def own_origin(scope: Scope) -> str:
    host = Headers(scope=scope).get("host", "")
    scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"), scope["scheme"])
    return f"{scheme}://{host}".lower()


def is_browser_path(path: str) -> bool:
    return path == "/graphql" or path.startswith(BROWSER_PATHS)


class CORSMiddleware:
    def __init__(self, app: ASGIApp, holder: dict[str, Runtime]) -> None:
        self.app = app
        self.holder = holder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_browser_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        raw = headers.get("origin")
        if raw is None or raw.lower() == own_origin(scope):
            await self.app(scope, receive, send)
            return
        policies = edge_policy.policies(self.holder["runtime"])
        origin = parse_origin(raw)
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            allowed = origin is not None and await policies.allowed_anywhere(origin)
            await self._preflight(raw, allowed, headers, send)
            return
        cross = CrossOrigin(origin, raw)
        scope.setdefault("state", {})[CORS_STATE] = cross

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out.add_vary_header("Origin")
                granted = cross.granted
                if granted is None:  # no tenant was learned: an error a preflight allowed
                    granted = origin is not None and await policies.allowed_anywhere(origin)
                if granted:
                    out["Access-Control-Allow-Origin"] = raw
                    out["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_cors)

    @staticmethod
    async def _preflight(raw: str, allowed: bool, headers: Headers, send: Send) -> None:
        vary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
        out: list[tuple[bytes, bytes]] = [(b"vary", vary.encode())]
        if allowed:
            status, body = 204, b""
            out += [
                (b"access-control-allow-origin", raw.encode("latin-1")),
                (b"access-control-allow-methods", ALLOW_METHODS.encode()),
                (b"access-control-allow-headers", ", ".join(ALLOW_HEADERS).encode()),
                (b"access-control-max-age", MAX_AGE.encode()),
            ]
        else:
            status = 403
            body = json.dumps(
                {
                    "error": {
                        "code": "ORIGIN_NOT_ALLOWED",
                        "message": f"no tenant allows the origin {raw}",
                    }
                }
            ).encode()
            out.append((b"content-type", b"application/json"))
        out.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": body})
