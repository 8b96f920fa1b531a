"""Streamable HTTP mode: an ASGI reverse proxy in front of an HTTP MCP server.

Requests and responses are streamed through unchanged (SSE events reach the client as the
server writes them); a copy of each JSON-RPC message is observed on the side. Sessions are
keyed by the ``Mcp-Session-Id`` header; the console only ever sees a hash of it, since some
servers treat the id as a capability. Sessionless traffic (stateless servers, 2026-era
clients) is grouped per agent (clientInfo) and client address for the life of the proxy.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx

from aforo_metering._core import log
from aforo_metering.mcp_proxy.observer import Observer, Session, parse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
    }
)
MAX_OBSERVED_BODY = 32 * 1024 * 1024
MAX_SESSIONS = 10_000


def session_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


class SSEParser:
    """Incremental text/event-stream parser yielding each event's ``data``."""

    def __init__(self, on_data: Callable[[str], None]) -> None:
        self.on_data = on_data
        self.buffer = ""
        self.data: list[str] = []

    def feed(self, chunk: str) -> None:
        self.buffer += chunk
        while True:
            idx = min(
                (i for i in (self.buffer.find("\n"), self.buffer.find("\r")) if i >= 0), default=-1
            )
            if idx < 0:
                if len(self.buffer) > MAX_OBSERVED_BODY:
                    self.buffer, self.data = "", []
                return
            line = self.buffer[:idx]
            skip = 2 if self.buffer[idx : idx + 2] == "\r\n" else 1
            self.buffer = self.buffer[idx + skip :]
            if not line:
                if self.data:
                    self.on_data("\n".join(self.data))
                self.data = []
            elif line.startswith("data:"):
                value = line[5:]
                self.data.append(value[1:] if value.startswith(" ") else value)


class HttpProxy:
    def __init__(self, upstream: str, observer: Observer) -> None:
        self.upstream = upstream.rstrip("/")
        self.observer = observer
        self.sessions: collections.OrderedDict[str, Session] = collections.OrderedDict()
        self.run_id = uuid.uuid4().hex
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(10.0, read=None), follow_redirects=False
        )

    async def aclose(self) -> None:
        for session in self.sessions.values():
            self.observer.end(session)
        self.sessions.clear()
        await self.http.aclose()

    def _session(self, raw_id: str | None) -> Session:
        if raw_id is None:
            return Session()  # stateless server: each POST is its own exchange
        session = self.sessions.get(raw_id)
        if session is None:
            session = self.sessions[raw_id] = Session(id=session_hash(raw_id))
            if len(self.sessions) > MAX_SESSIONS:
                _, oldest = self.sessions.popitem(last=False)
                self.observer.end(oldest)
        else:
            self.sessions.move_to_end(raw_id)
        return session

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, self.aclose)
            return
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in HOP_BY_HOP]
        raw_sid = _header(scope["headers"], b"mcp-session-id")
        session = self._session(raw_sid)
        method = scope["method"]
        if method == "POST" and body:
            msg = parse(bytes(body))
            if msg is not None:
                self._safe(self.observer.client_message, session, msg, len(body))
        if raw_sid is None:
            client = scope.get("client") or ("", 0)
            agent = f"{session.agent.get('name')}/{session.agent.get('version')}"
            session.id = session_hash(f"{self.run_id}\x1f{client[0]}\x1f{agent}")
        url = self.upstream + scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        request = self.http.build_request(method, url, headers=headers, content=bytes(body))
        try:
            response = await self.http.send(request, stream=True)
        except httpx.HTTPError as e:
            await _plain(send, 502, f"upstream unreachable: {type(e).__name__}")
            return
        try:
            new_sid = response.headers.get("mcp-session-id")
            if new_sid and raw_sid is None:
                # initialize: the session is born in the response; keep the agent it announced.
                born = self._session(new_sid)
                born.agent.update(session.agent)
                born.pending.update(session.pending)
                session = born
            await _until_disconnect(receive, self._relay(response, session, send))
        finally:
            await response.aclose()
        if method == "DELETE" and raw_sid is not None:
            gone = self.sessions.pop(raw_sid, None)
            if gone is not None:
                self.observer.end(gone)
        elif raw_sid is None and not new_sid:
            self.observer.end(session)  # nothing can answer a stateless exchange later

    async def _relay(self, response: httpx.Response, session: Session, send: Send) -> None:
        skip = HOP_BY_HOP - {b"content-length"}  # raw bytes are relayed: the length holds
        out = [(k, v) for k, v in response.headers.raw if k.lower() not in skip]
        await send({"type": "http.response.start", "status": response.status_code, "headers": out})
        ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
        plain = not response.headers.get("content-encoding")
        sse = SSEParser(lambda data: self._observe_server(session, data)) if plain else None
        copy = bytearray()
        async for chunk in response.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if not plain:
                continue
            if ctype == "text/event-stream" and sse is not None:
                sse.feed(chunk.decode("utf-8", "replace"))
            elif ctype == "application/json" and len(copy) < MAX_OBSERVED_BODY:
                copy += chunk
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        if copy:
            self._observe_server(session, copy.decode("utf-8", "replace"))

    def _observe_server(self, session: Session, data: str) -> None:
        msg = parse(data.encode())
        if msg is not None:
            size = len(data.encode())
            self._safe(self.observer.server_message, session, msg, size)

    def _safe(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("aforo: could not observe a message")


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for k, v in headers:
        if k.lower() == name:
            return v.decode("latin-1")
    return None


async def _plain(send: Send, status: int, text: str) -> None:
    body = json.dumps({"error": text}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _lifespan(
    receive: Receive, send: Send, on_shutdown: Callable[[], Awaitable[None]]
) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await on_shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _until_disconnect(receive: Receive, relay: Awaitable[None]) -> None:
    """Relay until done, or until the client goes away: a long-lived SSE stream must not
    keep its upstream connection open for nobody."""

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    relaying = asyncio.ensure_future(relay)
    watching = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait({relaying, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        relaying.cancel()
        watching.cancel()
        await asyncio.gather(relaying, watching, return_exceptions=True)
    error = None if relaying.cancelled() else relaying.exception()
    if error is not None:
        raise error
