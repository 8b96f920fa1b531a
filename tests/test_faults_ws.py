"""A client that holds a ``threadActivity`` subscription open and never reads does not stall
anyone else: while its socket is full, other subscribers receive every event, writes and
queries keep being answered, and new subscriptions still start (progress, not time)."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
import redis.asyncio as aioredis
import websockets
from fastapi import FastAPI

from aforo.app import create_app
from aforo.config import Settings
from aforo.services import outbox
from aforo.services.forum import TOPIC
from tests.conftest import with_settings
from tests.services import AppServer, RedisServer
from tests.support import Api
from tests.test_forum_support import Forum, make_forum

ACTIVITY = """subscription($t: ID!) { threadActivity(threadId: $t) { eventId type bodyHtml } }"""
REPLIES = 150
# ~40 KB a message (body and its HTML): 150 of them overflow any socket buffer (4 MB at most).
BODY = ("Paragraph with *emphasis* and `code`. " * 240 + "\n\n") * 2


@pytest.fixture
async def live(
    settings: Settings, redis_server: RedisServer
) -> AsyncIterator[tuple[Forum, AppServer]]:
    server = AppServer(create_app(with_settings(settings, redis_url=redis_server.url))).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            holder = server.config.app
            assert isinstance(holder, FastAPI)
            yield await make_forum(Api(client, settings), holder), server
    finally:
        server.stop()


async def _subscribe(url: str, f: Forum, thread: str, *, slow: bool = False) -> Any:
    kw: dict[str, Any] = {}
    if slow:
        # A tiny receive window, and the client library stops reading after one message:
        # the server's sends to it back up at once.
        u = urlparse(url)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((u.hostname or "127.0.0.1", u.port or 80))
        sock.setblocking(False)
        kw = {"sock": sock, "max_queue": 1, "compression": None}
    ws = await websockets.connect(
        url.replace("http", "ws") + "/graphql",
        subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
        **kw,
    )
    params = {"X-Storefront-Key": f.tenant.storefront_key}
    await ws.send(json.dumps({"type": "connection_init", "payload": params}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
    payload = {"query": ACTIVITY, "variables": {"t": thread}}
    await ws.send(json.dumps({"id": "s", "type": "subscribe", "payload": payload}))
    return ws


def _unsent(server: AppServer) -> list[int]:
    """Bytes each open connection's transport holds, not yet taken by the kernel."""
    out = [0]
    for conn in server.server.server_state.connections:
        transport = getattr(conn, "transport", None)
        if transport is not None and not transport.is_closing():
            out.append(transport.get_write_buffer_size())
    return out


async def _subscribers(redis_url: str, channel: str) -> int:
    r = aioredis.from_url(redis_url)
    try:
        return int(dict(await r.pubsub_numsub(channel)).get(channel.encode(), 0))
    finally:
        await r.aclose()


async def _wait_subscribed(redis_url: str, channel: str, n: int) -> None:
    for _ in range(300):
        if await _subscribers(redis_url, channel) >= n:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{n} subscriptions never started")


async def test_a_client_that_never_reads_does_not_stall_others(
    live: tuple[Forum, AppServer], redis_server: RedisServer
) -> None:
    f, server = live
    url = server.url
    ada, bob = await f.members(2)
    cat = await f.category()
    t = await f.thread(ada, cat, "A busy thread")
    channel = outbox.channel(uuid.UUID(f.tenant.id), TOPIC)

    slow = await _subscribe(url, f, t["id"], slow=True)
    fast = await _subscribe(url, f, t["id"])
    await _wait_subscribed(redis_server.url, channel, 2)
    got: list[str] = []

    async def read_all() -> None:
        while len(got) < REPLIES:
            msg = json.loads(await fast.recv())
            assert msg["type"] == "next", msg
            got.append(msg["payload"]["data"]["threadActivity"]["eventId"])

    reader = asyncio.create_task(read_all())
    try:
        for i in range(REPLIES):
            r = await f.reply(bob, t["id"], f"{i} {BODY}")
            assert r["__typename"] == "Reply", r
            d = await f.data("query($t: ID!) { thread(id: $t) { id title } }", {"t": t["id"]})
            assert d["thread"]["title"] == "A busy thread"  # queries answered meanwhile
        # Every event reached the reading subscriber while the other one sat on its socket
        # (the server holds unsent bytes for it: the kernel's buffers are full).
        await asyncio.wait_for(reader, 60)  # a hang guard, not a timing assertion
        unsent = max(_unsent(server))
        assert unsent > 0
        # A subscription started now still works end to end.
        late = await _subscribe(url, f, t["id"])
        await _wait_subscribed(redis_server.url, channel, 3)
        await f.reply(ada, t["id"], "after the backlog")
        msg = json.loads(await asyncio.wait_for(late.recv(), 30))
        assert "after the backlog" in msg["payload"]["data"]["threadActivity"]["bodyHtml"]
        await late.close()
    finally:
        reader.cancel()
        await fast.close()
        slow.transport.abort()
    size = len(BODY) * 2 * REPLIES // 1024
    print(f"\nreplies {REPLIES} (~{size} KiB to the slow client, {unsent} B held unsent)")
    print(f"fast subscriber got {len(got)}, queries answered {REPLIES}")
    assert len(set(got)) == REPLIES
