"""Usage events through Kafka: the producer the endpoints acknowledge after, and the consumer
group that writes them in batches.

Delivery is at least once end to end: the consumer commits its offsets only after the database
transaction holding a batch has committed. A consumer that dies between the two leaves the batch
to be delivered again, and the id claims written with the events turn the redelivery into
duplicates: nothing lost, nothing counted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import CommitFailedError, KafkaError, TopicAlreadyExistsError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aforo.db import bind_tenant, tenant_session
from aforo.runtime.kafka import start_producer
from aforo.runtime.tasks import stop_tasks
from aforo.services.usage import writer as usage_writer
from aforo.services.usage.events import Event

log = logging.getLogger(__name__)

TOPIC = "aforo.usage.events"
GROUP = "aforo-usage-writer"
CHUNK = 1000  # events per message


async def ensure_topic(bootstrap: str, partitions: int = 4) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(TOPIC, partitions, 1)])
    except TopicAlreadyExistsError:
        pass
    finally:
        await admin.close()


class UsageProducer:
    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Connect if the broker is there. A broker that is down must not stop the service
        from starting: ``send`` connects on demand and, until it can, refuses (retryably)."""
        with contextlib.suppress(KafkaError):
            await self._connected()

    async def _connected(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                with contextlib.suppress(KafkaError):
                    await ensure_topic(self.bootstrap)
                self._producer = await start_producer(  # the id claims dedupe redeliveries
                    self.bootstrap,
                    linger_ms=2,
                    max_request_size=16 * 1024 * 1024,
                    request_timeout_ms=10000,
                )
            return self._producer

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def send(self, tenant_id: uuid.UUID, source: str, events: Sequence[Event]) -> None:
        """Returns once the broker holds every event (the request may then be acknowledged)."""
        if not events:
            return
        producer = await self._connected()
        key = str(tenant_id).encode()
        futures = []
        for i in range(0, len(events), CHUNK):
            value = {
                "tenant_id": str(tenant_id),
                "source": source,
                "events": [e.to_wire() for e in events[i : i + CHUNK]],
            }
            futures.append(
                await producer.send(
                    TOPIC, json.dumps(value, separators=(",", ":")).encode(), key=key
                )
            )
        await asyncio.gather(*futures)


class UsageConsumer:
    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        bootstrap: str,
        *,
        group: str = GROUP,
        max_records: int = 10_000,
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 3_000,
    ) -> None:
        self.maker = maker
        self.bootstrap = bootstrap
        self.group = group
        self.max_records = max_records
        self._settings = {
            "session_timeout_ms": session_timeout_ms,
            "heartbeat_interval_ms": heartbeat_interval_ms,
        }
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        with contextlib.suppress(KafkaError):
            await ensure_topic(self.bootstrap)
        consumer = AIOKafkaConsumer(
            TOPIC,
            bootstrap_servers=self.bootstrap,
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=16 * 1024 * 1024,
            **self._settings,
        )
        await consumer.start()
        self._consumer = consumer

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="usage-consumer")

    async def stop(self) -> None:
        if self._task is not None:
            await stop_tasks([self._task])
            self._task = None
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            try:
                if self._consumer is None:
                    await self.open()
                await self.run_once()
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as e:  # broker or database away: the batch stays uncommitted
                log.warning(
                    "usage consumer: %s: %s; retrying in %.1fs", type(e).__name__, e, backoff
                )
                consumer, self._consumer = self._consumer, None
                if consumer is not None:
                    with contextlib.suppress(Exception):
                        await consumer.stop()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def run_once(self, timeout_ms: int = 500) -> int:
        """Fetch one batch, write it, then commit the offsets. Returns the events seen."""
        assert self._consumer is not None
        batch = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=self.max_records)
        values = [r.value for records in batch.values() for r in records]
        if not values:
            return 0
        n = await self.write(values)
        await self.commit()
        return n

    async def write(self, values: Sequence[bytes]) -> int:
        by_tenant: dict[tuple[uuid.UUID, str], list[Event]] = defaultdict(list)
        for raw in values:
            try:
                msg: dict[str, Any] = json.loads(raw)
                key = (uuid.UUID(msg["tenant_id"]), str(msg["source"]))
                events = [Event.from_wire(d) for d in msg["events"]]
            except (ValueError, KeyError, TypeError) as e:
                # Not from our producer; nothing to attribute it to.
                log.error("usage consumer: dropping an unreadable message: %s", e)
                continue
            by_tenant[key].extend(events)
        n = 0
        # One transaction for the whole batch, switching the bound tenant per group.
        async with tenant_session(self.maker, None) as session:
            for (tenant_id, source), events in sorted(by_tenant.items(), key=lambda kv: str(kv[0])):
                await bind_tenant(session, tenant_id)
                await usage_writer.write(session, events, source=source)
                await session.flush()  # pending rows (outbox) while this tenant is bound
                n += len(events)
        return n

    async def commit(self) -> None:
        assert self._consumer is not None
        try:
            await self._consumer.commit()
        except CommitFailedError as e:  # rebalanced away: the new owner redelivers, claims dedupe
            log.warning("usage consumer: offsets not committed (%s); batch will be redelivered", e)
