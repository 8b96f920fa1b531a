"""ASGI middleware (Starlette, FastAPI, any ASGI app): one event per HTTP request.

app.add_middleware(MeteringMiddleware, client=client)
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from aforo_metering._request import record_request
from aforo_metering.aio import AsyncClient
from aforo_metering.client import Client

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_PARAM = re.compile(r"\{(\w+)")


def route_template(scope: Scope, root_path: str) -> str | None:
    """The template of the matched route, relative to ``root_path`` (the app this middleware
    wraps), mount and router prefixes included: ``/v2/items/{item_id}``.

    Starlette leaves only the innermost route in ``scope["route"]``, relative to the last
    mount, and recent FastAPI versions keep an included router's prefix out of its routes'
    ``path``; so the prefix is what the request path has before the route's own segments,
    with the values of mount parameters put back as ``{name}``."""
    template = getattr(scope.get("route"), "path", None)
    if not isinstance(template, str):
        return None
    path = str(scope.get("path", ""))
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    if ":path}" in template:
        # A catch-all route spans any number of segments: only mounts can be told apart.
        inner_root = str(scope.get("root_path", ""))
        prefix = inner_root[len(root_path) :] if inner_root.startswith(root_path) else ""
    else:
        segments = template.count("/")
        parts = path.rsplit("/", segments) if segments else [path]
        prefix = parts[0] if len(parts) == segments + 1 else ""
    if not prefix:
        return template
    own = set(_PARAM.findall(template))
    outer = {
        str(value): name
        for name, value in dict(scope.get("path_params") or {}).items()
        if name not in own
    }
    if outer:
        prefix = "/".join(
            f"{{{outer[segment]}}}" if segment in outer else segment
            for segment in prefix.split("/")
        )
    return prefix + template


class MeteringMiddleware:
    """Meters method, route template (from ``scope["route"]`` as Starlette and FastAPI set
    it, with mount and router prefixes), status, latency and body sizes, with the caller's
    key id taken from ``key_header`` (set by the API gateway after verifying the key)."""

    def __init__(
        self,
        app: ASGIApp,
        client: Client | AsyncClient,
        *,
        metric: str = "api.requests",
        key_header: str = "x-api-key-id",
        subscription_header: str | None = "x-subscription-id",
        consumer_header: str | None = None,
        request_id_header: str = "x-request-id",
        exclude_paths: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.client = client
        self.metric = metric
        self.key_header = key_header.lower().encode()
        self.subscription_header = (subscription_header or "").lower().encode()
        self.consumer_header = (consumer_header or "").lower().encode()
        self.request_id_header = request_id_header.lower().encode()
        self.exclude_paths = exclude_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        excluded = self.exclude_paths and scope.get("path", "").startswith(self.exclude_paths)
        if scope["type"] != "http" or excluded:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # Mounts below rewrite scope["root_path"] in place: keep the one this app sees.
        root_path = str(scope.get("root_path", ""))
        sizes = {"request": 0, "response": 0}
        status = {"code": 500}

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                sizes["request"] += len(message.get("body", b""))
            return message

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            elif message["type"] == "http.response.body":
                sizes["response"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, counting_receive, counting_send)
        finally:
            self._record(scope, root_path, status["code"], sizes, started)

    def _record(
        self, scope: Scope, root_path: str, status: int, sizes: dict[str, int], started: float
    ) -> None:
        headers = {k.lower(): v for k, v in scope.get("headers", [])}

        def header(name: bytes) -> str | None:
            value = headers.get(name) if name else None
            return value.decode("latin-1") if value else None

        try:
            route = route_template(scope, root_path)
        except Exception:  # an odd route object must not cost the request its event
            route = None
        client = scope.get("client")
        record_request(
            self.client,
            self.metric,
            {
                "method": scope.get("method"),
                "path": scope.get("path"),
                "route": route,
                "status": status,
                "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                "request_bytes": sizes["request"],
                "response_bytes": sizes["response"],
                "key_id": header(self.key_header),
                "subscription_id": header(self.subscription_header),
                "consumer": header(self.consumer_header),
                "request_id": header(self.request_id_header),
                "client_ip": client[0] if client else None,
            },
        )
