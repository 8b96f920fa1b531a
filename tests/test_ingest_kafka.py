"""The Kafka path against a real broker: acknowledged after produce, written by the consumer
group, offsets committed only after the database commit; a consumer dying mid-batch loses
nothing and doubles nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aforo.config import Settings
from aforo.db import create_engine, sessionmaker
from aforo.ingest.consumer import UsageConsumer, UsageProducer
from aforo.services.usage.events import Event
from tests.conftest import with_settings
from tests.gateway import serving
from tests.services import KafkaBroker
from tests.support import make_tenant
from tests.test_usage_helpers import count_events, gateway_token, rollup_total

FAST = {"session_timeout_ms": 2000, "heartbeat_interval_ms": 300}


async def eventually(check: Any, want: Any, tries: int = 200) -> Any:
    got = None
    for _ in range(tries):
        got = await check()
        if got == want:
            return got
        await asyncio.sleep(0.1)
    return got


@pytest.fixture
async def maker(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(settings.database_url or "", pool_size=2)
    yield sessionmaker(engine)
    await engine.dispose()


async def test_endpoint_acknowledges_after_produce_and_group_writes(
    settings: Settings, kafka: KafkaBroker
) -> None:
    s = with_settings(
        settings,
        kafka_bootstrap=kafka.bootstrap,
        kafka_session_timeout_ms=2000,
        kafka_heartbeat_ms=300,
    )
    t = await make_tenant(s)
    now = datetime.now(UTC) - timedelta(minutes=1)
    events = [
        {"event_id": f"k{i}", "metric": "api_calls", "occurred_at": now.isoformat(), "quantity": 2}
        for i in range(1500)
    ]
    async with serving(s) as api:
        token = await gateway_token(api, t)
        h = {"Authorization": f"Bearer {token}"}
        r = await api.client.post("/v1/usage/events", json={"events": events}, headers=h)
        assert r.status_code == 200
        assert r.json() == {
            "outcome": "ACCEPTED",
            "accepted": 1500,
            "duplicates": 0,
            "rejected": [],
            "queued": True,
        }
        assert await eventually(lambda: count_events(s, t.id), 1500) == 1500
        # A gateway retry goes through Kafka too: the consumer sees duplicates, counts nothing.
        bad = {**events[0], "quantity": 3}  # same id, other content: a conflict
        r = await api.client.post(
            "/v1/usage/events", json={"events": [*events[:10], bad]}, headers=h
        )
        assert r.json()["accepted"] == 11

        async def conflicts() -> int:
            from tests.test_usage_helpers import rejections

            return len([x for x in await rejections(s, t.id) if x["code"] == "CONFLICT"])

        assert await eventually(conflicts, 1) == 1
    assert await count_events(s, t.id) == 1500
    assert await rollup_total(s, t.id) == Decimal(3000)


def _events(n: int, prefix: str) -> list[Event]:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    return [Event(f"{prefix}{i}", at, "rest", "api_calls") for i in range(n)]


async def _drain(consumer: UsageConsumer, expected: int) -> int:
    seen = 0
    for _ in range(100):
        seen += await consumer.run_once(timeout_ms=300)
        if seen >= expected:
            break
    return seen


class Killed(Exception):
    pass


@pytest.mark.parametrize("dies", ["after_db_commit", "before_db_commit"])
async def test_consumer_killed_mid_batch_loses_and_doubles_nothing(
    settings: Settings, kafka: KafkaBroker, maker: async_sessionmaker[AsyncSession], dies: str
) -> None:
    a_tenant, b_tenant = await make_tenant(settings, "A"), await make_tenant(settings, "B")
    producer = UsageProducer(kafka.bootstrap)
    await producer.start()
    try:
        await producer.send(uuid.UUID(a_tenant.id), "rest", _events(2500, "a"))
        await producer.send(uuid.UUID(b_tenant.id), "rest", _events(700, "b"))
    finally:
        await producer.stop()
    group = f"g-{uuid.uuid4().hex[:8]}"
    first = UsageConsumer(maker, kafka.bootstrap, group=group, **FAST)
    await first.open()

    if dies == "after_db_commit":

        async def die() -> None:  # the process is gone before it can commit its offsets
            raise Killed

        first.commit = die  # type: ignore[method-assign]
    else:
        original = first.write

        async def write_then_die(values: Any) -> int:
            from aforo.services.usage import writer as usage_writer

            real = usage_writer.write
            calls = 0

            async def half(*args: Any, **kw: Any) -> Any:
                nonlocal calls
                calls += 1
                if calls == 2:  # the first tenant's events are written, then it dies
                    raise Killed
                return await real(*args, **kw)

            usage_writer.write = half  # type: ignore[assignment]
            try:
                return await original(values)
            finally:
                usage_writer.write = real  # type: ignore[assignment]

        first.write = write_then_die  # type: ignore[method-assign]
    with pytest.raises(Killed):
        for _ in range(50):
            await first.run_once(timeout_ms=300)
    await first.stop()
    written = await count_events(settings, a_tenant.id) + await count_events(settings, b_tenant.id)
    if dies == "before_db_commit":
        assert written == 0  # the transaction died with the process
    else:
        assert written > 0  # written, but the offsets say "not done": it comes again

    second = UsageConsumer(maker, kafka.bootstrap, group=group, **FAST)
    await second.open()
    try:
        await _drain(second, 3200)
    finally:
        await second.stop()
    assert await count_events(settings, a_tenant.id) == 2500
    assert await count_events(settings, b_tenant.id) == 700
    assert await rollup_total(settings, a_tenant.id) == 2500
    assert await rollup_total(settings, b_tenant.id) == 700
