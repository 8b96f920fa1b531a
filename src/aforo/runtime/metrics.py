"""Prometheus metrics: HTTP requests by route, GraphQL operations by name.

Every label value is bounded: a route is its template (or ``unmatched``), a method one of the
HTTP methods (or ``other``), and an operation name is kept only when it is a GraphQL name of at
most 64 characters and fewer than ``MAX_OPERATIONS`` distinct names were seen; anything else is
counted as ``other``. A client cannot grow the registry by choosing names.
"""

from __future__ import annotations

import re
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
MAX_OPERATIONS = 200
OTHER = "other"
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "aforo_http_requests",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "aforo_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.graphql_operations = Counter(
            "aforo_graphql_operations",
            "GraphQL operations",
            ["operation", "type", "outcome"],
            registry=self.registry,
        )
        self.graphql_latency = Histogram(
            "aforo_graphql_operation_duration_seconds",
            "GraphQL operation latency",
            ["operation", "type"],
            buckets=_BUCKETS,
            registry=self.registry,
        )

        self._operations: set[str] = set()

    def operation(self, name: str | None) -> str:
        """The label for a client-chosen operation name (bounded, see the module's doc)."""
        if name is None:
            return "anonymous"
        if name in self._operations:
            return name
        if len(self._operations) < MAX_OPERATIONS and _NAME.fullmatch(name):
            self._operations.add(name)
            return name
        return OTHER

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI (no per-request task): labels requests by their route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        # The labelled children, kept: ``labels()`` takes a lock and builds a key each time
        # (a tenth of a cached verification). Routes are templates, so this stays small.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or (
                "/graphql" if scope["path"].startswith("/graphql") else "unmatched"
            )
            method = scope["method"] if scope["method"] in _METHODS else OTHER
            key = (method, path, status)  # bounded: known methods, route templates
            children = self._children.get(key)
            if children is None:
                m = self.metrics
                children = self._children[key] = (
                    m.http_requests.labels(method, path, str(status)),
                    m.http_latency.labels(method, path),
                )
            children[0].inc()
            children[1].observe(time.perf_counter() - start)
