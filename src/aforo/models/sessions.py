from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, ForeignKeyConstraint, String, text
from sqlalchemy.orm import Mapped, mapped_column

from aforo.db import Base, UTCDateTime


class AccountSession(Base):
    """What a user sees of one signed-in session (a refresh-token family, same id): where
    it started and whether a second factor was given. Its liveness is the family's."""

    __tablename__ = "account_sessions"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # the refresh-token family id
    user_id: Mapped[uuid.UUID]
    second_factor: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))
