"""Records carrying Apigee analytics field names (a MessageLogging policy, a ServiceCallout or
an analytics export): one object, an array, ``{"records": [...]}`` or NDJSON.

Both spellings Apigee uses are accepted: the analytics dimensions (``request_verb``,
``client_received_start_timestamp``) and the flow variables a logging policy prints
(``request.verb``, ``client.received.start.timestamp``), flat or nested. Latency is
``total_response_time``; without it, ``client_sent_end_timestamp`` minus
``client_received_start_timestamp`` (what Apigee's own analytics computes it from).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aforo.ingest import fields as f
from aforo.ingest.canonical import collect, ndjson_lines
from aforo.ingest.records import envelope_items, gateway_event, http_fields, required_time
from aforo.services.usage.events import Event, Parsed

SOURCE = "apigee"
START = ("client_received_start_timestamp", "client.received.start.timestamp")
END = ("client_sent_end_timestamp", "client.sent.end.timestamp")
ALIASES = {
    "consumer": (
        "client_id",
        "developer_app",
        "developer.app.name",
        "apiproduct.name",
    ),
    "source_account": ("organization", "organization.name"),
    "method": ("request_verb", "request.verb"),
    "path": ("request_uri", "request.uri", "request_path", "request.path"),
    "route": ("apiproxy", "apiproxy.name"),
    "status": ("response_status_code", "response.status.code", "message.status.code"),
    "latency_ms": ("total_response_time",),
    "request_bytes": ("request_size", "request.header.content-length"),
    "response_bytes": ("response_size", "response.header.content-length"),
    "request_id": ("messageid", "gateway_flow_id", "message_id"),
    "client_ip": ("client_ip", "client.ip", "proxy.client.ip", "x_forwarded_for_ip"),
}


def event_from(rec: Any, now: datetime) -> Event:
    if not isinstance(rec, dict):
        raise f.RecordInvalid("INVALID_TYPE", None, "an Apigee record must be an object")
    r = f.Loose(rec)
    c = f.Collector()
    at = required_time(r, c, START, now)
    fields = http_fields(r, c, ALIASES)
    end, end_key = r.find(*END)
    if fields.get("latency_ms") is None and at is not None and end is not None:
        ended = c(f.when, end, end_key, now=None)
        if ended is not None and ended >= at:
            fields["latency_ms"] = (ended - at).total_seconds() * 1000
    return gateway_event(r, c, source=SOURCE, prefix="apigee", at=at, fields=fields)


def parse(body: bytes, content_type: str = "application/json") -> Parsed:
    now = datetime.now(UTC)

    def build(x: Any) -> Event:
        if isinstance(x, f.RecordInvalid):
            raise x
        return event_from(x, now)

    if "ndjson" in content_type or "jsonl" in content_type:
        return collect(ndjson_lines(body), build)
    return collect(envelope_items(body, "an Apigee record"), build)
