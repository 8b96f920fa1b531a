"""Prometheus metrics: HTTP requests by route, GraphQL operations by name.

Every label value is bounded: a route is its template (or ``unmatched``), a method one of the
HTTP methods (or ``other``), and an operation name is kept only when it is a GraphQL name of at
most 64 characters and fewer than ``MAX_OPERATIONS`` distinct names were seen; anything else is
counted as ``other``. A client cannot grow the registry by choosing names.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
MAX_OPERATIONS = 200
OTHER = "other"
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Timed:
    """A counter by three labels and a latency histogram by the first two of them (requests
    by method, route and status; GraphQL operations by name, type and outcome): plain numbers
    on the request path, exposed as the usual counter and histogram when scraped.
    prometheus_client's children take a lock per update and find the bucket in Python, which
    was a quarter of a cached key verification's time. Updates run on the event loop; a
    scrape (perhaps from the metrics listener's thread) copies each table in one C-level step
    (``list(dict.items())``, ``list(counts)``), never iterating one that is changing."""

    _LE = [repr(float(b)) for b in BUCKETS] + ["+Inf"]  # as prometheus_client writes them

    def __init__(self, counter: tuple[str, str], histogram: tuple[str, str], labels: list[str]):
        self.counter, self.histogram, self.labels = counter, histogram, labels
        self.counts: dict[tuple[str, str, object], list[float]] = {}  # [count, first seen]
        # per the first two labels: a count per bucket (the last one +Inf), then the sum
        self.latency: dict[tuple[str, str], list[float]] = {}

    def observe(self, a: str, b: str, c: object, seconds: float) -> None:
        seen = self.counts.get((a, b, c))
        if seen is None:
            seen = self.counts[(a, b, c)] = [0, time.time()]
        seen[0] += 1
        counts = self.latency.get((a, b))
        if counts is None:
            counts = self.latency[(a, b)] = [0.0] * (len(BUCKETS) + 2)
        counts[bisect_left(BUCKETS, seconds)] += 1  # the first bucket with seconds <= le
        counts[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        counter = CounterMetricFamily(*self.counter, labels=self.labels)
        for (a, b, c), (n, created) in list(self.counts.items()):
            counter.add_metric([a, b, str(c)], n, created=created)
        yield counter
        histogram = HistogramMetricFamily(*self.histogram, labels=self.labels[:2])
        for labels, table in list(self.latency.items()):
            counts, cumulative, buckets = list(table), 0.0, []
            for le, n in zip(self._LE, counts[:-1], strict=True):
                cumulative += n
                buckets.append((le, cumulative))
            histogram.add_metric(list(labels), buckets, sum_value=counts[-1])
        yield histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http = Timed(
            ("aforo_http_requests", "HTTP requests"),
            ("aforo_http_request_duration_seconds", "HTTP request latency"),
            ["method", "route", "status"],
        )
        self.graphql = Timed(
            ("aforo_graphql_operations", "GraphQL operations"),
            ("aforo_graphql_operation_duration_seconds", "GraphQL operation latency"),
            ["operation", "type", "outcome"],
        )
        self.registry.register(self.http)
        self.registry.register(self.graphql)
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
        self.http = metrics.http

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
            # bounded: known methods, route templates
            self.http.observe(method, path, status, time.perf_counter() - start)
