from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, ForeignKeyConstraint, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from aforo.db import Base, UTCDateTime


class AccountToken(Base):
    """A single-use, expiring token sent by mail (verify an address, reset a password,
    confirm a new address, accept a team invitation). Only its SHA-256 is stored."""

    __tablename__ = "account_tokens"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "invitation_id"], ["team_invitations.tenant_id", "team_invitations.id"]
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    purpose: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[uuid.UUID | None]
    email: Mapped[str] = mapped_column(String(320))  # the address the link was sent to
    invitation_id: Mapped[uuid.UUID | None]
    mail_job_id: Mapped[uuid.UUID | None]
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
