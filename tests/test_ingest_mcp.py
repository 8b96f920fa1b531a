"""POST /v1/usage/mcp: only tools/call is metered; outcomes; resends are idempotent."""

from __future__ import annotations

from typing import Any

from aforo.config import Settings
from tests.support import Api, make_tenant
from tests.test_usage_helpers import count_events, gateway_token

T0 = "2026-11-27T09:00:00.000Z"
T1 = "2026-11-27T09:00:00.250Z"


def rec(method: str, rid: Any = None, response: Any = None, **kw: Any) -> dict[str, Any]:
    request: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if rid is not None:
        request["id"] = rid
    if "params" in kw:
        request["params"] = kw.pop("params")
    return {
        "session_id": "sess-1",
        "agent": {"client_id": "agent-7", "name": "claude-code", "version": "2.1"},
        "transport": "streamable_http",
        "request": request,
        "response": response,
        "cancelled": False,
        "started_at": T0,
        "ended_at": T1,
        "request_bytes": 120,
        "response_bytes": 480,
        **kw,
    }


def call(rid: Any, tool: str, response: Any, **kw: Any) -> dict[str, Any]:
    return rec("tools/call", rid, response, params={"name": tool, "arguments": {}}, **kw)


def ok(rid: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "result": {"content": [{"type": "text", "text": "hi"}]}}


async def post(api: Api, token: str, records: list[Any]) -> dict[str, Any]:
    r = await api.client.post(
        "/v1/usage/mcp", json={"records": records}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_only_tool_calls_are_metered_with_outcomes(api: Api, settings: Settings) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    records = [
        rec("initialize", 0, {"jsonrpc": "2.0", "id": 0, "result": {"protocolVersion": "x"}}),
        rec("notifications/initialized"),
        rec("tools/list", 1, {"jsonrpc": "2.0", "id": 1, "result": {"tools": []}}),
        rec("ping", 2, {"jsonrpc": "2.0", "id": 2, "result": {}}),
        call(3, "search", ok(3)),
        call(4, "search", {"jsonrpc": "2.0", "id": 4, "result": {"isError": True, "content": []}}),
        call(5, "fetch", {"jsonrpc": "2.0", "id": 5, "error": {"code": -32602, "message": "bad"}}),
        call("six", "fetch", None, cancelled=True, ended_at=None),
        call(7, "search", None),  # no response and not cancelled: refused, not guessed
        call(8, "", ok(8)),
        {**call(9, "search", ok(9)), "transport": "carrier-pigeon"},
    ]
    body = await post(api, token, records)
    assert body["accepted"] == 4
    assert body["free"] == 4
    assert [(r["index"], r["code"], r["field"]) for r in body["rejected"]] == [
        (8, "MISSING_FIELD", "response"),
        (9, "MISSING_FIELD", "request.params.name"),
        (10, "INVALID_VALUE", "transport"),
    ]
    rows = await count_events(settings, t.id, rows=True)
    got = sorted((r["tool"], r["outcome"], r["request_id"]) for r in rows)
    assert got == [
        ("fetch", "cancelled", '"six"'),
        ("fetch", "protocol_error", "5"),
        ("search", "success", "3"),
        ("search", "tool_error", "4"),
    ]
    for r in rows:
        assert (r["metric"], r["source"], r["session"]) == ("mcp_tool_calls", "mcp", "sess-1")
        # The agent's credential and its clientInfo, kept apart.
        assert (r["consumer"], r["agent"], r["agent_version"]) == ("agent-7", "claude-code", "2.1")
    assert {r["outcome"]: r["error_code"] for r in rows}["protocol_error"] == -32602
    success = next(r for r in rows if r["outcome"] == "success")
    assert success["latency_ms"] == 250.0 and success["response_bytes"] == 480
    # The sidecar resends after a timeout: the same (session, request id) counts once.
    again = await post(api, token, records[4:6])
    assert (again["accepted"], again["duplicates"]) == (0, 2)


async def test_agent_name_and_version_are_separate(api: Api, settings: Settings) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    r = call(1, "search", ok(1), agent={"name": "cursor", "version": "1.4"}, transport="stdio")
    same_id_other_session = {**r, "session_id": "sess-2"}
    body = await post(api, token, [r, same_id_other_session])
    assert body["accepted"] == 2
    rows = await count_events(settings, t.id, rows=True)
    assert {(x["agent"], x["agent_version"], x["consumer"]) for x in rows} == {
        ("cursor", "1.4", None)
    }
    assert {x["session"] for x in rows} == {"sess-1", "sess-2"}


async def test_unusable_mcp_envelope(api: Api, settings: Settings) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    h = {"Authorization": f"Bearer {token}"}
    r = await api.client.post("/v1/usage/mcp", json={"recs": []}, headers=h)
    assert r.status_code == 400 and r.json()["outcome"] == "REJECTED"
    # A bare array is a sequence of JSON-RPC messages: records in it are refused one by one.
    r = await api.client.post("/v1/usage/mcp", json=[call(1, "x", ok(1))], headers=h)
    assert r.status_code == 422 and r.json()["rejected"][0]["index"] == 0
