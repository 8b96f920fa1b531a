"""Raw MCP traffic → metered tool calls.

What a transcript can be (docs/usage-formats.md has an example of each):
- a **stdio capture**: JSON-RPC messages one per line, both directions in order (an NDJSON
  body, or ``"messages"`` in a transcript object). Lines may be bare messages or JSON-RPC
  batches (2025-03-26), or wrapped with who sent them and when:
  ``{"direction": "client_to_server", "timestamp": "…", "message": {…}}``. Without a direction
  the sender is inferred: a request's method says who may send it, a response answers whoever
  asked with that id;
- **streamable HTTP** exchanges: ``"exchanges": [{"request": {headers, body}, "response":
  {status, headers, body}}]`` whose bodies are JSON, JSON batches or ``text/event-stream``;
  sessions follow the ``Mcp-Session-Id`` header, the version ``MCP-Protocol-Version``;
- the **legacy HTTP+SSE** transport (2024-11-05): the GET stream's text (``"stream"``: its
  ``endpoint`` event names the POST URL and with it the session, its ``message`` events carry
  the server's messages) and the client's POSTs (``"exchanges"``);
- a **HAR** file (``{"log": {"entries": [...]}}``) of either HTTP transport, as browsers,
  mitmproxy or Charles export it.

Every ``tools/call`` is paired with its result, its error (the JSON-RPC code is kept) or its
cancellation (``notifications/cancelled``); one left unanswered is refused, never guessed. The
agent is ``initialize``'s ``clientInfo`` (name and version apart), the protocol version the one
the server answered with. Without a session id from the transport, one is derived from the
transcript's content: post a session's transcript whole (or name its ``session_id``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aforo.ingest import fields as f
from aforo.ingest.canonical import Unusable, decode, rejection
from aforo.services.usage.events import Event, Parsed

SOURCE = "mcp"
METRIC = "mcp_tool_calls"
MAX_MESSAGES = 200_000
# Who may send a request of each method (the rest are the client's).
SERVER_METHODS = frozenset({"sampling/createMessage", "roots/list", "elicitation/create"})
SERVER_NOTIFICATIONS = frozenset(
    {
        "notifications/message",
        "notifications/progress",
        "notifications/resources/updated",
        "notifications/resources/list_changed",
        "notifications/tools/list_changed",
        "notifications/prompts/list_changed",
    }
)
CLIENT = "client"
SERVER = "server"
_DIRECTIONS = {
    **dict.fromkeys(
        (
            "client",
            "client_to_server",
            "c2s",
            "request",
            "send",
            "sent",
            "out",
            "outgoing",
            ">",
            "->",
            "→",
            "to_server",
        ),
        CLIENT,
    ),
    **dict.fromkeys(
        (
            "server",
            "server_to_client",
            "s2c",
            "response",
            "recv",
            "received",
            "in",
            "incoming",
            "<",
            "<-",
            "←",
            "to_client",
        ),
        SERVER,
    ),
}
_WRAP_MESSAGE = ("message", "msg", "payload", "data", "json")
_WRAP_DIRECTION = ("direction", "dir", "from", "sender", "source", "side")
_WRAP_TIME = ("timestamp", "ts", "time", "at", "date")


@dataclass
class Msg:
    """One JSON-RPC message of a transcript, where it was, who sent it and when."""

    body: dict[str, Any]
    index: int
    sender: str | None = None
    at: datetime | None = None
    size: int = 0
    session: str | None = None
    protocol: str | None = None  # MCP-Protocol-Version header of its HTTP request


@dataclass
class Meta:
    """What the transcript says about itself (envelope fields or query parameters)."""

    transport: str = "stdio"
    session: str | None = None
    client_id: str | None = None
    agent: str | None = None
    agent_version: str | None = None
    protocol: str | None = None
    started_at: datetime | None = None


@dataclass
class _Session:
    id: str
    agent: str | None = None
    agent_version: str | None = None
    protocol: str | None = None
    pending: dict[str, tuple[Msg, str]] = field(default_factory=dict)  # client requests
    server_pending: set[str] = field(default_factory=set)
    initialize: set[str] = field(default_factory=set)
    cancelled: dict[str, Msg] = field(default_factory=dict)


def _key(v: Any) -> str:
    return json.dumps(v)  # JSON-RPC ids 7 and "7" are different requests


def _size(body: Any) -> int:
    return len(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "replace")
    )


# -- reading the many shapes into messages ----------------------------------------------------
def _direction(v: Any) -> str | None:
    return _DIRECTIONS.get(v.strip().lower()) if isinstance(v, str) else None


def time_of(v: Any, now: datetime) -> datetime | None:
    if f.blank(v):
        return None
    try:
        return f.flex_time(v, "timestamp", now)
    except f.RecordInvalid:
        return None


def as_json(v: Any) -> Any:
    if isinstance(v, bytes | str):
        try:
            return decode(v.encode() if isinstance(v, str) else v)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None
    return v


def _unwrap(item: Any, now: datetime) -> tuple[Any, str | None, datetime | None]:
    """(JSON-RPC message or batch, sender, time) of one transcript line or list item."""
    if isinstance(item, dict) and "jsonrpc" not in item:
        body = next((item[k] for k in _WRAP_MESSAGE if k in item), None)
        if body is not None:
            sender = next((_direction(item[k]) for k in _WRAP_DIRECTION if k in item), None)
            at = next((time_of(item[k], now) for k in _WRAP_TIME if k in item), None)
            return as_json(body), sender, at
    return item, None, None


def flatten(
    out: list[Msg], body: Any, index: int, sender: str | None, at: datetime | None, **kw: Any
) -> None:
    """A message or a JSON-RPC batch (2025-03-26) → messages; anything else is kept as is for
    the pairing to refuse with its index."""
    items = body if isinstance(body, list) else [body]
    for item in items:
        if len(out) >= MAX_MESSAGES:
            raise Unusable("TOO_MANY_EVENTS", f"at most {MAX_MESSAGES} messages per request", 413)
        if isinstance(item, dict):
            out.append(Msg(item, index, sender, at, _size(item), **kw))
        else:
            out.append(Msg({"__invalid__": item}, index, sender, at, 0, **kw))


def messages_of(items: list[Any], now: datetime) -> list[Msg]:
    out: list[Msg] = []
    for i, item in enumerate(items):
        body, sender, at = _unwrap(item, now)
        flatten(out, body, i, sender, at)
    return out


def sse_data(text: str) -> Iterator[tuple[str, str]]:
    """(event type, data) of each event of a ``text/event-stream`` body."""
    event = "message"
    data: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
    if data:
        yield event, "\n".join(data)


def _headers(h: Any) -> dict[str, str]:
    """Headers as an object or as HAR's [{"name", "value"}], by lower-cased name."""
    out: dict[str, str] = {}
    if isinstance(h, dict):
        for k, v in h.items():
            if isinstance(v, str):
                out[str(k).lower()] = v
    elif isinstance(h, list):
        for x in h:
            if isinstance(x, dict) and isinstance(x.get("name"), str):
                out[x["name"].lower()] = str(x.get("value", ""))
    return out


