from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, ForeignKeyConstraint, String, text
from sqlalchemy.orm import Mapped, mapped_column

from aforo.db import Base, UTCDateTime


class Team(Base):
    """A company's group of developers; it can own subscriptions and their keys. Deleting
    it keeps the row (its cancelled subscriptions still point at it)."""

    __tablename__ = "teams"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "created_by"], ["users.tenant_id", "users.id"]),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    name: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TeamMember(Base):
    __tablename__ = "team_members"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "team_id"], ["teams.tenant_id", "teams.id"]),
        ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"]),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    team_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(String(10))  # OWNER (exactly one), ADMIN, BILLING, MEMBER
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))


class TeamInvitation(Base):
    """An invitation by email; its link's token is minted when the mail is sent."""

    __tablename__ = "team_invitations"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "team_id"], ["teams.tenant_id", "teams.id"]),
        ForeignKeyConstraint(["tenant_id", "invited_by"], ["users.tenant_id", "users.id"]),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    team_id: Mapped[uuid.UUID]
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(10))
    invited_by: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_by: Mapped[uuid.UUID | None]
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
