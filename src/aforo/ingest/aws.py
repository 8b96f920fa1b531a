"""AWS API Gateway access logs delivered by Kinesis Data Firehose to an HTTP endpoint.

The Firehose request: ``{"requestId", "timestamp", "records": [{"data": <base64>}]}`` with
the tenant's gateway token in ``X-Amz-Firehose-Access-Key``. Each record holds either access
log lines in JSON (``$context`` variables, REST or HTTP APIs, one or more per record), or a gzip
CloudWatch Logs subscription payload whose ``logEvents[].message`` are those lines.

A bad record never fails the delivery: it is dead-lettered and the request still answers 200,
because Firehose retries the whole batch on any other answer.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from datetime import UTC, datetime
from typing import Any

from aforo.ingest import fields as f
from aforo.ingest.canonical import Unusable, loads, rejection
from aforo.ingest.records import gateway_event, http_fields, required_time
from aforo.services.usage.events import Event, Parsed

SOURCE = "aws_apigateway"
MAX_DECODED = 1_024_000  # Firehose: a record's data is at most 1,000 KiB before base64
MAX_RECORD = 8 * 1024 * 1024  # decompressed bytes of one gzip record (CloudWatch Logs)
ALIASES = {
    "consumer": (
        "apiKeyId",
        "identity.apiKeyId",
        "clientId",
        "authorizer.clientId",
        "authorizer.claims.client_id",
        "authorizer.principalId",
        "principalId",
    ),
    "source_account": ("accountId",),
    "method": ("httpMethod", "method"),
    "path": ("path",),
    "route": ("resourcePath", "routeKey"),
    "status": ("status", "statusCode"),
    "latency_ms": ("responseLatency", "latency", "integrationLatency", "integration.latency"),
    "request_bytes": ("requestLength",),
    "response_bytes": ("responseLength",),
    "request_id": ("requestId", "extendedRequestId"),
    "client_ip": ("ip", "sourceIp", "identity.sourceIp", "clientIp"),
}
# API Gateway's Common Log Format choice:
# $context.identity.sourceIp $context.identity.caller $context.identity.user
# [$context.requestTime] "$context.httpMethod $context.resourcePath $context.protocol"
# $context.status $context.responseLength $context.requestId
_CLF = re.compile(r'(\S+) (\S+) (\S+) \[([^\]]+)\] "(\S+) (\S+) ([^"]*)" (\S+) (\S+) (\S+)')
_CLF_FIELDS = (
    "ip",
    "caller",
    "user",
    "requestTime",
    "httpMethod",
    "resourcePath",
    "protocol",
    "status",
    "responseLength",
    "requestId",
)


def _time(v: Any, field: str, now: datetime | None = None) -> datetime:
    if isinstance(v, str) and "/" in v:
        try:  # $context.requestTime: 27/Nov/2026:21:12:37 +0000
            return f.epoch(datetime.strptime(v, "%d/%b/%Y:%H:%M:%S %z").timestamp(), field, now)
        except ValueError:
            pass
    return f.when(v, field, now)


def event_from(line: Any, now: datetime, *, fallback_ms: Any = None, owner: Any = None) -> Event:
    if not isinstance(line, dict):
        raise f.RecordInvalid("INVALID_TYPE", None, "an access log line must be a JSON object")
    r = f.Loose(line)
    c = f.Collector()
    fields = http_fields(r, c, ALIASES)
    route_key = r.get("routeKey")
    if isinstance(route_key, str) and " " in route_key:  # HTTP API: "GET /pets/{id}"
        verb, _, template = route_key.partition(" ")
        if fields.get("method") is None and not r.has(*ALIASES["method"]):
            fields["method"] = c(f.method, verb, "routeKey")
        if fields.get("path") is None and not r.has("path"):
            fields["path"] = c(f.path, template, "routeKey")
    if fields.get("source_account") is None and owner is not None:
        fields["source_account"] = c(f.string, owner, "owner")
    if r.has("requestTimeEpoch", "requestTime"):
        at = required_time(r, c, ("requestTimeEpoch", "requestTime"), now, _time)
    elif fallback_ms is not None:
        at = c(f.epoch, fallback_ms, "timestamp", now=now)
    else:
        at = required_time(r, c, ("requestTimeEpoch",), now)
    return gateway_event(r, c, source=SOURCE, prefix="aws", at=at, fields=fields)


def _lines(data: bytes) -> list[tuple[Any, Any, Any]]:
    """(line object, fallback timestamp, owner) per access-log line in one decoded record."""
    if data[:2] == b"\x1f\x8b":
        try:
            d = zlib.decompressobj(wbits=31)
            data = d.decompress(data, MAX_RECORD)
            if d.unconsumed_tail:
                raise f.RecordInvalid("TOO_LARGE", "data", "the record is too large")
        except zlib.error:
            raise f.RecordInvalid("INVALID_GZIP", "data", "the record is not valid gzip") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise f.RecordInvalid("INVALID_UTF8", "data", "the record is not valid UTF-8") from None
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        doc = None
    if isinstance(doc, dict) and "logEvents" in doc and "messageType" in doc:
        if doc["messageType"] != "DATA_MESSAGE":  # CONTROL_MESSAGE: a subscription probe
            return []
        events = doc["logEvents"]
        if not isinstance(events, list):
            raise f.RecordInvalid("INVALID_TYPE", "logEvents", "logEvents must be an array")
        out = []
        for ev in events:
            if not isinstance(ev, dict) or not isinstance(ev.get("message"), str):
                raise f.RecordInvalid("INVALID_TYPE", "logEvents", "a log event needs a message")
            out.append((_line(ev["message"]), ev.get("timestamp"), doc.get("owner")))
        return out
    if doc is not None:
        return [(doc, None, None)]
    out = []
    for raw in text.splitlines():  # several access-log lines concatenated in one record
        if raw.strip():
            out.append((_line(raw), None, None))
    return out


def _line(raw: str) -> Any:
    """One access-log line: JSON, or API Gateway's Common Log Format."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        pass
    m = _CLF.fullmatch(raw.strip())
    if m is None:
        raise f.RecordInvalid("INVALID_JSON", "data", "the record is neither JSON nor CLF")
    return dict(zip(_CLF_FIELDS, m.groups(), strict=True))


