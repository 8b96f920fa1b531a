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
from aforo.ingest import mcp_transcripts as t
from aforo.ingest.canonical import Unusable, loads, ndjson_lines, rejection
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
        "protocol_version",
    }
)


class Free(Exception):
    """A well-formed record that is not metered."""


def _agent(a: Any) -> tuple[str | None, str | None, str | None]:
    """(client id, name, version): the agent's credential and its clientInfo, kept apart."""
    if a is None:
        return None, None, None
    if not isinstance(a, dict):
        raise f.RecordInvalid("INVALID_TYPE", "agent", "agent must be an object")
    client_id = f.string(a.get("client_id"), "agent.client_id", max_chars=200)
    name = f.string(a.get("name"), "agent.name", max_chars=200)
    version = f.string(a.get("version"), "agent.version", max_chars=100)
    return client_id, name, version


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
    client_id, agent_name, agent_version = _agent(r.get("agent"))
    protocol = f.string(r.get("protocol_version"), "protocol_version", max_chars=32)
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
    error_code = None
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
            err = response["error"]
            code = err.get("code") if isinstance(err, dict) else None
            error_code = code if isinstance(code, int) and not isinstance(code, bool) else None
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
        consumer=client_id,
        latency_ms=latency,
        request_bytes=request_bytes,
        response_bytes=response_bytes,
        request_id=rid[:200],
        tool=tool,
        agent=agent_name or client_id,
        agent_version=agent_version,
        protocol_version=protocol,
        error_code=error_code if error_code is None or -(2**31) <= error_code < 2**31 else None,
        session=session,
        outcome=outcome,
        properties={"transport": transport},
    )


def parse(body: bytes, content_type: str = "application/json", query: Any = None) -> Parsed:
    """Records (``{"records": [...]}``) or raw traffic: a transcript object, several
    (``{"transcripts": [...]}``), a HAR file, a JSON array of messages, or an NDJSON stdio
    capture (see ``ingest.mcp_transcripts``)."""
    now = datetime.now(UTC)
    params = query or {}
    ctype = content_type.split(";")[0].strip().lower()
    if ctype in LINE_TYPES or (ctype not in JSON_TYPES and not _one_json(body)):
        lines = [x for x in ndjson_lines(body)]
        items = [obj for _, obj, _ in lines]
        bad = [(i, o, raw) for i, o, raw in lines if isinstance(o, f.RecordInvalid)]
        meta = _meta(params, {}, now)
        msgs = t.messages_of([o for o in items if not isinstance(o, f.RecordInvalid)], now)
        # Indexes are line positions among non-empty lines, bad ones included.
        good_index = [i for i, o, _ in lines if not isinstance(o, f.RecordInvalid)]
        for m in msgs:
            m.index = good_index[m.index]
        out = t.pair(msgs, meta, now, meta.session or t.derive_session(body))
        for i, e, raw in bad:
            out.rejected.append(rejection(e, i, None, raw))
        return _capped(out)
    doc = loads(body)
    if isinstance(doc, dict) and isinstance(doc.get("records"), list):
        return _records(doc["records"], now)
    if isinstance(doc, dict) and isinstance(doc.get("log"), dict):
        entries = doc["log"].get("entries")
        if not isinstance(entries, list):
            raise Unusable("INVALID_ENVELOPE", "a HAR file has log.entries")
        return _capped(_transcript({"exchanges": entries}, params, now, body))
    if isinstance(doc, dict) and isinstance(doc.get("transcripts"), list):
        out = Parsed()
        base = 0
        for n, one in enumerate(doc["transcripts"]):
            if not isinstance(one, dict):
                raise Unusable("INVALID_ENVELOPE", f"transcripts[{n}] is not an object")
            part = _transcript(one, params, now, _canonical(one))
            for i, ev in zip(part.indexes, part.events, strict=True):
                out.add(base + i, ev)
            for r in part.rejected:
                r.index = None if r.index is None else base + r.index
                out.rejected.append(r)
            out.free += part.free
            base += _length(one)
        return _capped(out)
    if isinstance(doc, dict) and isinstance(doc.get("transcript"), dict):
        return _capped(_transcript(doc["transcript"], params, now, _canonical(doc["transcript"])))
    if isinstance(doc, dict) and any(k in doc for k in ("messages", "exchanges", "stream")):
        return _capped(_transcript(doc, params, now, body))
    if isinstance(doc, list):
        meta = _meta(params, {}, now)
        msgs = t.messages_of(doc, now)
        return _capped(t.pair(msgs, meta, now, meta.session or t.derive_session(body)))
    raise Unusable(
        "INVALID_ENVELOPE",
        'expected {"records": [...]}, a transcript ({"messages"}, {"exchanges"}, {"stream"}, '
        '{"transcripts": [...]}), a HAR file, or NDJSON JSON-RPC lines',
    )


