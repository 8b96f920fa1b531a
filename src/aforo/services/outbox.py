"""Domain events go to the ``outbox`` table in the caller's transaction.

After the transaction commits the request scope fans them out to live subscribers (the bus);
the relay publishes them to Kafka. Payloads never carry a secret.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.db import utcnow
from aforo.models.outbox import OutboxEvent

PENDING_KEY = "outbox_pending"


@dataclass(frozen=True)
class Event:
    id: uuid.UUID
    tenant_id: uuid.UUID
    topic: str
    type: str
    payload: dict[str, Any]
    occurred_at: datetime

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "id": str(self.id),
                "tenant_id": str(self.tenant_id),
                "type": self.type,
                "occurred_at": self.occurred_at.isoformat(),
                "payload": self.payload,
            },
            separators=(",", ":"),
            default=str,
        ).encode()


def channel(tenant_id: uuid.UUID, topic: str) -> str:
    """The bus channel of one tenant's events on one topic."""
    return f"aforo:{tenant_id}:{topic}"


async def emit(session: AsyncSession, topic: str, type_: str, payload: dict[str, Any]) -> Event:
    tenant_id = session.info["tenant_id"]
    event = Event(uuid.uuid4(), tenant_id, topic, type_, payload, utcnow())
    session.add(
        OutboxEvent(
            tenant_id=tenant_id,
            id=event.id,
            topic=topic,
            type=type_,
            payload=json.loads(json.dumps(payload, default=str)),
            created_at=event.occurred_at,
        )
    )
    session.info.setdefault(PENDING_KEY, []).append(event)
    return event


def take_pending(session: AsyncSession) -> list[Event]:
    """Events of the transaction just committed, for fan-out to live subscribers."""
    events: list[Event] = session.info.pop(PENDING_KEY, [])
    return events


async def recent(session: AsyncSession, *, limit: int = 100) -> list[OutboxEvent]:
    rows = await session.scalars(
        select(OutboxEvent).order_by(OutboxEvent.seq.desc()).limit(min(limit, 500))
    )
    return list(rows)
