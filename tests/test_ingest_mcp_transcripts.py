"""POST /v1/usage/mcp with raw MCP traffic, as each transport of the MCP specification carries
it: stdio lines (2024-11-05 onwards, JSON-RPC batches of 2025-03-26), streamable HTTP
exchanges with JSON or SSE answers, the legacy HTTP+SSE transport as a HAR capture."""

from __future__ import annotations

import json
from typing import Any

from aforo.config import Settings
from tests.support import Api, make_tenant
from tests.test_usage_helpers import count_events, gateway_token

INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-03-26",
        "capabilities": {},
        "clientInfo": {"name": "claude-code", "version": "2.1.4"},
    },
}
INIT_OK = {
    "jsonrpc": "2.0",
    "id": 0,
    "result": {
        "protocolVersion": "2025-03-26",
        "capabilities": {"tools": {}},
        "serverInfo": {"name": "weather", "version": "1.0"},
    },
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def call(rid: Any, tool: str) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": rid,
        "method": "tools/call",
        "params": {"name": tool, "arguments": {"city": "Oslo"}},
    }


def result(rid: Any, is_error: bool = False) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": rid,
        "result": {"content": [{"type": "text", "text": "rain"}], "isError": is_error},
    }


def error(rid: Any, code: int) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": "Unknown tool"}}


async def _post(
    api: Api, token: str, body: bytes, ctype: str, **params: str
) -> tuple[int, dict[str, Any]]:
    r = await api.client.post(
        "/v1/usage/mcp",
        content=body,
        params=params,
        headers={"Authorization": f"Bearer {token}", "content-type": ctype},
    )
    return r.status_code, r.json()


async def test_stdio_capture_pairs_every_call_and_reposts_count_once(
    api: Api, settings: Settings
) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    lines = [
        INIT,
        INIT_OK,
        INITIALIZED,
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 1, "result": {"tools": []}},
        call(2, "forecast"),
        # The server asks the client something meanwhile (its own id space).
        {"jsonrpc": "2.0", "id": 0, "method": "roots/list"},
        {"jsonrpc": "2.0", "id": 0, "result": {"roots": []}},
        result(2),
        call(3, "forecast"),
        result(3, is_error=True),
        call(4, "nope"),
        error(4, -32602),
        call(5, "slow"),
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 5}},
        # JSON-RPC batches (2025-03-26): two calls in one line, their answers in another.
        [call(6, "forecast"), call("7", "forecast")],
        [result("7"), result(6)],
        call(8, "never-answered"),
    ]
    body = "\n".join(json.dumps(x) for x in lines).encode() + b"\n"
    status, answer = await _post(api, token, body, "application/x-ndjson")
    assert status == 200, answer
    assert answer["accepted"] == 6 and answer["outcome"] == "PARTIAL"
    assert [(r["index"], r["code"]) for r in answer["rejected"]] == [(17, "UNANSWERED")]
    rows = await count_events(settings, t.id, rows=True)
    got = sorted((r["request_id"], r["tool"], r["outcome"], r["error_code"]) for r in rows)
    assert got == [
        ('"7"', "forecast", "success", None),
        ("2", "forecast", "success", None),
        ("3", "forecast", "tool_error", None),
        ("4", "nope", "protocol_error", -32602),
        ("5", "slow", "cancelled", None),
        ("6", "forecast", "success", None),
    ]
    for r in rows:
        assert (r["agent"], r["agent_version"], r["protocol_version"]) == (
            "claude-code",
            "2.1.4",
            "2025-03-26",
        )
        assert r["session"].startswith("derived:") and r["metric"] == "mcp_tool_calls"
    assert len({r["session"] for r in rows}) == 1
    # Posted again (no timestamps anywhere: stored at receipt): the same calls, duplicates.
    status, again = await _post(api, token, body, "application/x-ndjson")
    assert (again["accepted"], again["duplicates"]) == (0, 6), again
    assert await count_events(settings, t.id) == 6


async def test_wrapped_lines_with_direction_and_time_give_latency(
    api: Api, settings: Settings
) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)

    def line(direction: str, at: str, msg: Any) -> dict[str, Any]:
        return {"direction": direction, "timestamp": at, "message": msg}

    transcript = {
        "transport": "stdio",
        "session_id": "proc-4242",
        "agent": {"client_id": "agent-7"},
        "messages": [
            line("client_to_server", "2026-11-27T09:00:00.000Z", INIT),
            line("server_to_client", "2026-11-27T09:00:00.010Z", INIT_OK),
            line("client_to_server", "2026-11-27T09:00:01.000Z", call(1, "forecast")),
            line("server_to_client", "2026-11-27T09:00:01.250Z", result(1)),
        ],
    }
    status, answer = await _post(
        api, token, json.dumps({"transcript": transcript}).encode(), "application/json"
    )
    assert (status, answer["accepted"], answer["free"]) == (200, 1, 1), answer
    (row,) = await count_events(settings, t.id, rows=True)
    assert (row["session"], row["consumer"], row["agent"], row["latency_ms"]) == (
        "proc-4242",
        "agent-7",
        "claude-code",
        250.0,
    )
    assert row["occurred_at"].isoformat() == "2026-11-27T09:00:01+00:00"


