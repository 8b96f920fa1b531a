"""Community moderation: member reports and the record of every moderator action."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, String, text
from sqlalchemy.orm import Mapped, mapped_column

from aforo.db import Base, UTCDateTime


class Report(Base):
    __tablename__ = "community_reports"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "thread_id"], ["community_threads.tenant_id", "community_threads.id"]
        ),
        ForeignKeyConstraint(
            ["tenant_id", "reply_id"], ["community_replies.tenant_id", "community_replies.id"]
        ),
        ForeignKeyConstraint(["tenant_id", "reporter_id"], ["users.tenant_id", "users.id"]),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    reporter_id: Mapped[uuid.UUID]
    target_type: Mapped[str] = mapped_column(String(10))
    target_id: Mapped[uuid.UUID]
    thread_id: Mapped[uuid.UUID]
    reply_id: Mapped[uuid.UUID | None]
    reason: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(String(1000), server_default="")
    status: Mapped[str] = mapped_column(String(10), server_default="OPEN")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by: Mapped[uuid.UUID | None]


class ModerationAction(Base):
    """Who did what to which target, when and why; append-only."""

    __tablename__ = "community_moderation_actions"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "report_id"], ["community_reports.tenant_id", "community_reports.id"]
        ),
        ForeignKeyConstraint(["tenant_id", "moderator_id"], ["users.tenant_id", "users.id"]),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    moderator_id: Mapped[uuid.UUID]
    action: Mapped[str] = mapped_column(String(20))
    target_type: Mapped[str] = mapped_column(String(10))
    target_id: Mapped[uuid.UUID]
    subject_user_id: Mapped[uuid.UUID | None]
    report_id: Mapped[uuid.UUID | None]
    reason: Mapped[str] = mapped_column(String(1000), server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))
