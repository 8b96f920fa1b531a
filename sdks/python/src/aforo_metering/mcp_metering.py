"""Meter the tool calls of an MCP server built with the official Python SDK (``mcp``), in
process: the Python counterpart of ``@aforo/mcp-metering``.

    from aforo_metering.mcp_metering import McpMetering, meter_server

    server = MCPServer("weather")
    meter_server(server, McpMetering(url, token=os.environ["AFORO_TOKEN"]))

A server middleware sees every inbound message (``initialize``, ``tools/call``, cancellations)
and what the handler returned, and records each ``tools/call`` exactly as the sidecar does:
tool, agent, session, outcome, latency and sizes, shipped to ``POST /v1/usage/mcp`` in batches
from a task of its own. Both transports (stdio, streamable HTTP).
"""

from __future__ import annotations

import asyncio
import collections
import json
import uuid
from typing import Any

from aforo_metering._core import OverflowPolicy, Settings
from aforo_metering.aio import AsyncShipper
from aforo_metering.mcp_proxy.http import session_hash
from aforo_metering.mcp_proxy.observer import Observer, Session

PROTOCOL_ERROR = -32603
MAX_SESSIONS = 10_000
INVALID_PARAMS = -32602


class McpMetering:
    """Ships MCP records; share one per process. ``await aclose()`` on shutdown (what is still
    buffered at interpreter exit is sent by the exit hook)."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        agent_id: str | None = None,
        full_payloads: bool = False,
        batch_size: int = 200,
        flush_interval: float = 1.0,
        max_buffer: int = 100_000,
        backoff_cap: float = 30.0,
        exit_timeout: float = 1.5,
    ) -> None:
        settings = Settings(
            path="/v1/usage/mcp",
            key="records",
            batch_size=batch_size,
            flush_interval=flush_interval,
            max_buffer=max_buffer,
            overflow=OverflowPolicy.DROP,
            backoff_cap=backoff_cap,
            exit_timeout=exit_timeout,
        )
        self.shipper = AsyncShipper(url, token, settings)
        self.agent_id = agent_id
        self.full_payloads = full_payloads
        self._observers = {
            t: Observer(
                self.shipper.enqueue_nowait,
                transport=t,
                agent_id=agent_id,
                full_payloads=full_payloads,
            )
            for t in ("stdio", "streamable_http")
        }
        self._stdio = Session()  # a stdio server has one client for its whole life
        self._sessions: collections.OrderedDict[str, Session] = collections.OrderedDict()
        self._run_id = uuid.uuid4().hex

    async def flush(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        return await self.shipper.flush(timeout)

    async def aclose(self, timeout: float | None = 10.0) -> None:  # noqa: ASYNC109
        await self.shipper.aclose(timeout)

    def _session(self, ctx: Any) -> Session | None:
        """The sidecar's sessions: one per stdio process, one per ``Mcp-Session-Id`` (hashed),
        and for sessionless HTTP one per agent and client address (set once observed)."""
        if ctx.request is None:
            return self._stdio
        connection = getattr(ctx.session, "_connection", None)
        sid = getattr(connection, "session_id", None)
        if not sid:
            return None
        session = self._sessions.get(sid)
        if session is None:
            session = self._sessions[sid] = Session(id=session_hash(sid))
            if len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        else:
            self._sessions.move_to_end(sid)
        return session

    def _name_sessionless(self, ctx: Any, session: Session) -> None:
        client = getattr(ctx.request, "client", None)
        host = getattr(client, "host", "")
        agent = f"{session.agent.get('name')}/{session.agent.get('version')}"
        session.id = session_hash(f"{self._run_id}\x1f{host}\x1f{agent}")

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        """The ``ServerMiddleware`` protocol: ``(ctx, call_next) -> result``."""
        observer = self._observers["stdio" if ctx.request is None else "streamable_http"]
        try:
            known = self._session(ctx)
            session = known or Session()
            request = {"jsonrpc": "2.0", "method": ctx.method, "params": dict(ctx.params or {})}
            if ctx.request_id is not None:
                request["id"] = ctx.request_id
            observer.client_message(session, request, _size(request))
            if known is None:
                self._name_sessionless(ctx, session)
        except Exception:  # observation must never break the server
            return await call_next(ctx)
        if ctx.method != "tools/call" or ctx.request_id is None:
            return await call_next(ctx)
        try:
            result = await call_next(ctx)
        except asyncio.CancelledError:
            cancel = {"method": "notifications/cancelled", "params": {"requestId": ctx.request_id}}
            observer.client_message(session, cancel, 0)
            raise
        except Exception as e:
            observer.server_message(session, _error(ctx.request_id, e), 0)
            raise
        response = {"jsonrpc": "2.0", "id": ctx.request_id, "result": _dump(result)}
        observer.server_message(session, response, _size(response))
        return result


def meter_server(server: Any, metering: McpMetering) -> Any:
    """Meter every ``tools/call`` of an ``MCPServer`` (or low-level ``Server``)."""
    server.middleware.append(metering)
    return server


def _dump(result: Any) -> Any:
    if hasattr(result, "model_dump"):
        return result.model_dump(by_alias=True, exclude_none=True, mode="json")
    return result


def _size(message: Any) -> int:
    try:
        return len(json.dumps(message, separators=(",", ":"), default=str).encode())
    except (TypeError, ValueError):
        return 0


def _error(request_id: Any, e: Exception) -> dict[str, Any]:
    error = getattr(e, "error", None)  # MCPError carries the JSON-RPC error it answers with
    code = getattr(error, "code", None)
    if code is None:
        code = INVALID_PARAMS if type(e).__name__ == "ValidationError" else PROTOCOL_ERROR
    message = str(getattr(error, "message", None) or e)
    body = {"code": code, "message": message}
    return {"jsonrpc": "2.0", "id": request_id, "error": body}
