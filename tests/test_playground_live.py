"""Live try-it over a real graphql-transport-ws websocket (uvicorn), and across two instances
sharing a real redis-server: the run executes on one, the events stream from the other."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import websockets

from aforo.app import create_app
from aforo.config import Settings
from tests.conftest import with_settings
from tests.gateway import revoke_key, serving
from tests.services import AppServer, RedisServer
from tests.support import Api
from tests.test_playground_support import make_world, upstream

EVENT = """runId seq phase elapsedMs error { code message field }
  response { runId status body headers { name value } timing { totalMs tlsMs } }"""
RUN = f"""subscription($i: TryOperationInput!) {{ playgroundRun(input: $i) {{ {EVENT} }} }}"""
FOLLOW = f"""subscription($r: ID!) {{ playgroundRunEvents(runId: $r) {{ {EVENT} }} }}"""
START = """mutation($i: TryOperationInput!) { startPlaygroundRun(input: $i) { __typename
  ... on PlaygroundRunStarted { runId } ... on UserError { code message field } } }"""


@asynccontextmanager
async def _two(settings: Settings) -> AsyncIterator[tuple[str, Api]]:
    """Instance A served by uvicorn (websockets), instance B in-process."""
    server = AppServer(create_app(settings)).start()
    try:
        async with serving(settings) as b:
            yield server.url.replace("http", "ws") + "/graphql", b
    finally:
        server.stop()


@pytest.fixture
async def instances(
    settings: Settings, redis_server: RedisServer
) -> AsyncIterator[tuple[str, Api]]:
    """Two instances sharing one Redis (cache and bus)."""
    async with _two(with_settings(settings, redis_url=redis_server.url)) as pair:
        yield pair


@pytest.fixture(params=["embedded", "redis"])
async def either(
    request: pytest.FixtureRequest, settings: Settings, redis_server: RedisServer
) -> AsyncIterator[tuple[str, Api]]:
    """The embedded defaults (in-process cache and bus), or Redis."""
    if request.param == "redis":
        settings = with_settings(settings, redis_url=redis_server.url)
    async with _two(settings) as pair:
        yield pair


async def _events(
    url: str, token: str, query: str, variables: dict[str, Any]
) -> list[dict[str, Any]]:
    """Subscribe over graphql-transport-ws and collect events until the server completes."""
    async with websockets.connect(
        url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]
    ) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": query, "variables": variables},
                }
            )
        )
        out: list[dict[str, Any]] = []
        while True:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 15))
            if msg["type"] == "complete":
                return out
            if msg["type"] == "error":
                return [{"errors": msg["payload"]}]
            assert msg["type"] == "next", msg
            if msg["payload"].get("errors"):
                out.append({"errors": msg["payload"]["errors"]})
                continue
            out.append(next(iter(msg["payload"]["data"].values())))


def _phases(events: list[dict[str, Any]]) -> list[str]:
    return [e["phase"] for e in events]


async def test_phase_events_arrive_in_order_over_graphql_transport_ws(
    either: tuple[str, Api],
) -> None:
    url, b = either
    with upstream() as (_, server):
        w = await make_world(b, [server.url])
        inp = w.run("GET /forecast/{city}", pathParams=[{"name": "city", "value": "oslo"}])
        events = await _events(url, w.keys.dev, RUN, {"i": inp})
        assert _phases(events) == ["DNS_RESOLVED", "CONNECTED", "FIRST_BYTE", "COMPLETED"]
        assert [e["seq"] for e in events] == [1, 2, 3, 4]
        elapsed = [e["elapsedMs"] for e in events]
        assert elapsed == sorted(elapsed)
        done = events[-1]["response"]
        assert done["status"] == 200 and done["timing"]["tlsMs"] == 0
        assert done["runId"] == events[0]["runId"]
        assert "eyJ" not in json.dumps(events)  # the token is redacted everywhere

        blocked = await _events(url, w.keys.dev, RUN, {"i": w.run("GET /big", server="x")})
        assert _phases(blocked) == ["ERROR"]
        assert (blocked[0]["error"]["code"], blocked[0]["error"]["field"]) == ("INVALID", "server")

        # Revoked through the instance running the subscription: with the embedded defaults
        # there is no bus between instances (Redis carries revocations across them).
        async with httpx.AsyncClient(
            base_url=url.replace("ws", "http")[: -len("/graphql")]
        ) as http:
            await revoke_key(Api(http, b.settings), w.keys.dev, w.keys.key_id)
        refused = await _events(url, w.keys.dev, RUN, {"i": inp})
        assert [(e["phase"], e["error"]["code"]) for e in refused] == [("ERROR", "KEY_REVOKED")]


async def test_a_run_started_on_one_instance_streams_from_another_through_redis(
    instances: tuple[str, Api],
) -> None:
    url, b = instances
    with upstream() as (_, server):
        w = await make_world(b, [server.url])
        # Slow enough that the follower joins mid-run: early events come from the run's log,
        # the later ones through Redis pub/sub.
        started = (
            await b.data(
                START,
                {"i": w.run("GET /slow", query=[{"name": "s", "value": "1"}])},
                token=w.keys.dev,
            )
        )["startPlaygroundRun"]
        assert started["__typename"] == "PlaygroundRunStarted", started
        run_id = started["runId"]
        nosy = await b.sign_up(w.keys.tenant, "nosy@example.com")
        events, theirs = await asyncio.gather(
            _events(url, w.keys.dev, FOLLOW, {"r": run_id}),
            _events(url, nosy["accessToken"], FOLLOW, {"r": run_id}),
        )
        assert _phases(events) == ["DNS_RESOLVED", "CONNECTED", "FIRST_BYTE", "COMPLETED"]
        assert {e["runId"] for e in events} == {run_id}
        assert json.loads(events[-1]["response"]["body"]) == {"slow": True}
        assert theirs[0]["errors"][0]["extensions"]["code"] == "NOT_FOUND"  # not their run
        # The admin may follow any run of the tenant; a finished one replays from its log.
        replay = await _events(url, w.keys.admin, FOLLOW, {"r": run_id})
        assert replay == events
    async with httpx.AsyncClient() as http:  # the run was recorded by the executing instance
        r = await http.post(
            url.replace("ws", "http"),
            json={"query": "{ playgroundRuns { id status } }"},
            headers={"Authorization": f"Bearer {w.keys.dev}"},
        )
    assert r.json()["data"]["playgroundRuns"] == [{"id": run_id, "status": 200}]
