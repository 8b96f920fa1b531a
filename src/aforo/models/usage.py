"""Usage metering tables (see migration 0006 for partitions and the idempotency claim)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    Identity,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from aforo.db import Base, UTCDateTime


class UsageEvent(Base):
    """One normalized usage record. Partitioned by month on ``occurred_at``."""

    __tablename__ = "usage_events"

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    metric: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[Decimal] = mapped_column(Numeric())
    consumer: Mapped[str | None] = mapped_column(Text)
    subscription_id: Mapped[uuid.UUID | None] = mapped_column()
    key_id: Mapped[uuid.UUID | None] = mapped_column()
    source_account: Mapped[str | None] = mapped_column(Text)
    method: Mapped[str | None] = mapped_column(String(16))
    path: Mapped[str | None] = mapped_column(Text)
    route: Mapped[str | None] = mapped_column(Text)
    status: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    request_bytes: Mapped[int | None] = mapped_column(BigInteger)
    response_bytes: Mapped[int | None] = mapped_column(BigInteger)
    request_id: Mapped[str | None] = mapped_column(Text)
    client_ip: Mapped[str | None] = mapped_column(Text)
    tool: Mapped[str | None] = mapped_column(Text)
    agent: Mapped[str | None] = mapped_column(Text)
    session: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(16))
    agent_version: Mapped[str | None] = mapped_column(Text)
    protocol_version: Mapped[str | None] = mapped_column(String(32))
    error_code: Mapped[int | None] = mapped_column(Integer)
    properties: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    upload_id: Mapped[uuid.UUID | None] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))


class UsageEventId(Base):
    """The claim on an event id: exactly one per tenant, written with the event."""

    __tablename__ = "usage_event_ids"

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    content_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())


class UsageRollup(Base):
    """Hourly sums per (metric, subscription, key, tool, agent)."""

    __tablename__ = "usage_rollups"

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime())
    metric: Mapped[str] = mapped_column(String(200))
    subscription_id: Mapped[uuid.UUID | None] = mapped_column()
    key_id: Mapped[uuid.UUID | None] = mapped_column()
    tool: Mapped[str | None] = mapped_column(Text)
    agent: Mapped[str | None] = mapped_column(Text)
    quantity: Mapped[Decimal] = mapped_column(Numeric())
    events: Mapped[int] = mapped_column(BigInteger)


class UsageUpload(Base):
    """A file upload, processed as a job while it streams in."""

    __tablename__ = "usage_uploads"

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    format: Mapped[str] = mapped_column(String(8))
    filename: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(12), server_default="processing")
    rows: Mapped[int] = mapped_column(Integer, server_default="0")
    accepted: Mapped[int] = mapped_column(Integer, server_default="0")
    duplicates: Mapped[int] = mapped_column(Integer, server_default="0")
    rejected: Mapped[int] = mapped_column(Integer, server_default="0")
    bytes: Mapped[int] = mapped_column(BigInteger, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    gateway_token_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class UsageRejection(Base):
    """A dead letter: a refused record, why, and (truncated) what it was."""

    __tablename__ = "usage_rejections"

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    source: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str | None] = mapped_column(String(200))
    upload_id: Mapped[uuid.UUID | None] = mapped_column()
    row_number: Mapped[int | None] = mapped_column(BigInteger)
    code: Mapped[str] = mapped_column(String(40))
    field: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    record: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))
    record_index: Mapped[int | None] = mapped_column(BigInteger)
    errors: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    dedupe_key: Mapped[bytes | None] = mapped_column(LargeBinary)


class UsageMapping(Base):
    """A tenant's named column mapping for uploads (see ``services.usage.column_mappings``)."""

    __tablename__ = "usage_mappings"

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    name: Mapped[str] = mapped_column(String(100))
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))


class UsageUploadRow(Base):
    """How often an upload has seen each row content so far (content-derived row ids)."""

    __tablename__ = "usage_upload_rows"

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    upload_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    digest: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    seen: Mapped[int] = mapped_column(BigInteger)
