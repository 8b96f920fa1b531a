"""Serving the app with uvicorn: read timeouts on every connection, and the metrics listener.

uvicorn times out idle keep-alive connections but not a client that is slow to send its
request: one that connects and says nothing, or trickles a header byte every few seconds
(slowloris), or stops half-way through its body, holds a connection (and, for a body, a
request task) for as long as it likes. ``GuardedHttpTools`` adds two deadlines:

- the request head (request line and headers) must be complete ``AFORO_HEADER_TIMEOUT``
  seconds after the connection opens or the next request begins, however steadily bytes
  trickle in; past it the client gets ``408 Request Timeout`` and the connection closes;
- the body may not pause longer than ``AFORO_BODY_TIMEOUT`` seconds between two pieces; past
  it the connection closes (the application sees the client go away).

``AFORO_METRICS_LISTEN`` (``host:port``) serves ``/metrics`` on a listener of its own, beside
the main one (the main listener then answers 404 for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import http.client
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

from aforo.config import Settings

_BODY_408 = (
    b'{"error":{"code":"REQUEST_TIMEOUT","message":"the request head was not received in time"}}'
)
_TIMEOUT_408 = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_BODY_408), _BODY_408)
)


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a request-head deadline and a body idle timeout."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    _deadline: asyncio.TimerHandle | None = None
    _in_head = False

    def _arm(self, seconds: float, head: bool) -> None:
        self._disarm()
        self._in_head = head
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._in_head:
            self.transport.write(_TIMEOUT_408)
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout, head=True)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None or not self._in_head:
            self._arm(self.header_timeout, head=True)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        if not self.transport.is_closing() and self.cycle is not None:
            self._arm(self.body_timeout, head=False)

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._arm(self.body_timeout, head=False)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Idle now: uvicorn's keep-alive timeout applies until the next request begins.
        self._disarm()


@functools.cache
def _own_settings() -> Settings:
    return Settings()


class WorkerHttpTools(GuardedHttpTools):
    """The guarded protocol in a worker of ``--workers N``. uvicorn hands its configuration to
    the workers by pickling, which a class built by ``protocol`` does not survive: workers name
    this one by import string, and it reads the timeouts from the worker's own settings (the
    environment the parent passed on)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = _own_settings()
        self.header_timeout = settings.header_timeout_s
        self.body_timeout = settings.body_timeout_s


def protocol(settings: Settings) -> type[GuardedHttpTools]:
    return type(
        "GuardedHttpTools",
        (GuardedHttpTools,),
        {"header_timeout": settings.header_timeout_s, "body_timeout": settings.body_timeout_s},
    )


class QuerylessAccess(logging.Filter):
    """Access-log lines without query strings: a query may carry a secret (an invoice's
    signed PDF link holds its token there), and a log line must not."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].partition("?")[0], *args[3:])
        return True


# uvicorn's own logging configuration, its access lines filtered (a dict: it reaches the
# worker processes too).
LOG_CONFIG: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
LOG_CONFIG["filters"] = {"queryless": {"()": f"{__name__}.QuerylessAccess"}}
LOG_CONFIG["handlers"]["access"]["filters"] = ["queryless"]


def config(app: Any, settings: Settings, *, host: str, port: int, **kw: Any) -> uvicorn.Config:
    """uvicorn's configuration for ``app`` with the read timeouts of ``settings``."""
    return uvicorn.Config(
        app, host=host, port=port, http=protocol(settings), log_config=LOG_CONFIG, **kw
    )


class _Main(uvicorn.Server):
    """uvicorn's server, telling us once it serves (its lifespan done, the socket open)."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None] | None) -> None:
        super().__init__(config)
        self.on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.on_ready is not None and self.started and not self.should_exit:
            self.on_ready()


class _Follower(uvicorn.Server):
    """A second listener: the main server takes the signals, and this one stops after it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def serve(
    app: Any,
    settings: Settings,
    *,
    host: str,
    port: int,
    log_level: str,
    sockets: list[socket.socket] | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Run the service (and the metrics listener, when configured) until stopped: on
    ``sockets`` when given (bound already), calling ``on_ready`` once it serves."""
    main = _Main(
        config(app, settings, host=host, port=port, log_level=log_level, lifespan="on"), on_ready
    )
    followers: list[uvicorn.Server] = []
    if settings.metrics_listen:
        m_host, _, m_port = settings.metrics_listen.rpartition(":")
        metrics = config(
            app.state.metrics_app,
            settings,
            host=m_host.strip("[]") or "127.0.0.1",
            port=int(m_port),
            log_level=log_level,
            lifespan="off",
        )
        followers.append(_Follower(metrics))

    async def run_all() -> None:
        tasks = [asyncio.create_task(f.serve()) for f in followers]
        try:
            await main.serve(sockets=sockets)
        finally:
            for f in followers:
                f.should_exit = True
            await asyncio.gather(*tasks)

    # uvicorn re-raises the signal it stopped on once it has shut down; Ctrl-C is a clean exit.
    # The event loop is the one uvicorn would pick (uvloop when installed), as its workers get.
    with (
        contextlib.suppress(KeyboardInterrupt),
        asyncio.Runner(loop_factory=main.config.get_loop_factory()) as runner,
    ):
        runner.run(run_all())


# A worker importing the app on a busy machine can take longer than uvicorn's 5 s health check,
# which would then restart it in a loop.
WORKER_HEALTHCHECK_S = 60


def serve_workers(
    workers: int,
    *,
    host: str,
    port: int,
    log_level: str,
    sockets: list[socket.socket],
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Run ``workers`` processes on ``sockets`` (bound already, shared by all) under uvicorn's
    supervisor, each building the app from the environment; ``on_ready`` is called once one
    of them answers ``/healthz``. (No separate metrics listener: several processes cannot
    share one; ``aforo serve`` refuses the combination.)"""
    cfg = uvicorn.Config(
        "aforo.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        lifespan="on",
        log_config=LOG_CONFIG,
        http=f"{__name__}:WorkerHttpTools",
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
    )
    supervisor = Multiprocess(cfg, sockets=sockets)
    if on_ready is not None:
        address = sockets[0].getsockname()
        threading.Thread(
            target=_when_serving,
            args=(address, supervisor.should_exit, on_ready),
            name="serve-ready",
            daemon=True,
        ).start()
    with contextlib.suppress(KeyboardInterrupt):
        supervisor.run()


def _when_serving(
    address: tuple[Any, ...], stopped: threading.Event, on_ready: Callable[[], None]
) -> None:
    """Poll ``/healthz`` on the shared socket until a worker answers, then call ``on_ready``."""
    host = str(address[0])
    if host in ("0.0.0.0", ""):  # noqa: S104 (a wildcard bound: ask it on loopback)
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    deadline = time.monotonic() + WORKER_HEALTHCHECK_S
    while not stopped.is_set() and time.monotonic() < deadline:
        conn = http.client.HTTPConnection(host, int(address[1]), timeout=5)
        try:
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                on_ready()
                return
        except OSError:
            pass
        finally:
            conn.close()
        stopped.wait(0.2)