def _body_text(part: dict[str, Any]) -> tuple[Any, str]:
    """(body, content type) of a request or response: ours (``body``) or HAR's
    (``postData.text`` / ``content.text``, base64 when ``encoding`` says so)."""
    headers = _headers(part.get("headers"))
    ctype = headers.get("content-type", "")
    if "body" in part:
        return part["body"], ctype
    holder = part.get("postData") or part.get("content") or {}
    if not isinstance(holder, dict):
        return None, ctype
    text = holder.get("text")
    ctype = holder.get("mimeType") or ctype
    if isinstance(text, str) and holder.get("encoding") == "base64":
        import base64
        import binascii

        try:
            text = base64.b64decode(text).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            text = None
    return text, str(ctype)


@dataclass
class _Exchanges:
    messages: list[Msg] = field(default_factory=list)
    transport: str = "streamable_http"


def exchanges_of(entries: list[Any], now: datetime) -> _Exchanges:
    """HTTP request/response pairs (ours or HAR entries) of either HTTP transport."""
    out = _Exchanges()
    # First the GET streams: the legacy transport's endpoint event names the POST URL, and
    # with it the session of every message posted there.
    legacy: dict[str, str] = {}
    streams: list[tuple[int, str]] = []
    for i, entry in enumerate(entries):
        req, res = _parts(entry)
        text, ctype = _body_text(res)
        is_get = (req.get("method") or "POST").upper() == "GET"
        if (
            is_get
            and isinstance(text, str)
            and ("event-stream" in ctype.lower() or text.lstrip().startswith(("event:", "data:")))
        ):
            streams.append((i, text))
            for event, data in sse_data(text):
                if event == "endpoint":
                    legacy[_url_key(data)] = legacy_session(data)
                    out.transport = "sse"
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            out.messages.append(Msg({"__invalid__": entry}, i))
            continue
        req, res = _parts(entry)
        if (req.get("method") or "POST").upper() != "POST":
            continue
        started = time_of(entry.get("started_at") or entry.get("startedDateTime"), now)
        ended = time_of(entry.get("ended_at"), now)
        if ended is None and started is not None and isinstance(entry.get("time"), int | float):
            ended = started + timedelta(milliseconds=float(entry["time"]))
        req_headers = _headers(req.get("headers"))
        res_headers = _headers(res.get("headers"))
        session = req_headers.get("mcp-session-id") or res_headers.get("mcp-session-id")
        url = req.get("url")
        if session is None and isinstance(url, str):
            session = legacy.get(_url_key(url))
        if session is None:
            session = f"#{i}"  # a stateless exchange: a session of its own
        protocol = req_headers.get("mcp-protocol-version")
        body, _ = _body_text(req)
        if body is not None:
            flatten(
                out.messages, as_json(body), i, CLIENT, started, session=session, protocol=protocol
            )
        res_text, res_type = _body_text(res)
        if res_text is None or (isinstance(res_text, str) and not res_text.strip()):
            continue  # 202 Accepted: the answer comes on a stream
        if "event-stream" in res_type.lower():
            for _, data in sse_data(str(res_text)):
                flatten(out.messages, as_json(data), i, SERVER, ended, session=session)
        else:
            flatten(out.messages, as_json(res_text), i, SERVER, ended, session=session)
    for i, text in streams:
        session = None
        for event, data in sse_data(text):
            if event == "endpoint":
                session = legacy_session(data)
            elif event == "message":
                flatten(out.messages, as_json(data), i, SERVER, None, session=session)
    return out