async def test_streamable_http_exchanges_with_json_and_sse_answers(
    api: Api, settings: Settings
) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    sid = "1868a90c-session"

    def exchange(
        body: Any, answer: Any, ctype: str, at: str, end: str, session: bool = True
    ) -> dict[str, Any]:
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
        }
        if session:
            headers |= {"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-06-18"}
        return {
            "started_at": at,
            "ended_at": end,
            "request": {
                "method": "POST",
                "url": "https://mcp.example/mcp",
                "headers": headers,
                "body": body,
            },
            "response": {"status": 200, "headers": {"Content-Type": ctype}, "body": answer},
        }

    sse = "event: message\nid: 1\ndata: " + json.dumps(result(2)) + "\n\n"
    init = exchange(
        INIT,
        json.dumps(INIT_OK),
        "application/json",
        "2026-11-27T10:00:00Z",
        "2026-11-27T10:00:00.020Z",
        session=False,
    )
    init["response"]["headers"]["Mcp-Session-Id"] = sid
    exchanges = [
        init,
        {
            **exchange(
                INITIALIZED,
                "",
                "application/json",
                "2026-11-27T10:00:00.030Z",
                "2026-11-27T10:00:00.031Z",
            ),
            "response": {"status": 202, "headers": {}},
        },
        exchange(
            call(2, "forecast"),
            sse,
            "text/event-stream",
            "2026-11-27T10:00:01Z",
            "2026-11-27T10:00:01.400Z",
        ),
        exchange(
            call(3, "forecast"),
            json.dumps(error(3, -32603)),
            "application/json",
            "2026-11-27T10:00:02Z",
            "2026-11-27T10:00:02.050Z",
        ),
    ]
    status, answer = await _post(
        api,
        token,
        json.dumps({"transport": "streamable_http", "exchanges": exchanges}).encode(),
        "application/json",
    )
    assert (status, answer["accepted"]) == (200, 2), answer
    rows = {r["request_id"]: r for r in await count_events(settings, t.id, rows=True)}
    assert (rows["2"]["session"], rows["2"]["latency_ms"], rows["2"]["outcome"]) == (
        sid,
        400.0,
        "success",
    )
    assert (rows["3"]["outcome"], rows["3"]["error_code"]) == ("protocol_error", -32603)
    assert rows["2"]["protocol_version"] == "2025-03-26"  # what the server agreed to
    assert json.loads(rows["2"]["properties"]) == {"transport": "streamable_http"}


async def test_legacy_http_sse_transport_from_a_har_capture(api: Api, settings: Settings) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    stream = (
        "event: endpoint\ndata: /messages?sessionId=9f1c2e\n\n"
        f"event: message\ndata: {json.dumps(INIT_OK)}\n\n"
        f"event: message\ndata: {json.dumps(result(1))}\n\n"
    )

    def post(body: Any, at: str) -> dict[str, Any]:
        return {
            "startedDateTime": at,
            "time": 3,
            "request": {
                "method": "POST",
                "url": "http://127.0.0.1:8000/messages?sessionId=9f1c2e",
                "headers": [{"name": "Content-Type", "value": "application/json"}],
                "postData": {"mimeType": "application/json", "text": json.dumps(body)},
            },
            "response": {
                "status": 202,
                "headers": [],
                "content": {"mimeType": "text/plain", "text": "Accepted"},
            },
        }

    har = {
        "log": {
            "version": "1.2",
            "entries": [
                {
                    "startedDateTime": "2026-11-27T11:00:00.000Z",
                    "time": 5000,
                    "request": {
                        "method": "GET",
                        "url": "http://127.0.0.1:8000/sse",
                        "headers": [{"name": "Accept", "value": "text/event-stream"}],
                    },
                    "response": {
                        "status": 200,
                        "headers": [{"name": "Content-Type", "value": "text/event-stream"}],
                        "content": {"mimeType": "text/event-stream", "text": stream},
                    },
                },
                post(
                    {**INIT, "params": {**INIT["params"], "protocolVersion": "2024-11-05"}},
                    "2026-11-27T11:00:00.100Z",
                ),
                post(call(1, "forecast"), "2026-11-27T11:00:01.000Z"),
            ],
        }
    }
    status, answer = await _post(api, token, json.dumps(har).encode(), "application/json")
    assert (status, answer["accepted"]) == (200, 1), answer
    (row,) = await count_events(settings, t.id, rows=True)
    assert (row["session"], row["tool"], row["outcome"], row["agent"]) == (
        "9f1c2e",
        "forecast",
        "success",
        "claude-code",
    )
    assert json.loads(row["properties"]) == {"transport": "sse"}
    assert row["occurred_at"].isoformat() == "2026-11-27T11:00:01+00:00"
