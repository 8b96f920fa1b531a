from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, ForeignKeyConstraint, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from aforo.db import Base, UTCDateTime


class MailSettings(Base):
    """A tenant's mail branding and the portal its links point at (None: the defaults)."""

    __tablename__ = "mail_settings"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    brand_name: Mapped[str | None] = mapped_column(String(200))
    logo_url: Mapped[str | None] = mapped_column(String(500))
    primary_color: Mapped[str | None] = mapped_column(String(7))
    background_color: Mapped[str | None] = mapped_column(String(7))
    from_address: Mapped[str | None] = mapped_column(String(320))
    from_name: Mapped[str | None] = mapped_column(String(200))
    footer: Mapped[str | None] = mapped_column(String(1000))
    portal_url: Mapped[str | None] = mapped_column(String(500))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))


class MailJob(Base):
    """One mail to send, written in the transaction of the change that calls for it.

    It holds no secret: a mail carrying a link gets its token minted by the dispatcher at
    send time (stored hashed, ``account_tokens``), so neither this row nor any event ever
    holds one. ``params`` are the non-secret facts the template needs (a team's name...)."""

    __tablename__ = "mail_jobs"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    kind: Mapped[str] = mapped_column(String(30))
    user_id: Mapped[uuid.UUID | None]
    to_address: Mapped[str] = mapped_column(String(320))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'"))
    status: Mapped[str] = mapped_column(String(10), server_default="PENDING")
    attempts: Mapped[int] = mapped_column(server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
