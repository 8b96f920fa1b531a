"""Kong ``http-log`` plugin bodies: one log object, or a JSON array when the plugin batches.

Accepted variants (Kong 0.x to 3.x serializer output): consumer from ``consumer.id`` (else the
old ``authenticated_entity.consumer_id`` / ``authenticated_entity.id``); route ``route.name``
(else ``route.id``, else ``service.name``); time ``started_at`` (epoch ms); latency
``latencies.request``; account ``workspace_name`` (else ``workspace``); request id
``request.id`` (3.5+), else the ``x-kong-request-id`` / ``kong-request-id`` (correlation-id
plugin) / ``x-request-id`` request header.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aforo.ingest import fields as f
from aforo.ingest.canonical import Unusable, collect, loads
from aforo.ingest.records import gateway_event, http_fields, required_time
from aforo.services.usage.events import Event, Parsed

SOURCE = "kong"
ALIASES = {
    "consumer": (
        "consumer.id",
        "authenticated_entity.consumer_id",
        "authenticated_entity.id",
    ),
    "source_account": ("workspace_name", "workspace"),
    "method": ("request.method",),
    "path": ("request.uri", "request.url"),
    "route": ("route.name", "route.id", "service.name"),
    "status": ("response.status",),
    "latency_ms": ("latencies.request",),
    "request_bytes": ("request.size",),
    "response_bytes": ("response.size",),
    "request_id": (
        "request.id",
        "request.headers.x-kong-request-id",
        "request.headers.kong-request-id",
        "request.headers.x-request-id",
    ),
    "client_ip": ("client_ip",),
}


def event_from(log: Any, now: datetime) -> Event:
    if not isinstance(log, dict):
        raise f.RecordInvalid("INVALID_TYPE", None, "a Kong log entry must be an object")
    r = f.Loose(log)
    c = f.Collector()
    if not r.has("request.uri", "request.url"):
        c.errors.append(("MISSING_FIELD", "request.uri", "request.uri is required"))
    at = required_time(r, c, ("started_at",), now, f.epoch)
    fields = http_fields(r, c, ALIASES)
    return gateway_event(r, c, source=SOURCE, prefix="kong", at=at, fields=fields)


def parse(body: bytes) -> Parsed:
    doc = loads(body)
    logs = doc if isinstance(doc, list) else [doc] if isinstance(doc, dict) else None
    if logs is None:
        raise Unusable("INVALID_ENVELOPE", "expected a Kong log object or an array of them")
    now = datetime.now(UTC)
    return collect(((i, x, None) for i, x in enumerate(logs)), lambda x: event_from(x, now))
