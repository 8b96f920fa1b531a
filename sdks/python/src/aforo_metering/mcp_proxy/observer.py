"""Watches JSON-RPC traffic of one MCP session and turns each ``tools/call`` into a record, or
(``--send transcripts``) into a transcript: the call's own messages as they went over the wire,
with who sent them and when, for the console to pair.

Only ``tools/call`` exchanges are shipped: the console bills nothing else, and protocol chatter
(initialize, tools/list, pings, notifications) would only cost bandwidth. ``initialize`` is still
read, for the agent's ``clientInfo`` and the protocol version the server agreed to; 2026-era
clients carry the agent in each request's ``_meta``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aforo_metering._core import now_rfc3339

CLIENT_INFO_META = "io.modelcontextprotocol/clientInfo"
Record = dict[str, Any]


def id_key(value: Any) -> str:
    # JSON-RPC ids 1 and "1" are different requests.
    return f"{type(value).__name__}:{value}"


@dataclass
class _Pending:
    request: dict[str, Any]
    started_at: str
    request_bytes: int


@dataclass
class Session:
    """One MCP session: a stdio child process, or one ``Mcp-Session-Id``."""

    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    agent: dict[str, str] = field(default_factory=dict)
    pending: dict[str, _Pending] = field(default_factory=dict)
    protocol: str | None = None
    initializing: set[str] = field(default_factory=set)


class Observer:
    def __init__(
        self,
        emit: Callable[[Record], object],
        *,
        transport: str,
        agent_id: str | None = None,
        full_payloads: bool = False,
        transcripts: bool = False,
    ) -> None:
        self.emit = emit
        self.transport = transport
        self.agent_id = agent_id
        self.full_payloads = full_payloads
        self.transcripts = transcripts

    def client_message(self, session: Session, message: Any, size: int) -> None:
        """A message the client sent to the server (possibly a JSON-RPC batch)."""
        for msg, n in _each(message, size):
            method = msg.get("method")
            raw_params = msg.get("params")
            params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
            info = params.get("clientInfo") if method == "initialize" else None
            meta = params.get("_meta")
            if info is None and isinstance(meta, dict):
                info = meta.get(CLIENT_INFO_META)
            if isinstance(info, dict):
                self._agent_from(session, info)
            if method == "initialize" and "id" in msg:
                session.initializing.add(id_key(msg["id"]))
                version = params.get("protocolVersion")
                if isinstance(version, str) and session.protocol is None:
                    session.protocol = version[:32]
            if method == "tools/call" and "id" in msg:
                session.pending[id_key(msg["id"])] = _Pending(
                    request=msg,
                    started_at=now_rfc3339(),
                    request_bytes=n,
                )
            elif method == "notifications/cancelled" and "requestId" in params:
                p = session.pending.pop(id_key(params["requestId"]), None)
                if p is not None:
                    self._record(session, p, None, 0, cancelled=True, cancel=msg)

    def server_message(self, session: Session, message: Any, size: int) -> bool:
        """A message from the server; True if it settled a tools/call of this session."""
        settled = False
        for msg, n in _each(message, size):
            if "method" in msg or "id" not in msg:
                continue  # a server request or notification, not a response
            if id_key(msg["id"]) in session.initializing:
                session.initializing.discard(id_key(msg["id"]))
                result = msg.get("result")
                version = result.get("protocolVersion") if isinstance(result, dict) else None
                if isinstance(version, str):
                    session.protocol = version[:32]  # what the server agreed to
                continue
            p = session.pending.pop(id_key(msg["id"]), None)
            if p is not None:
                self._record(session, p, msg, n, cancelled=False)
                settled = True
        return settled

    def end(self, session: Session) -> None:
        """The session ended with calls still unanswered: the client stopped waiting for
        them, which the console records as cancelled (a record without a response must be)."""
        for p in list(session.pending.values()):
            cancel = {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": p.request.get("id"), "reason": "session ended unanswered"},
            }
            self._record(session, p, None, 0, cancelled=True, cancel=cancel)
        session.pending.clear()

    def _agent_from(self, session: Session, info: dict[str, Any]) -> None:
        for k in ("name", "version"):
            v = info.get(k)
            if isinstance(v, str) and v:
                session.agent[k] = v[:200]

    def _record(
        self,
        session: Session,
        p: _Pending,
        response: dict[str, Any] | None,
        size: int,
        *,
        cancelled: bool,
        cancel: dict[str, Any] | None = None,
    ) -> None:
        agent: dict[str, str] = dict(session.agent)
        if self.agent_id:
            agent["client_id"] = self.agent_id
        request = p.request if self.full_payloads else _bare_request(p.request)
        if response is not None and not self.full_payloads:
            response = _bare_response(response)
        ended = now_rfc3339()
        if self.transcripts:
            closing = response if response is not None else cancel
            messages = [
                {"direction": "client_to_server", "timestamp": p.started_at, "message": request},
            ]
            if closing is not None:
                direction = "server_to_client" if response is not None else "client_to_server"
                messages.append({"direction": direction, "timestamp": ended, "message": closing})
            transcript: Record = {
                "transport": self.transport,
                "session_id": session.id,
                "agent": agent,
                "messages": messages,
            }
            if session.protocol:
                transcript["protocol_version"] = session.protocol
            self.emit(transcript)
            return
        record: Record = {
            "session_id": session.id,
            "agent": agent,
            "transport": self.transport,
            "request": request,
            "response": response,
            "cancelled": cancelled,
            "started_at": p.started_at,
            "ended_at": ended,
            "request_bytes": p.request_bytes,
            "response_bytes": size,
        }
        if session.protocol:
            record["protocol_version"] = session.protocol
        self.emit(record)


def _bare_request(msg: dict[str, Any]) -> dict[str, Any]:
    """What metering needs of a tools/call: tool arguments can hold customer data and stay
    between the agent and the server (sizes are still reported)."""
    params = msg.get("params")
    name = params.get("name") if isinstance(params, dict) else None
    return {
        "jsonrpc": msg.get("jsonrpc"),
        "id": msg.get("id"),
        "method": msg.get("method"),
        "params": {"name": name},
    }


def _bare_response(msg: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"jsonrpc": msg.get("jsonrpc"), "id": msg.get("id")}
    error = msg.get("error")
    if isinstance(error, dict):
        out["error"] = {"code": error.get("code"), "message": str(error.get("message", ""))[:200]}
    elif "error" in msg:
        out["error"] = error
    elif isinstance(msg.get("result"), dict):
        out["result"] = {"isError": msg["result"].get("isError") is True}
    elif "result" in msg:
        out["result"] = msg["result"]
    return out


def _each(message: Any, size: int) -> list[tuple[dict[str, Any], int]]:
    if isinstance(message, dict):
        return [(message, size)]
    if isinstance(message, list):
        items = [m for m in message if isinstance(m, dict)]
        return [(m, len(json.dumps(m, separators=(",", ":")))) for m in items]
    return []


def parse(raw: bytes) -> Any:
    """A JSON-RPC message or batch; None for anything else (relayed, never interpreted)."""
    try:
        return json.loads(raw)
    except ValueError:
        return None
