"""Anypoint (MuleSoft) API Analytics events: field names with spaces (``Client IP``,
``Application``, ``API Name``, ``Status Code``, ``Response Time``, …), as the Analytics Event
API and event forwarding export them: an array, one object, ``{"records": [...]}`` or NDJSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aforo.ingest import fields as f
from aforo.ingest.canonical import collect, ndjson_lines
from aforo.ingest.records import envelope_items
from aforo.services.usage.events import Event, Parsed

SOURCE = "mulesoft"


def event_from(r: Any, now: datetime) -> Event:
    if not isinstance(r, dict):
        raise f.RecordInvalid("INVALID_TYPE", None, "an Anypoint event must be an object")
    if f.blank(r.get("Timestamp")):
        raise f.RecordInvalid("MISSING_FIELD", "Timestamp", "Timestamp is required")
    message_id = f.string(r.get("Message ID"), "Message ID")
    return Event(
        event_id=f"mulesoft:{message_id}" if message_id else f.derived_id("mulesoft", r),
        occurred_at=f.when(r["Timestamp"], "Timestamp", now),
        source=SOURCE,
        metric="api_calls",
        consumer=f.string(f.lookup(r, "Application", "Application Name"), "Application"),
        source_account=f.string(
            f.lookup(r, "Organization ID", "Org ID", "Environment ID"), "Organization ID"
        ),
        method=f.method(r.get("Verb"), "Verb"),
        path=f.path(r.get("Resource Path"), "Resource Path"),
        route=f.string(r.get("API Name"), "API Name"),
        status=f.status(r.get("Status Code"), "Status Code"),
        latency_ms=f.number(r.get("Response Time"), "Response Time"),
        request_bytes=f.integer(r.get("Request Size"), "Request Size"),
        response_bytes=f.integer(r.get("Response Size"), "Response Size"),
        request_id=message_id,
        client_ip=f.string(r.get("Client IP"), "Client IP"),
    )


def parse(body: bytes, content_type: str = "application/json") -> Parsed:
    now = datetime.now(UTC)

    def build(x: Any) -> Event:
        if isinstance(x, f.RecordInvalid):
            raise x
        return event_from(x, now)

    if "ndjson" in content_type:
        return collect(ndjson_lines(body), build)
    return collect(envelope_items(body, "an Anypoint event"), build)
