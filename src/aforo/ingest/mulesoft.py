"""Anypoint (MuleSoft) API Analytics events, as the Analytics Event API and event forwarding
export them: field names with spaces (``Client IP``, ``Application``, ``API Name``, ``Status
Code``, ``Response Time``, …) or the same names in camelCase (``clientIp``, ``statusCode``),
matched loosely; an array, one object, ``{"records": [...]}`` or NDJSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aforo.ingest import fields as f
from aforo.ingest.canonical import collect, ndjson_lines
from aforo.ingest.records import envelope_items, gateway_event, http_fields, required_time
from aforo.services.usage.events import Event, Parsed

SOURCE = "mulesoft"
ALIASES = {
    "consumer": ("Application", "Client ID", "Application Name"),
    "source_account": ("Organization ID", "Org ID", "Environment ID", "Env ID"),
    "method": ("Verb", "Method"),
    "path": ("Resource Path", "Path"),
    "route": ("API Name", "API ID"),
    "status": ("Status Code",),
    "latency_ms": ("Response Time",),
    "request_bytes": ("Request Size",),
    "response_bytes": ("Response Size",),
    "request_id": ("Message ID",),
    "client_ip": ("Client IP",),
}


def event_from(rec: Any, now: datetime) -> Event:
    if not isinstance(rec, dict):
        raise f.RecordInvalid("INVALID_TYPE", None, "an Anypoint event must be an object")
    r = f.Loose(rec)
    c = f.Collector()
    at = required_time(r, c, ("Timestamp", "Time"), now)
    fields = http_fields(r, c, ALIASES)
    return gateway_event(r, c, source=SOURCE, prefix="mulesoft", at=at, fields=fields)


def parse(body: bytes, content_type: str = "application/json") -> Parsed:
    now = datetime.now(UTC)

    def build(x: Any) -> Event:
        if isinstance(x, f.RecordInvalid):
            raise x
        return event_from(x, now)

    if "ndjson" in content_type or "jsonl" in content_type:
        return collect(ndjson_lines(body), build)
    return collect(envelope_items(body, "an Anypoint event"), build)
