"""Kafka client start-up shared by the outbox relay and the usage queue."""

from __future__ import annotations

import contextlib
from typing import Any

from aiokafka import AIOKafkaProducer


async def start_producer(bootstrap: str, **options: Any) -> AIOKafkaProducer:
    """A started at-least-once producer (no idempotence: the broker used in tests has none,
    and every consumer here dedupes by id). A producer that fails to start is stopped, so
    its half-open connections and tasks do not outlive the failure."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, **options
    )
    try:
        await producer.start()
    except BaseException:
        with contextlib.suppress(Exception):
            await producer.stop()
        raise
    return producer
