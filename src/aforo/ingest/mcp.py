"""MCP exchange records, as a sidecar or SDK observes them on stdio or streamable HTTP.

```
{"records": [{"session_id": "…", "agent": {"client_id": "…", "name": "…", "version": "…"},
              "transport": "stdio" | "streamable_http",
              "request": {JSON-RPC 2.0 request}, "response": {JSON-RPC 2.0 response} | null,
              "cancelled": false, "started_at": RFC 3339, "ended_at": RFC 3339 | null,
              "request_bytes": 123, "response_bytes": 456}]}
```

Only ``tools/call`` is metered (metric ``mcp_tool_calls``, one per call, per tool, agent and
session); ``initialize``, ``tools/list``, notifications and pings are protocol chatter: accepted,
never metered. The event id is derived from (session, JSON-RPC request id), so a resent record
is a duplicate rather than a second call.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from aforo.ingest import fields as f
from aforo.ingest.canonical import Unusable, loads, rejection
from aforo.services.usage.events import Event, Parsed

SOURCE = "mcp"
METRIC = "mcp_tool_calls"
MAX_RECORDS = 10_000
TRANSPORTS = ("stdio", "streamable_http")
_FIELDS = frozenset(
    {
        "session_id",
        "agent",
        "transport",
        "request",
        "response",
        "cancelled",
        "started_at",
        "ended_at",
        "request_bytes",
        "response_bytes",
    }
)


class Free(Exception):
    """A well-formed record that is not metered."""


def _agent(a: Any) -> str | None:
    if a is None:
        return None
    if not isinstance(a, dict):
        raise f.RecordInvalid("INVALID_TYPE", "agent", "agent must be an object")
    client_id = f.string(a.get("client_id"), "agent.client_id", max_chars=200)
    if client_id:
        return client_id
    name = f.string(a.get("name"), "agent.name", max_chars=200)
    version = f.string(a.get("version"), "agent.version", max_chars=100)
    if name and version:
        return f"{name}/{version}"
    return name


def _request_id(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, str | int):
        raise f.RecordInvalid("INVALID_VALUE", "request.id", "a request id is a string or integer")
    if isinstance(v, str):
        f.check_text(v, "request.id")
    return json.dumps(v)  # "7" and 7 are different JSON-RPC ids


def event_from(r: Any, now: datetime) -> Event:
    if not isinstance(r, dict):
        raise f.RecordInvalid("INVALID_TYPE", None, "a record must be an object")
    unknown = sorted(str(k) for k in r if k not in _FIELDS)
    if unknown:
        raise f.RecordInvalid("UNKNOWN_FIELD", unknown[0][:200], f"unknown field {unknown[0]!r}")
    session = f.string(r.get("session_id"), "session_id", max_chars=200)
    if session is None:
        raise f.RecordInvalid("MISSING_FIELD", "session_id", "session_id is required")
    transport = r.get("transport")
    if transport not in TRANSPORTS:
        raise f.RecordInvalid(
            "INVALID_VALUE", "transport", f"transport must be one of {TRANSPORTS}"
        )
    agent = _agent(r.get("agent"))
    request = r.get("request")
    if not isinstance(request, dict) or request.get("jsonrpc") != "2.0":
        raise f.RecordInvalid("INVALID_VALUE", "request", "request must be a JSON-RPC 2.0 object")
    method = request.get("method")
    if not isinstance(method, str) or not method:
        raise f.RecordInvalid("MISSING_FIELD", "request.method", "request.method is required")
    started = f.rfc3339(r.get("started_at"), "started_at", now)
    ended = None if f.blank(r.get("ended_at")) else f.rfc3339(r["ended_at"], "ended_at", now)
    cancelled = r.get("cancelled", False)
    if not isinstance(cancelled, bool):
        raise f.RecordInvalid("INVALID_TYPE", "cancelled", "cancelled must be a boolean")
    request_bytes = f.integer(r.get("request_bytes"), "request_bytes")
    response_bytes = f.integer(r.get("response_bytes"), "response_bytes")
    response = r.get("response")
    if response is not None and not isinstance(response, dict):
        raise f.RecordInvalid("INVALID_TYPE", "response", "response must be an object or null")
    if method != "tools/call" or "id" not in request:
        raise Free  # initialize, tools/list, ping, notifications/*: never metered
    rid = _request_id(request["id"])
    params = request.get("params")
    tool = f.string(
        params.get("name") if isinstance(params, dict) else None,
        "request.params.name",
        max_chars=200,
        numbers=False,
    )
    if tool is None:
        raise f.RecordInvalid("MISSING_FIELD", "request.params.name", "a tools/call names its tool")
    if cancelled:
        outcome = "cancelled"
    elif response is None:
        raise f.RecordInvalid(
            "MISSING_FIELD", "response", "a tools/call record needs its response unless cancelled"
        )
    else:
        if "id" in response and json.dumps(response["id"]) != rid:
            raise f.RecordInvalid("INVALID_VALUE", "response.id", "response.id != request.id")
        if "error" in response:
            outcome = "protocol_error"
        elif isinstance(response.get("result"), dict) and response["result"].get("isError") is True:
            outcome = "tool_error"
        elif "result" in response:
            outcome = "success"
        else:
            raise f.RecordInvalid("INVALID_VALUE", "response", "a response has result or error")
    latency = None
    if ended is not None:
        latency = max((ended - started).total_seconds() * 1000, 0.0)
    key = hashlib.sha256(f"{session}\x1f{rid}".encode("utf-8", "surrogatepass")).hexdigest()
    return Event(
        event_id=f"mcp:{key[:40]}",
        occurred_at=started,
        source=SOURCE,
        metric=METRIC,
        consumer=agent,
        latency_ms=latency,
        request_bytes=request_bytes,
        response_bytes=response_bytes,
        request_id=rid[:200],
        tool=tool,
        agent=agent,
        session=session,
        outcome=outcome,
        properties={"transport": transport},
    )


def parse(body: bytes) -> Parsed:
    doc = loads(body)
    records = doc.get("records") if isinstance(doc, dict) else None
    if not isinstance(records, list):
        raise Unusable("INVALID_ENVELOPE", 'expected {"records": [...]}')
    if len(records) > MAX_RECORDS:
        raise Unusable("TOO_MANY_EVENTS", f"at most {MAX_RECORDS} records per request", 413)
    now = datetime.now(UTC)
    out = Parsed()
    for i, r in enumerate(records):
        try:
            out.add(i, event_from(r, now))
        except Free:
            out.free += 1
        except f.RecordInvalid as e:
            out.rejected.append(rejection(e, i, r))
    return out
