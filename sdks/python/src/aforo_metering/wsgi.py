"""WSGI middleware (Flask, Django, any WSGI app): one event per HTTP request.

meter_flask(app, client)                                               # Flask
application = WSGIMeteringMiddleware(get_wsgi_application(), client)  # Django
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from aforo_metering._request import record_request
from aforo_metering.aio import AsyncClient
from aforo_metering.client import Client

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

ROUTE_KEY = "aforo.route"


def _environ_key(header: str | None) -> str | None:
    return "HTTP_" + header.upper().replace("-", "_") if header else None


def route_of(environ: Environ) -> str | None:
    """The matched route template, left in the environ by ``meter_flask``'s hook or
    ``DjangoRouteMiddleware`` (plain WSGI has no notion of routes)."""
    route = environ.get(ROUTE_KEY)
    return str(route) if route else None


class WSGIMeteringMiddleware:
    def __init__(
        self,
        app: WSGIApp,
        client: Client | AsyncClient,
        *,
        metric: str = "api.requests",
        key_header: str = "x-api-key-id",
        subscription_header: str | None = "x-subscription-id",
        consumer_header: str | None = None,
        request_id_header: str = "x-request-id",
    ) -> None:
        if isinstance(client, AsyncClient):
            raise TypeError("WSGI apps have no event loop: use the threaded Client")
        self.app = app
        self.client = client
        self.metric = metric
        self.keys = {
            "key_id": _environ_key(key_header),
            "subscription_id": _environ_key(subscription_header),
            "consumer": _environ_key(consumer_header),
            "request_id": _environ_key(request_id_header),
        }

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        status = {"code": 500}

        def capturing_start_response(status_line: str, headers: Any, exc_info: Any = None) -> Any:
            status["code"] = int(status_line.split(" ", 1)[0])
            return start_response(status_line, headers, exc_info)

        try:
            body = self.app(environ, capturing_start_response)
        except BaseException:
            self._record(environ, 500, 0, started)
            raise
        return _Counted(body, lambda n: self._record(environ, status["code"], n, started))

    def _record(self, environ: Environ, status: int, sent: int, started: float) -> None:
        try:
            request_bytes = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            request_bytes = 0
        fields: dict[str, Any] = {
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""),
            "route": route_of(environ),
            "status": status,
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            "request_bytes": request_bytes,
            "response_bytes": sent,
            "client_ip": environ.get("REMOTE_ADDR"),
        }
        for name, key in self.keys.items():
            fields[name] = environ.get(key) if key else None
        record_request(self.client, self.metric, fields)


class _Counted:
    """Wraps the response iterable: counts bytes as the server sends them and records once
    the server closes it (PEP 3333), so latency covers streaming bodies too."""

    def __init__(self, body: Iterable[bytes], done: Callable[[int], None]) -> None:
        self._body = body
        self._done = done
        self._sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._body:
            self._sent += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._done(self._sent)


class DjangoRouteMiddleware:
    """Django middleware exposing the matched route template to the WSGI middleware:
    add ``"aforo_metering.wsgi.DjangoRouteMiddleware"`` to ``MIDDLEWARE``."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        return self.get_response(request)

    def process_view(self, request: Any, view_func: Any, view_args: Any, view_kwargs: Any) -> None:
        match = getattr(request, "resolver_match", None)
        route = getattr(match, "route", None)
        if route:
            request.environ[ROUTE_KEY] = "/" + str(route).lstrip("/")


def meter_flask(app: Any, client: Client, **options: Any) -> Any:
    """Meter a Flask app in one line, route templates included (``/users/<int:id>``)."""
    from flask import request

    def remember_route() -> None:
        # Flask drops the matched rule when the request ends, before a WSGI middleware
        # could read it: copy it into the environ while it is there.
        if request.url_rule is not None:
            request.environ[ROUTE_KEY] = request.url_rule.rule

    # First in line, so a before_request hook that answers early cannot skip it.
    app.before_request_funcs.setdefault(None, []).insert(0, remember_route)
    app.wsgi_app = WSGIMeteringMiddleware(app.wsgi_app, client, **options)
    return app
