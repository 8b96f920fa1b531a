"""Real HTTP servers for the SDK tests: the console app under uvicorn on a loopback port (which
can be stopped and started again on the same port), and a fault-injecting forwarder."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
import uvicorn

from aforo.app import create_app
from aforo.config import Settings
from aforo.runtime.postgres import free_port

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class ThreadedServer:
    """uvicorn running an ASGI app in a thread of its own (its own event loop). Unlike
    ``tests.services.AppServer`` it can be stopped and started again on the same port with a
    fresh app: the outage tests need the console to come back at the same address."""

    START_S = 60.0

    def __init__(self, app_factory: Callable[[], Any], port: int | None = None) -> None:
        self.app_factory = app_factory
        self.port = port or free_port()
        self.port_chosen = port is None  # ours to change until the first start
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Serving once this returns; a server that cannot start is an error, never a wait.
        A port we chose that another process took since (``free_port`` only saw it free) is
        replaced by another one, on the first start only: a restart keeps its address."""
        for _ in range(3):
            if self._serve():
                self.port_chosen = False
                return
            if not self.port_chosen:
                break
            self.port = free_port()
        raise RuntimeError(
            f"the server did not start on port {self.port} (taken, or the app failed to "
            "start: see the log above)"
        )

    def _serve(self) -> bool:
        config = uvicorn.Config(
            self.app_factory(),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=5,  # a request left open does not keep the port
        )
        server = self.server = uvicorn.Server(config)
        thread = self.thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + self.START_S
        while not server.started:  # set once it listens
            if not thread.is_alive():  # uvicorn exits when it cannot bind or start
                self.server = self.thread = None
                return False
            if time.monotonic() > deadline:
                raise TimeoutError(f"the server on port {self.port} is still starting")
            time.sleep(0.01)
        return True

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(20)
            if self.thread.is_alive():
                raise RuntimeError(f"the server on port {self.port} did not stop")
            self.server = self.thread = None

    async def astart(self) -> None:
        await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)


def console_server(settings: Settings) -> ThreadedServer:
    return ThreadedServer(lambda: create_app(settings))


class FaultProxy:
    """Forwards every request to ``upstream``; ``fail_next(n, status, retry_after)`` answers the
    next ``n`` requests itself instead. Logs what it saw, and when."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.failures: list[tuple[int, dict[str, str]]] = []
        self.seen: list[tuple[float, str, int]] = []  # (loop time, path, status answered)
        self.bodies: list[bytes] = []
        self.swallow = 0
        self.server = ThreadedServer(lambda: self)

    @property
    def url(self) -> str:
        return self.server.url

    def fail_next(self, n: int, status: int, retry_after: str | None = None) -> None:
        headers = {"retry-after": retry_after} if retry_after is not None else {}
        self.failures.extend([(status, headers)] * n)

    def swallow_next(self, n: int) -> None:
        """Forward the next ``n`` requests that reach the console, but answer 503: the
        console did the work and the client never heard."""
        self.swallow += n

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        body = b""
        while True:
            m = await receive()
            body += m.get("body", b"")
            if not m.get("more_body"):
                break
        now = asyncio.get_running_loop().time()
        if self.failures:
            status, extra = self.failures.pop(0)
            self.seen.append((now, scope["path"], status))
            self.bodies.append(body)
            headers = [(k.encode(), v.encode()) for k, v in extra.items()]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": b'{"error":"injected"}'})
            return
        forward = {k.decode(): v.decode() for k, v in scope["headers"] if k != b"host"}
        try:
            async with httpx.AsyncClient(base_url=self.upstream) as c:
                r = await c.request(scope["method"], scope["path"], content=body, headers=forward)
        except httpx.ConnectError:
            self.seen.append((now, scope["path"], 502))
            self.bodies.append(body)
            await send({"type": "http.response.start", "status": 502, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        if self.swallow and r.status_code == 200:
            self.swallow -= 1
            self.seen.append((now, scope["path"], 503))
            self.bodies.append(body)
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        self.seen.append((now, scope["path"], r.status_code))
        self.bodies.append(body)
        out = [
            (k.encode(), v.encode())
            for k, v in r.headers.items()
            if k.lower() not in ("content-length", "transfer-encoding", "content-encoding")
        ]
        await send({"type": "http.response.start", "status": r.status_code, "headers": out})
        await send({"type": "http.response.body", "body": r.content})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        m = await receive()
        if m["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return
