"""The outbox relay: publishes committed events to Kafka, keyed by tenant, at least once.

Claims a batch with ``FOR UPDATE SKIP LOCKED`` (several instances can relay side by side),
produces every message and waits for the broker's acks, then marks the batch published in the
same transaction. A failed send rolls back the marks, so the batch is retried; consumers
dedupe on the event id carried in every message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aforo.runtime.kafka import start_producer
from aforo.runtime.tasks import stop_tasks

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        bootstrap: str,
        *,
        poll_s: float = 0.5,
        batch: int = 500,
    ) -> None:
        self.maker = maker
        self.bootstrap = bootstrap
        self.poll_s = poll_s
        self.batch = batch
        self._producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            await stop_tasks([self._task])
        await self._close_producer()

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()

    async def _producer_ready(self) -> AIOKafkaProducer:
        if self._producer is None:  # consumers dedupe redeliveries by event id
            self._producer = await start_producer(
                self.bootstrap, request_timeout_ms=5000, linger_ms=5
            )
        return self._producer

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            try:
                sent = await self.publish_once()
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as e:  # broker or database away: keep the events, retry later
                log.warning("outbox relay: %s: %s; retrying in %.1fs", type(e).__name__, e, backoff)
                await self._close_producer()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if sent < self.batch:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_s)

    async def publish_once(self) -> int:
        """Publish one batch; returns how many events were published."""
        async with self.maker() as session, session.begin():
            rows = (
                await session.execute(
                    text(
                        "select seq, id, tenant_id, topic, type, payload, created_at "
                        "from ops.outbox_claim(:n)"
                    ),
                    {"n": self.batch},
                )
            ).all()
            if not rows:
                return 0
            producer = await self._producer_ready()
            futures = []
            for r in rows:
                value: dict[str, Any] = {
                    "id": str(r.id),
                    "tenant_id": str(r.tenant_id),
                    "type": r.type,
                    "occurred_at": r.created_at.isoformat(),
                    "payload": r.payload,
                }
                futures.append(
                    await producer.send(
                        r.topic,
                        json.dumps(value, separators=(",", ":")).encode(),
                        key=str(r.tenant_id).encode(),
                        headers=[("event_id", str(r.id).encode()), ("type", r.type.encode())],
                    )
                )
            await asyncio.gather(*futures)
            await session.execute(
                text("select ops.outbox_mark_published(:seqs)"), {"seqs": [r.seq for r in rows]}
            )
            return len(rows)
