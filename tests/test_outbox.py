"""Events are written with the change, relayed to Kafka at least once, never lost."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaConnectionError
from fastapi import FastAPI
from sqlalchemy import func, select

from aforo.app import create_app
from aforo.config import Settings
from aforo.db import create_engine, sessionmaker, tenant_session
from aforo.models.outbox import OutboxEvent
from aforo.services import outbox
from tests.conftest import with_settings
from tests.services import KafkaBroker
from tests.support import make_tenant

TOPIC = "aforo.test.events"


async def _emit(settings: Settings, tenant_id: str, n: int, *, fail: bool = False) -> None:
    engine = create_engine(settings.database_url or "", pool_size=1)
    try:
        async with tenant_session(sessionmaker(engine), uuid.UUID(tenant_id)) as s:
            for i in range(n):
                await outbox.emit(s, TOPIC, "thing.happened", {"i": i})
            if fail:
                raise RuntimeError("the change failed")
    finally:
        await engine.dispose()


async def _count(settings: Settings, tenant_id: str, *, pending: bool = False) -> int:
    engine = create_engine(settings.database_url or "", pool_size=1)
    try:
        async with tenant_session(sessionmaker(engine), uuid.UUID(tenant_id)) as s:
            q = select(func.count()).select_from(OutboxEvent).where(OutboxEvent.topic == TOPIC)
            if pending:
                q = q.where(OutboxEvent.published_at.is_(None))
            return int(await s.scalar(q) or 0)
    finally:
        await engine.dispose()


async def test_event_rolls_back_with_its_transaction(settings: Settings) -> None:
    t = await make_tenant(settings)
    with pytest.raises(RuntimeError):
        await _emit(settings, t.id, 3, fail=True)
    assert await _count(settings, t.id) == 0
    await _emit(settings, t.id, 2)
    assert await _count(settings, t.id) == 2


async def _running_app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


async def _consume(bootstrap: str, want: int, within: float = 30.0) -> list[Any]:
    # A broker that has just (re)started may accept connections before it can bootstrap.
    for attempt in range(20):
        consumer = AIOKafkaConsumer(
            TOPIC,
            bootstrap_servers=bootstrap,
            group_id=f"test-{uuid.uuid4()}",
            auto_offset_reset="earliest",
            session_timeout_ms=2000,
            heartbeat_interval_ms=300,
        )
        try:
            await consumer.start()
            break
        except KafkaConnectionError:
            await consumer.stop()
            if attempt == 19:
                raise
            await asyncio.sleep(0.5)
    got: list[Any] = []
    try:
        deadline = asyncio.get_running_loop().time() + within
        while len(got) < want and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for msgs in batch.values():
                got.extend(msgs)
        # Give a duplicate the chance to show up.
        for msgs in (await consumer.getmany(timeout_ms=1000)).values():
            got.extend(msgs)
    finally:
        await consumer.stop()
    return got


async def test_relay_publishes_each_event_once_keyed_by_tenant(
    settings: Settings, kafka: KafkaBroker
) -> None:
    a = await make_tenant(settings, "Alpha")
    b = await make_tenant(settings, "Beta")
    await _emit(settings, a.id, 5)
    await _emit(settings, b.id, 3)
    async for _ in _running_app(with_settings(settings, kafka_bootstrap=kafka.bootstrap)):
        msgs = await _consume(kafka.bootstrap, 8)
    values = [json.loads(m.value) for m in msgs]
    ids = [v["id"] for v in values]
    assert len(ids) == len(set(ids)) == 8
    for m, v in zip(msgs, values, strict=True):
        assert m.key.decode() == v["tenant_id"]
        assert dict(m.headers)["event_id"].decode() == v["id"]
        assert v["type"] == "thing.happened"
    assert sorted(v["payload"]["i"] for v in values if v["tenant_id"] == a.id) == [0, 1, 2, 3, 4]
    assert await _count(settings, a.id, pending=True) == 0


async def test_events_wait_while_the_broker_is_down(settings: Settings, kafka: KafkaBroker) -> None:
    t = await make_tenant(settings)
    kafka.disconnect()
    async for _ in _running_app(with_settings(settings, kafka_bootstrap=kafka.bootstrap)):
        await _emit(settings, t.id, 4)
        await asyncio.sleep(1.5)  # the relay tries, fails, and keeps the events
        assert await _count(settings, t.id, pending=True) == 4
        kafka.reconnect()  # same address: the relay reconnects on its own
        msgs = await _consume(kafka.bootstrap, 4)
        assert sorted(json.loads(m.value)["payload"]["i"] for m in msgs) == [0, 1, 2, 3]
        for _ in range(50):
            if await _count(settings, t.id, pending=True) == 0:
                break
            await asyncio.sleep(0.1)
        assert await _count(settings, t.id, pending=True) == 0


async def test_without_a_broker_the_outbox_fills_and_can_be_read(settings: Settings) -> None:
    t = await make_tenant(settings)
    await _emit(settings, t.id, 2)
    engine = create_engine(settings.database_url or "", pool_size=1)
    try:
        async with tenant_session(sessionmaker(engine), uuid.UUID(t.id)) as s:
            rows = await outbox.recent(s)
    finally:
        await engine.dispose()
    assert [r.type for r in rows if r.topic == TOPIC] == ["thing.happened"] * 2
