"""Live forum: threadActivity over a real graphql-transport-ws websocket (uvicorn, Redis bus),
and every forum change published once to Kafka through the outbox."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import websockets
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI
from sqlalchemy import select

from aforo.app import create_app
from aforo.config import Settings
from aforo.db import create_engine, sessionmaker, tenant_session
from aforo.models.outbox import OutboxEvent
from aforo.services import outbox
from aforo.services.forum import TOPIC
from tests.conftest import with_settings
from tests.services import AppServer, KafkaBroker, RedisServer
from tests.support import Api
from tests.test_forum_support import ACCEPT, Forum, make_forum

ACTIVITY = """subscription($t: ID!) { threadActivity(threadId: $t) {
  eventId type threadId replyId actorId value score bodyHtml } }"""


@pytest.fixture
async def live(settings: Settings, redis_server: RedisServer) -> AsyncIterator[tuple[Forum, str]]:
    server = AppServer(create_app(with_settings(settings, redis_url=redis_server.url))).start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            api = Api(client, settings)
            holder = server.config.app
            assert isinstance(holder, FastAPI)
            yield await make_forum(api, holder), server.url
    finally:
        server.stop()


async def _next(ws: Any) -> dict[str, Any]:
    msg: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return msg


async def test_thread_activity_streams_replies_edits_votes_and_accepts(
    live: tuple[Forum, str], redis_server: RedisServer
) -> None:
    f, url = live
    ada, bob = await f.members(2)
    cat = await f.category()
    t = await f.thread(ada, cat, "Live question here")
    elsewhere = await f.thread(ada, cat, "Another thread entirely")
    params = {"Authorization": f"Bearer {ada.token}", "X-Storefront-Key": f.tenant.storefront_key}
    channel = outbox.channel(uuid.UUID(f.tenant.id), TOPIC)
    redis = aioredis.from_url(redis_server.url)
    try:
        async with websockets.connect(
            url.replace("http", "ws") + "/graphql",
            subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
        ) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": params}))
            assert (await _next(ws))["type"] == "connection_ack"
            await ws.send(
                json.dumps(
                    {
                        "id": "a",
                        "type": "subscribe",
                        "payload": {"query": ACTIVITY, "variables": {"t": t["id"]}},
                    }
                )
            )
            for _ in range(200):  # until the server has subscribed to the tenant's channel
                if dict(await redis.pubsub_numsub(channel)).get(channel.encode(), 0) > 0:
                    break
                await asyncio.sleep(0.02)

            await f.reply(bob, elsewhere["id"], "not for this subscription")
            r = await f.reply(bob, t["id"], "Try **this**")
            await f.data(
                """mutation($id: ID!) { editReply(id: $id, body: "Try *that*") { __typename } }""",
                {"id": r["id"]},
                bob,
            )
            await f.vote(ada, "REPLY", r["id"], 1)
            await f.data(ACCEPT, {"r": r["id"]}, ada)

            got = [(await _next(ws))["payload"]["data"]["threadActivity"] for _ in range(4)]
            await ws.send(json.dumps({"id": "a", "type": "complete"}))
    finally:
        await redis.aclose()

    assert [g["type"] for g in got] == [
        "reply.created",
        "reply.edited",
        "vote.cast",
        "answer.accepted",
    ]
    assert all(g["threadId"] == t["id"] and g["replyId"] == r["id"] for g in got)
    assert "<strong>this</strong>" in got[0]["bodyHtml"] and got[0]["actorId"] == bob.id
    assert "<em>that</em>" in got[1]["bodyHtml"]
    assert (got[2]["value"], got[2]["score"], got[2]["actorId"]) == (1, 1, ada.id)
    assert len({g["eventId"] for g in got}) == 4


async def test_thread_activity_on_an_unknown_thread_is_an_error(live: tuple[Forum, str]) -> None:
    f, url = live
    async with websockets.connect(
        url.replace("http", "ws") + "/graphql",
        subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
    ) as ws:
        await ws.send(
            json.dumps(
                {
                    "type": "connection_init",
                    "payload": {"X-Storefront-Key": f.tenant.storefront_key},
                }
            )
        )
        assert (await _next(ws))["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "x",
                    "type": "subscribe",
                    "payload": {"query": ACTIVITY, "variables": {"t": str(uuid.uuid4())}},
                }
            )
        )
        msg = await _next(ws)
    errors = msg["payload"] if msg["type"] == "error" else msg["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"


async def _consume(bootstrap: str, want: int) -> list[Any]:
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=bootstrap,
        group_id=f"forum-test-{uuid.uuid4()}",
        auto_offset_reset="earliest",
        session_timeout_ms=2000,
        heartbeat_interval_ms=300,
    )
    await consumer.start()
    got: list[Any] = []
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while len(got) < want and asyncio.get_running_loop().time() < deadline:
            for msgs in (await consumer.getmany(timeout_ms=500)).values():
                got.extend(msgs)
        for msgs in (await consumer.getmany(timeout_ms=1000)).values():  # room for a duplicate
            got.extend(msgs)
    finally:
        await consumer.stop()
    return got


async def test_every_forum_change_reaches_kafka_once_keyed_by_tenant(
    settings: Settings, kafka: KafkaBroker
) -> None:
    app = create_app(with_settings(settings, kafka_bootstrap=kafka.bootstrap))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://console.test"
        ) as client,
    ):
        f = await make_forum(Api(client, settings), app)
        ada, bob = await f.members(2)
        mod = await f.moderator()
        cat = await f.category()
        t = await f.thread(ada, cat, "Events question")
        r = await f.reply(bob, t["id"], "An answer")
        await f.vote(ada, "REPLY", r["id"], 1)
        await f.data(ACCEPT, {"r": r["id"]}, ada)
        rep = await f.data(
            """mutation($id: ID!) { report(targetType: REPLY, targetId: $id, reason: SPAM) {
                     ... on Report { id } } }""",
            {"id": r["id"]},
            ada,
        )
        await f.data(
            """mutation($id: ID!) { moderate(input: {reportId: $id, action: DISMISS,
                     reason: "not spam"}) { __typename } }""",
            {"id": rep["report"]["id"]},
            mod,
        )
        # A failed change emits nothing.
        bad = await f.vote(bob, "REPLY", r["id"], 1)
        assert bad["code"] == "SELF_VOTE"

        engine = create_engine(settings.database_url or "", pool_size=1)
        try:
            async with tenant_session(sessionmaker(engine), uuid.UUID(f.tenant.id)) as s:
                rows = list(await s.scalars(select(OutboxEvent).where(OutboxEvent.topic == TOPIC)))
        finally:
            await engine.dispose()
        msgs = await _consume(kafka.bootstrap, len(rows))

    values = [json.loads(m.value) for m in msgs]
    ids = [v["id"] for v in values]
    assert len(ids) == len(set(ids)), "an event arrived twice"
    assert set(ids) == {str(row.id) for row in rows}
    assert all(m.key.decode() == f.tenant.id for m in msgs)
    types = [v["type"] for v in values]
    assert types == [
        "category.created",
        "thread.created",
        "badge.awarded",
        "reply.created",
        "badge.awarded",
        "vote.cast",
        "answer.accepted",
        "badge.awarded",
        "report.filed",
        "moderation.action",
    ]
    by_type = {v["type"]: v["payload"] for v in values}
    assert by_type["vote.cast"] == {
        "thread_id": t["id"],
        "target_type": "REPLY",
        "target_id": r["id"],
        "voter_id": ada.id,
        "value": 1,
        "previous": 0,
        "score": 1,
    }
    assert by_type["answer.accepted"]["reply_id"] == r["id"]
    assert by_type["moderation.action"]["action"] == "DISMISS"
    assert "An answer" not in json.dumps(values)  # ids, never the text
