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
import zlib
from datetime import UTC, datetime
from typing import Any

from aforo.ingest import fields as f
from aforo.ingest.canonical import Unusable, loads, rejection
from aforo.services.usage.events import Event, Parsed

SOURCE = "aws_apigateway"
MAX_RECORD = 8 * 1024 * 1024  # decompressed bytes of one record (CloudWatch batches ≤ 1 MiB)


def _time(line: dict[str, Any], fallback: Any, now: datetime) -> datetime:
    epoch = f.lookup(line, "requestTimeEpoch")
    if epoch is not None:
        return f.epoch(epoch, "requestTimeEpoch", now)
    clf = f.lookup(line, "requestTime")
    if isinstance(clf, str):
        try:  # $context.requestTime: 27/Nov/2026:21:12:37 +0000
            return f.epoch(
                datetime.strptime(clf, "%d/%b/%Y:%H:%M:%S %z").timestamp(), "requestTime", now
            )
        except ValueError:
            return f.when(clf, "requestTime", now)
    if fallback is not None:
        return f.epoch(fallback, "timestamp", now)
    raise f.RecordInvalid("MISSING_FIELD", "requestTimeEpoch", "requestTimeEpoch is required")


def event_from(line: Any, now: datetime, *, fallback_ms: Any = None, owner: Any = None) -> Event:
    if not isinstance(line, dict):
        raise f.RecordInvalid("INVALID_TYPE", None, "an access log line must be a JSON object")
    request_id = f.string(f.lookup(line, "requestId", "extendedRequestId"), "requestId")
    route_key = f.string(f.lookup(line, "routeKey"), "routeKey")
    method = f.lookup(line, "httpMethod", "method")
    path = f.lookup(line, "path", "resourcePath")
    if route_key and " " in route_key:  # HTTP API: "GET /pets/{id}"
        method = method or route_key.split(" ", 1)[0]
        path = path or route_key.split(" ", 1)[1]
    return Event(
        event_id=f"aws:{request_id}" if request_id else f.derived_id("aws", line),
        occurred_at=_time(line, fallback_ms, now),
        source=SOURCE,
        metric="api_calls",
        consumer=f.string(
            f.lookup(line, "apiKeyId", "clientId", "authorizer.clientId", "principalId"),
            "apiKeyId",
        ),
        source_account=f.string(f.lookup(line, "accountId") or owner, "accountId"),
        method=f.method(method, "httpMethod"),
        path=f.path(path, "path"),
        route=f.string(f.lookup(line, "resourcePath") or route_key, "resourcePath"),
        status=f.status(f.lookup(line, "status"), "status"),
        latency_ms=f.number(
            f.lookup(line, "responseLatency", "latency", "integrationLatency"), "responseLatency"
        ),
        request_bytes=f.integer(f.lookup(line, "requestLength"), "requestLength"),
        response_bytes=f.integer(f.lookup(line, "responseLength"), "responseLength"),
        request_id=request_id,
        client_ip=f.string(f.lookup(line, "ip", "sourceIp", "identity.sourceIp"), "ip"),
    )


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
            try:
                out.append((json.loads(ev["message"]), ev.get("timestamp"), doc.get("owner")))
            except (ValueError, RecursionError):
                raise f.RecordInvalid(
                    "INVALID_JSON", "logEvents.message", "a log message is not JSON"
                ) from None
        return out
    if doc is not None:
        return [(doc, None, None)]
    out = []
    for raw in text.splitlines():  # several access-log lines concatenated in one record
        if raw.strip():
            try:
                out.append((json.loads(raw), None, None))
            except (ValueError, RecursionError):
                raise f.RecordInvalid("INVALID_JSON", "data", "the record is not JSON") from None
    return out


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
            try:
                data = base64.b64decode(rec["data"], validate=True)
            except (binascii.Error, ValueError):
                raise f.RecordInvalid("INVALID_BASE64", "data", "data is not base64") from None
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