def parse(body: bytes) -> tuple[str | None, Parsed]:
    """(the delivery's requestId, the parsed records). Records of one Firehose record are
    taken or refused together: they share one index in the answer."""
    doc = loads(body)
    if not isinstance(doc, dict) or not isinstance(doc.get("records"), list):
        raise Unusable("INVALID_ENVELOPE", 'expected a Firehose delivery {"records": [...]}')
    request_id = doc.get("requestId") if isinstance(doc.get("requestId"), str) else None
    now = datetime.now(UTC)
    out = Parsed()
    for i, rec in enumerate(doc["records"]):
        raw = None if isinstance(rec, dict) else json.dumps(rec)[:4096]
        try:
            if not isinstance(rec, dict) or not isinstance(rec.get("data"), str):
                raise f.RecordInvalid("MISSING_FIELD", "data", "a record needs base64 data")
            if len(rec["data"]) > (MAX_DECODED + 2) // 3 * 4:
                raise f.RecordInvalid(
                    "TOO_LARGE", "data", "a Firehose record is at most 1,000 KiB before base64"
                )
            try:
                data = base64.b64decode(rec["data"], validate=True)
            except (binascii.Error, ValueError):
                raise f.RecordInvalid("INVALID_BASE64", "data", "data is not base64") from None
            if len(data) > MAX_DECODED:
                raise f.RecordInvalid(
                    "TOO_LARGE", "data", "a Firehose record is at most 1,000 KiB before base64"
                )
            lines = _lines(data)
            if not lines:
                out.free += 1
            events = [event_from(x, now, fallback_ms=t, owner=o) for x, t, o in lines]
        except f.RecordInvalid as e:
            out.rejected.append(rejection(e, i, rec, raw))
            continue
        for event in events:
            out.add(i, event)
    return request_id, out
