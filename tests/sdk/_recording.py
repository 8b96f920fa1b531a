"""TEMPORARY stand-in for the ingestion endpoints while they are being built."""
from __future__ import annotations
import json
from typing import Any
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


class Recording:
    def __init__(self) -> None:
        self.events: dict[str, dict[str, Any]] = {}

    def app(self) -> Starlette:
        async def events(request: Request) -> JSONResponse:
            body = await request.json()
            return self._ingest(body["events"])

        async def mcp(request: Request) -> JSONResponse:
            body = await request.json()
            evs = []
            for r in body["records"]:
                req, resp = r["request"], r["response"]
                if req.get("method") != "tools/call":
                    continue
                if r["cancelled"]:
                    outcome = "cancelled"
                elif resp is None or "error" in resp:
                    outcome = "protocol_error"
                elif resp.get("result", {}).get("isError"):
                    outcome = "tool_error"
                else:
                    outcome = "success"
                agent = r["agent"].get("client_id") or r["agent"].get("name")
                evs.append({"event_id": r["session_id"] + ":" + json.dumps(req["id"]), "metric": "mcp.tool_calls",
                            "quantity": 1, "tool": req["params"]["name"], "agent": agent,
                            "session": r["session_id"], "outcome": outcome, "occurred_at": r["started_at"]})
            return self._ingest(evs)

        return Starlette(routes=[Route("/v1/usage/events", events, methods=["POST"]),
                                 Route("/v1/usage/mcp", mcp, methods=["POST"])])

    def _ingest(self, evs: list[dict[str, Any]]) -> JSONResponse:
        acc = dup = 0
        rejected = []
        for i, e in enumerate(evs):
            if "T" not in str(e.get("occurred_at")):
                rejected.append({"index": i, "event_id": e["event_id"], "code": "INVALID_VALUE", "field": "occurred_at", "message": "bad"})
                continue
            if e["event_id"] in self.events:
                dup += 1
            else:
                self.events[e["event_id"]] = e
                acc += 1
        return JSONResponse({"outcome": "accepted", "accepted": acc, "duplicates": dup, "rejected": rejected})
