"""Stock clients against a served instance: Apollo Client 4 from npm (persisted-query link
over HTTP, graphql-ws link) run by node, the Python ``gql`` client (HTTP and
graphql-transport-ws), graphql-sse, and the legacy ``graphql-ws`` sub-protocol's answer to a
query."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from fastapi import FastAPI
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport

from aforo.app import create_app
from aforo.config import Settings
from tests.services import AppServer
from tests.support import Api
from tests.test_forum_support import Forum, make_forum

JS = Path(__file__).parent / "js"
ACTIVITY = "subscription($t: ID!) { threadActivity(threadId: $t) { type bodyHtml } }"


@pytest.fixture(scope="session")
def node_clients() -> Path:
    """The npm packages of tests/js, installed from its lockfile into a folder of the tests."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.fail("node and npm are needed (nodejs and npm in .ci/apt-packages)")
    if not (JS / "node_modules" / "@apollo" / "client").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=JS, check=True, timeout=600
        )
    return JS


@dataclass
class Live:
    url: str
    forum: Forum
    thread: str

    @property
    def key(self) -> str:
        return self.forum.tenant.storefront_key


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[Live]:
    server = AppServer(create_app(settings)).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            app = server.config.app
            assert isinstance(app, FastAPI)
            f = await make_forum(Api(client, settings), app)
            thread = (await f.thread(f.admin, await f.category(), "Clients question"))["id"]
            yield Live(server.url, f, thread)
    finally:
        server.stop()


async def replying_until(live: Live, got: Callable[[], Awaitable[Any]]) -> Any:
    """Post replies until ``got`` returns something (a subscription has no start signal)."""
    member = await live.forum.member("poster")
    for i in range(20):
        await live.forum.reply(member, live.thread, f"Reply number {i}.")
        found = await got()
        if found is not None:
            return found
    raise AssertionError("no event arrived")


