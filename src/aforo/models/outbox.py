from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from aforo.db import Base, UTCDateTime


class OutboxEvent(Base):
    """A domain event written in the same transaction as the change it describes."""

    __tablename__ = "outbox"

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    # Publication order only, never a business key.
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True)
    topic: Mapped[str] = mapped_column(String(120))
    type: Mapped[str] = mapped_column(String(120))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
