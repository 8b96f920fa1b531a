"""Kong ``http-log`` plugin bodies: one log object, or a JSON array when the plugin batches.

Consumer from ``consumer.id``, route from ``route.name`` (else ``route.id``), time from
``started_at`` (epoch ms), latency from ``latencies.request``, account from ``workspace_name``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aforo.ingest import fields as f
from aforo.ingest.canonical import Unusable, collect, loads
from aforo.services.usage.events import Event, Parsed

SOURCE = "kong"


def _obj(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def event_from(log: Any, now: datetime) -> Event:
    if not isinstance(log, dict):
        raise f.RecordInvalid("INVALID_TYPE", None, "a Kong log entry must be an object")
    request = _obj(log.get("request"))
    response = _obj(log.get("response"))
    headers = _obj(request.get("headers"))
    request_id = f.string(
        f.lookup(request, "id") or f.lookup(headers, "x-kong-request-id"), "request.id"
    )
    if request.get("uri") is None and request.get("url") is None:
        raise f.RecordInvalid("MISSING_FIELD", "request.uri", "request.uri is required")
    return Event(
        event_id=f"kong:{request_id}" if request_id else f.derived_id("kong", log),
        occurred_at=f.epoch(log.get("started_at"), "started_at", now),
        source=SOURCE,
        metric="api_calls",
        consumer=f.string(f.lookup(log, "consumer.id"), "consumer.id"),
        source_account=f.string(log.get("workspace_name"), "workspace_name"),
        method=f.method(request.get("method"), "request.method"),
        path=f.path(request.get("uri") or request.get("url"), "request.uri"),
        route=f.string(f.lookup(log, "route.name", "route.id"), "route.name"),
        status=f.status(response.get("status"), "response.status"),
        latency_ms=f.number(f.lookup(log, "latencies.request"), "latencies.request"),
        request_bytes=f.integer(request.get("size"), "request.size"),
        response_bytes=f.integer(response.get("size"), "response.size"),
        request_id=request_id,
        client_ip=f.string(log.get("client_ip"), "client_ip"),
    )


def parse(body: bytes) -> Parsed:
    doc = loads(body)
    logs = doc if isinstance(doc, list) else [doc] if isinstance(doc, dict) else None
    if logs is None:
        raise Unusable("INVALID_ENVELOPE", "expected a Kong log object or an array of them")
    now = datetime.now(UTC)
    return collect(((i, x, None) for i, x in enumerate(logs)), lambda x: event_from(x, now))