def _parts(entry: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    if not isinstance(entry, dict):
        return {}, {}
    req = entry.get("request")
    res = entry.get("response")
    return (req if isinstance(req, dict) else {}), (res if isinstance(res, dict) else {})


def _url_key(url: str) -> str:
    parts = urlsplit(url.strip())
    return f"{parts.path}?{parts.query}"


def legacy_session(endpoint: str) -> str:
    query = parse_qs(urlsplit(endpoint.strip()).query)
    for name in ("sessionId", "session_id", "sessionid"):
        if query.get(name):
            return query[name][0]
    return "endpoint:" + hashlib.sha256(endpoint.strip().encode()).hexdigest()[:32]


# -- pairing ------------------------------------------------------------------------------------
def _sender(m: Msg, s: _Session) -> str:
    if m.sender is not None:
        return m.sender
    method = m.body.get("method")
    if isinstance(method, str):
        if method in SERVER_METHODS or method in SERVER_NOTIFICATIONS:
            return SERVER
        if method == "notifications/cancelled":
            params = m.body.get("params")
            rid = params.get("requestId") if isinstance(params, dict) else None
            return SERVER if _key(rid) in s.server_pending else CLIENT
        return CLIENT
    if "id" in m.body:
        k = _key(m.body["id"])
        if k in s.pending or k in s.initialize:
            return SERVER  # a response to the client's request
        if k in s.server_pending:
            return CLIENT
    return SERVER


def pair(msgs: list[Msg], meta: Meta, now: datetime, derived: str) -> Parsed:
    """The tool calls of a transcript's messages, paired with what ended them."""
    out = Parsed()
    sessions: dict[str | None, _Session] = {}

    seen_agent: list[str | None] = [meta.agent, meta.agent_version]

    def session_of(m: Msg) -> _Session:
        sid = m.session or meta.session
        s = sessions.get(sid)
        if s is None:
            ident = derived if sid is None else derived + sid if sid.startswith("#") else sid
            # A session whose initialize is elsewhere in the transcript (stateless HTTP
            # exchanges) takes the agent last announced.
            s = sessions[sid] = _Session(
                id=ident, agent=seen_agent[0], agent_version=seen_agent[1], protocol=meta.protocol
            )
        return s

    free = 0
    for m in msgs:
        body = m.body
        if "__invalid__" in body or body.get("jsonrpc") != "2.0":
            e = f.RecordInvalid("INVALID_VALUE", None, "not a JSON-RPC 2.0 message")
            out.rejected.append(rejection(e, m.index, body.get("__invalid__", body)))
            continue
        s = session_of(m)
        if m.protocol and not s.protocol:
            s.protocol = m.protocol[:32]
        who = _sender(m, s)
        method = body.get("method")
        if isinstance(method, str):
            raw_params = body.get("params")
            params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
            if "id" in body:
                k = _key(body["id"])
                if who == SERVER:
                    s.server_pending.add(k)
                    continue
                if method == "initialize":
                    s.initialize.add(k)
                    info = params.get("clientInfo")
                    if isinstance(info, dict):
                        s.agent = _text(info.get("name")) or s.agent
                        s.agent_version = _text(info.get("version")) or s.agent_version
                        seen_agent[:] = [s.agent, s.agent_version]
                    s.protocol = s.protocol or _text(params.get("protocolVersion"), 32)
                    free += 1
                elif method == "tools/call":
                    name = params.get("name")
                    if not isinstance(name, str) or not name.strip():
                        e = f.RecordInvalid(
                            "MISSING_FIELD", "params.name", "a tools/call names its tool"
                        )
                        out.rejected.append(rejection(e, m.index, body))
                        continue
                    s.pending[k] = (m, name[:200])
                else:
                    free += 1
            elif method == "notifications/cancelled" and who == CLIENT:
                rid = params.get("requestId")
                hit = s.pending.pop(_key(rid), None) if rid is not None else None
                if hit is not None:
                    _emit(out, s, meta, hit, None, m, now)
                free += 1
            else:
                free += 1
            continue
        if "id" not in body or not ("result" in body or "error" in body):
            e = f.RecordInvalid("INVALID_VALUE", None, "a response has an id and result or error")
            out.rejected.append(rejection(e, m.index, body))
            continue
        k = _key(body["id"])
        if who == CLIENT:
            s.server_pending.discard(k)
            continue
        if k in s.initialize:
            s.initialize.discard(k)
            raw_result = body.get("result")
            result: dict[str, Any] = raw_result if isinstance(raw_result, dict) else {}
            negotiated = _text(result.get("protocolVersion"), 32)
            if negotiated:
                s.protocol = negotiated
            continue
        hit = s.pending.pop(k, None)
        if hit is not None:
            _emit(out, s, meta, hit, m, None, now)
        # A response to anything else (tools/list, ping, …) is chatter: free, not counted twice.
    for s in sessions.values():
        for call, _ in s.pending.values():
            e = f.RecordInvalid(
                "UNANSWERED",
                "id",
                "a tools/call with no result, error or cancellation in the transcript",
            )
            out.rejected.append(rejection(e, call.index, call.body))
    out.free = free
    return out


def _text(v: Any, limit: int = 200) -> str | None:
    return v.strip()[:limit] or None if isinstance(v, str) else None


def _emit(
    out: Parsed,
    s: _Session,
    meta: Meta,
    hit: tuple[Msg, str],
    response: Msg | None,
    cancel: Msg | None,
    now: datetime,
) -> None:
    call, tool = hit
    rid = _key(call.body["id"])
    error_code = None
    if response is None:
        outcome = "cancelled"
    elif "error" in response.body:
        outcome = "protocol_error"
        err = response.body["error"]
        code = err.get("code") if isinstance(err, dict) else None
        error_code = code if isinstance(code, int) and not isinstance(code, bool) else None
    else:
        result = response.body.get("result")
        outcome = (
            "tool_error"
            if isinstance(result, dict) and result.get("isError") is True
            else "success"
        )
    started = call.at or meta.started_at
    properties: dict[str, Any] = {"transport": meta.transport}
    if started is None:
        started = now.replace(microsecond=now.microsecond // 1000 * 1000)
        properties["time"] = "received"  # no time anywhere in the transcript
    closing = response or cancel
    ended = closing.at if closing is not None else None
    latency = None
    if ended is not None and call.at is not None:
        latency = max((ended - call.at).total_seconds() * 1000, 0.0)
    key = hashlib.sha256(f"{s.id}\x1f{rid}".encode("utf-8", "surrogatepass")).hexdigest()
    try:
        out.add(
            call.index,
            Event(
                event_id=f"mcp:{key[:40]}",
                occurred_at=f.flex_time(started.isoformat(), "timestamp", now),
                source=SOURCE,
                metric=METRIC,
                consumer=meta.client_id,
                latency_ms=latency,
                request_bytes=call.size,
                response_bytes=response.size if response is not None else None,
                request_id=rid[:200],
                tool=tool,
                agent=s.agent or meta.client_id,
                agent_version=s.agent_version,
                protocol_version=s.protocol,
                error_code=error_code,
                session=s.id[:200],
                outcome=outcome,
                properties=properties,
            ),
        )
    except f.RecordInvalid as e:
        out.rejected.append(rejection(e, call.index, call.body))


def derive_session(content: bytes) -> str:
    return "derived:" + hashlib.sha256(content).hexdigest()[:32]
