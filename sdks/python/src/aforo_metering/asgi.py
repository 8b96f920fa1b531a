"""ASGI middleware (Starlette, FastAPI, any ASGI app): one event per HTTP request.

app.add_middleware(MeteringMiddleware, client=client)
"""

from __future__ import annotations

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


class MeteringMiddleware:
    """Meters method, route template (``scope["route"]`` as Starlette and FastAPI set it),
    status, latency and body sizes, with the caller's key id taken from ``key_header``
    (set by the API gateway after verifying the key)."""

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
            self._record(scope, status["code"], sizes, started)

    def _record(self, scope: Scope, status: int, sizes: dict[str, int], started: float) -> None:
        headers = {k.lower(): v for k, v in scope.get("headers", [])}

        def header(name: bytes) -> str | None:
            value = headers.get(name) if name else None
            return value.decode("latin-1") if value else None

        route = getattr(scope.get("route"), "path", None)
        client = scope.get("client")
        record_request(
            self.client,
            self.metric,
            {
                "method": scope.get("method"),
                "path": scope.get("path"),
                "route": route if isinstance(route, str) else None,
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
