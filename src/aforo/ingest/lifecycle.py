"""The usage pipeline's background parts, run for the app's lifetime (``LIFESPANS`` in app.py).

With ``AFORO_KAFKA_BOOTSTRAP`` set: the producer the endpoints acknowledge after, and one member
of the writer consumer group. Without it nothing runs and the endpoints write directly.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aforo.ingest.consumer import UsageConsumer, UsageProducer
from aforo.ingest.pipeline import PRODUCER_KEY
from aforo.runtime.state import Runtime

CONSUMER_KEY = "usage_consumer"


@contextlib.asynccontextmanager
async def lifespan(runtime: Runtime, state: Any) -> AsyncIterator[None]:
    settings = runtime.settings
    if not settings.kafka_bootstrap:
        yield
        return
    producer = UsageProducer(settings.kafka_bootstrap)
    await producer.start()
    consumer = UsageConsumer(
        runtime.maker,
        settings.kafka_bootstrap,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_ms,
    )
    consumer.start()  # joins the group in the background; retries while the broker is away
    runtime.extra[PRODUCER_KEY] = producer
    runtime.extra[CONSUMER_KEY] = consumer
    try:
        yield
    finally:
        runtime.extra.pop(PRODUCER_KEY, None)
        runtime.extra.pop(CONSUMER_KEY, None)
        await consumer.stop()
        await producer.stop()