async def test_apollo_client_with_persisted_queries_and_a_websocket_link(
    live: Live, node_clients: Path
) -> None:
    node = shutil.which("node") or "node"
    proc = await asyncio.create_subprocess_exec(
        node,
        str(node_clients / "apollo.mjs"),
        live.url,
        live.key,
        live.thread,
        cwd=node_clients,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdin is not None
    lines: list[dict[str, Any]] = []

    async def line(wait: float = 30) -> dict[str, Any] | None:
        assert proc.stdout is not None
        try:
            raw = await asyncio.wait_for(proc.stdout.readline(), wait)
        except TimeoutError:
            return None
        if not raw:
            err = await proc.stderr.read() if proc.stderr else b""
            raise AssertionError(f"node ended: {err.decode()[-2000:]} {lines}")
        lines.append(json.loads(raw))
        return lines[-1]

    try:
        first = await line()
        assert first is not None
        slug = live.forum.tenant.slug
        assert first["slugs"] == [slug, slug]
        # The hash alone (GET), unknown: the link sends the document once (POST); a new
        # client then needs only the hash.
        assert first["sent"] == [
            {"method": "GET", "hasQuery": False},
            {"method": "POST", "hasQuery": True},
            {"method": "GET", "hasQuery": False},
        ]
        assert (await line()) == {"badTokenCodes": ["INVALID_TOKEN"]}
        assert (await line()) == {"subscribed": True}

        async def event() -> dict[str, Any] | None:
            got = await line(wait=1)
            return got if got is not None and "event" in got else None

        got = await replying_until(live, event)
        assert got["event"]["type"] == "reply.created"
    finally:
        proc.stdin.close()
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def test_the_python_gql_client_queries_and_subscribes(live: Live) -> None:
    headers = {"X-Storefront-Key": live.key}
    http = HTTPXAsyncTransport(url=live.url + "/graphql", headers=headers)
    async with Client(transport=http) as session:
        result = await session.execute(gql("{ tenant { slug } }"))
        assert result == {"tenant": {"slug": live.forum.tenant.slug}}
        with pytest.raises(TransportQueryError) as refused:
            await session.execute(gql("{ me { id } }"))
        assert refused.value.errors is not None
        assert refused.value.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"

    ws = WebsocketsTransport(url=live.url.replace("http", "ws") + "/graphql", init_payload=headers)
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    async with Client(transport=ws) as session:
        assert (await session.execute(gql("{ tenant { slug } }")))["tenant"]["slug"]

        request = gql(ACTIVITY)
        request.variable_values = {"t": live.thread}

        async def listen() -> None:
            async for result in session.subscribe(request):
                await events.put(result)

        task = asyncio.create_task(listen())
        try:

            async def got() -> dict[str, Any] | None:
                try:
                    return await asyncio.wait_for(events.get(), 0.5)
                except TimeoutError:
                    return None

            first = await replying_until(live, got)
            assert first["threadActivity"]["type"] == "reply.created"
        finally:
            task.cancel()


async def _stream_event(live: Live, accept: str, pick: Callable[[str], Any]) -> Any:
    """Subscribe over HTTP with ``accept``; the first event ``pick`` finds in the stream's
    lines (read by a task, so waiting never cuts the stream)."""
    body = {"query": ACTIVITY, "variables": {"t": live.thread}}
    headers = {"X-Storefront-Key": live.key, "Accept": accept}
    found: asyncio.Queue[Any] = asyncio.Queue()
    async with (
        httpx.AsyncClient(timeout=30) as client,
        client.stream("POST", live.url + "/graphql", json=body, headers=headers) as r,
    ):
        assert r.status_code == 200, await r.aread()
        # Compressed, and still event by event (each part flushed; headers sent at once).
        assert r.headers["content-encoding"] in ("br", "gzip")

        async def read() -> None:
            async for line in r.aiter_lines():
                if (event := pick(line)) is not None:
                    await found.put((r.headers["content-type"], event))

        reader = asyncio.create_task(read())
        try:

            async def got() -> Any:
                try:
                    return await asyncio.wait_for(found.get(), 0.5)
                except TimeoutError:
                    return None

            return await replying_until(live, got)
        finally:
            reader.cancel()


async def test_subscriptions_over_graphql_sse_and_multipart_http(live: Live) -> None:
    def sse(line: str) -> Any:
        return (
            json.loads(line[5:]) if line.startswith("data:") and "threadActivity" in line else None
        )

    ctype, event = await _stream_event(live, "text/event-stream", sse)
    assert ctype.startswith("text/event-stream")
    assert event["data"]["threadActivity"]["type"] == "reply.created"

    def part(line: str) -> Any:
        return json.loads(line) if line.startswith("{") and "threadActivity" in line else None

    ctype, event = await _stream_event(live, "multipart/mixed;subscriptionSpec=1.0", part)
    assert ctype.startswith("multipart/mixed")
    assert event["payload"]["data"]["threadActivity"]["type"] == "reply.created"


async def test_queries_run_over_the_legacy_graphql_ws_protocol_too(live: Live) -> None:
    async with websockets.connect(
        live.url.replace("http", "ws") + "/graphql",
        subprotocols=[websockets.Subprotocol("graphql-ws")],
    ) as ws:
        init = {"type": "connection_init", "payload": {"X-Storefront-Key": live.key}}
        await ws.send(json.dumps(init))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        start = {"id": "1", "type": "start", "payload": {"query": "{ tenant { slug } }"}}
        await ws.send(json.dumps(start))
        msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert msg == {
            "type": "data",
            "id": "1",
            "payload": {"data": {"tenant": {"slug": live.forum.tenant.slug}}},
        }
        assert json.loads(await ws.recv()) == {"type": "complete", "id": "1"}
        # Errors carry their code (it was a masked "Internal server error.").
        await ws.send(json.dumps({**start, "id": "2", "payload": {"query": "{ me { id } }"}}))
        msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert msg["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # A refused credential names itself in the close reason.
    async with websockets.connect(
        live.url.replace("http", "ws") + "/graphql",
        subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
    ) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"X-Storefront-Key": "pk_x"}})
        )
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
        assert closed.value.rcvd.reason.startswith("INVALID_STOREFRONT_KEY")
