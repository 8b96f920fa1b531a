"""Records carrying Apigee analytics field names (a MessageLogging policy, a ServiceCallout or
an analytics export): one object, an array, ``{"records": [...]}`` or NDJSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aforo.ingest import fields as f
from aforo.ingest.canonical import collect, ndjson_lines
from aforo.ingest.records import envelope_items
from aforo.services.usage.events import Event, Parsed

SOURCE = "apigee"


def event_from(r: Any, now: datetime) -> Event:
    if not isinstance(r, dict):
        raise f.RecordInvalid("INVALID_TYPE", None, "an Apigee record must be an object")
    if f.blank(r.get("client_received_start_timestamp")):
        raise f.RecordInvalid(
            "MISSING_FIELD",
            "client_received_start_timestamp",
            "client_received_start_timestamp is required",
        )
    request_id = f.string(f.lookup(r, "messageid", "gateway_flow_id"), "messageid")
    return Event(
        event_id=f"apigee:{request_id}" if request_id else f.derived_id("apigee", r),
        occurred_at=f.when(
            r["client_received_start_timestamp"], "client_received_start_timestamp", now
        ),
        source=SOURCE,
        metric="api_calls",
        consumer=f.string(f.lookup(r, "client_id", "developer_app"), "client_id"),
        source_account=f.string(r.get("organization"), "organization"),
        method=f.method(r.get("request_verb"), "request_verb"),
        path=f.path(f.lookup(r, "request_uri", "request_path"), "request_uri"),
        route=f.string(r.get("apiproxy"), "apiproxy"),
        status=f.status(r.get("response_status_code"), "response_status_code"),
        latency_ms=f.number(r.get("total_response_time"), "total_response_time"),
        request_bytes=f.integer(r.get("request_size"), "request_size"),
        response_bytes=f.integer(r.get("response_size"), "response_size"),
        request_id=request_id,
        client_ip=f.string(r.get("client_ip"), "client_ip"),
    )


def parse(body: bytes, content_type: str = "application/json") -> Parsed:
    now = datetime.now(UTC)

    def build(x: Any) -> Event:
        if isinstance(x, f.RecordInvalid):
            raise x
        return event_from(x, now)

    if "ndjson" in content_type:
        return collect(ndjson_lines(body), build)
    return collect(envelope_items(body, "an Apigee record"), build)