LINE_TYPES = frozenset(
    {"application/x-ndjson", "application/jsonl", "application/x-jsonlines", "text/plain"}
)
JSON_TYPES = frozenset({"application/json"})


def _one_json(body: bytes) -> bool:
    try:
        loads(body)
    except Unusable:
        return False
    return True


def _canonical(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8", "surrogatepass")


def _length(doc: dict[str, Any]) -> int:
    return sum(len(doc.get(k) or []) for k in ("messages", "exchanges")) + (
        1 if "stream" in doc else 0
    )


def _capped(out: Parsed) -> Parsed:
    if len(out.events) > MAX_RECORDS:
        raise Unusable("TOO_MANY_EVENTS", f"at most {MAX_RECORDS} tool calls per request", 413)
    return out


def _meta(params: Any, doc: dict[str, Any], now: datetime) -> t.Meta:
    """Envelope fields, else query parameters: transport, session, agent, version, start."""

    def pick(name: str, limit: int = 200) -> str | None:
        v = doc.get(name, params.get(name))
        return v.strip()[:limit] or None if isinstance(v, str) else None

    raw_agent = doc.get("agent")
    agent: dict[str, Any] = raw_agent if isinstance(raw_agent, dict) else {}
    transport = pick("transport", 32) or "stdio"
    if transport not in (*TRANSPORTS, "sse"):
        raise Unusable("INVALID_VALUE", f"transport must be one of {(*TRANSPORTS, 'sse')}")
    started = doc.get("started_at", params.get("started_at"))
    return t.Meta(
        transport=transport,
        session=pick("session_id"),
        client_id=_str(agent.get("client_id")) or pick("agent_id"),
        agent=_str(agent.get("name")),
        agent_version=_str(agent.get("version"), 100),
        protocol=pick("protocol_version", 32),
        started_at=t.time_of(started, now),
    )


def _str(v: Any, limit: int = 200) -> str | None:
    return v.strip()[:limit] or None if isinstance(v, str) else None


def _transcript(doc: dict[str, Any], params: Any, now: datetime, content: bytes) -> Parsed:
    meta = _meta(params, doc, now)
    msgs: list[t.Msg] = []
    if isinstance(doc.get("messages"), list):
        msgs += t.messages_of(doc["messages"], now)
    if isinstance(doc.get("exchanges"), list):
        ex = t.exchanges_of(doc["exchanges"], now)
        offset = len(doc.get("messages") or [])
        for m in ex.messages:
            m.index += offset
        msgs += ex.messages
        if "transport" not in doc and "transport" not in params:
            meta.transport = ex.transport
    if isinstance(doc.get("stream"), str):  # a legacy GET stream given as text
        meta.transport = "sse" if "transport" not in doc else meta.transport
        index = _length(doc) - 1
        session = None
        for event, data in t.sse_data(doc["stream"]):
            if event == "endpoint":
                session = t.legacy_session(data)
            elif event == "message":
                t.flatten(msgs, t.as_json(data), index, t.SERVER, None, session=session)
        if session is not None:
            for m in msgs:
                if m.sender == t.CLIENT or m.sender is None:
                    m.session = m.session or session
    return t.pair(msgs, meta, now, meta.session or t.derive_session(content))


def _records(records: list[Any], now: datetime) -> Parsed:
    if len(records) > MAX_RECORDS:
        raise Unusable("TOO_MANY_EVENTS", f"at most {MAX_RECORDS} records per request", 413)
    out = Parsed()
    for i, r in enumerate(records):
        try:
            out.add(i, event_from(r, now))
        except Free:
            out.free += 1
        except f.RecordInvalid as e:
            out.rejected.append(rejection(e, i, r))
    return out
