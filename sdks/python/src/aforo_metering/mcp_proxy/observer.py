"""Watches JSON-RPC traffic of one MCP session and turns each ``tools/call`` into a record.

Only ``tools/call`` exchanges are shipped: the console bills nothing else, and protocol chatter
(initialize, tools/list, pings, notifications) would only cost bandwidth. ``initialize`` is still
read, for the agent's ``clientInfo``; 2026-era clients carry the same in each request's ``_meta``.
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


class Observer:
    def __init__(
        self,
        emit: Callable[[Record], object],
        *,
        transport: str,
        agent_id: str | None = None,
        full_payloads: bool = False,
    ) -> None:
        self.emit = emit
        self.transport = transport
        self.agent_id = agent_id
        self.full_payloads = full_payloads

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
            if method == "tools/call" and "id" in msg:
                session.pending[id_key(msg["id"])] = _Pending(
                    request=msg,
                    started_at=now_rfc3339(),
                    request_bytes=n,
                )
            elif method == "notifications/cancelled" and "requestId" in params:
                p = session.pending.pop(id_key(params["requestId"]), None)
                if p is not None:
                    self._record(session, p, None, 0, cancelled=True)

    def server_message(self, session: Session, message: Any, size: int) -> bool:
        """A message from the server; True if it settled a tools/call of this session."""
        settled = False
        for msg, n in _each(message, size):
            if "method" in msg or "id" not in msg:
                continue  # a server request or notification, not a response
            p = session.pending.pop(id_key(msg["id"]), None)
            if p is not None:
                self._record(session, p, msg, n, cancelled=False)
                settled = True
        return settled

    def end(self, session: Session) -> None:
        """The session ended with calls still unanswered: the client stopped waiting for
        them, which the console records as cancelled (a record without a response must be)."""
        for p in list(session.pending.values()):
            self._record(session, p, None, 0, cancelled=True)
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
        ended: bool = True,
    ) -> None:
        agent: dict[str, str] = dict(session.agent)
        if self.agent_id:
            agent["client_id"] = self.agent_id
        self.emit(
            {
                "session_id": session.id,
                "agent": agent,
                "transport": self.transport,
                "request": p.request if self.full_payloads else _bare_request(p.request),
                "response": (
                    response if self.full_payloads or response is None else _bare_response(response)
                ),
                "cancelled": cancelled,
                "started_at": p.started_at,
                "ended_at": now_rfc3339(),
                "request_bytes": p.request_bytes,
                "response_bytes": size,
            }
        )


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
