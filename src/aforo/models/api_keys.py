from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, ForeignKeyConstraint, LargeBinary, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from aforo.db import Base, UTCDateTime


class ApiKey(Base):
    """A developer's credential for the tenant's APIs. Only the SHA-256 of its secret is kept,
    with a display prefix and the last 4 characters."""

    __tablename__ = "api_keys"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"]),
        ForeignKeyConstraint(["tenant_id", "team_id"], ["teams.tenant_id", "teams.id"]),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    user_id: Mapped[uuid.UUID]
    team_id: Mapped[uuid.UUID | None]  # the owning team (its subscription's), None: personal
    name: Mapped[str] = mapped_column(String(200))
    format: Mapped[str] = mapped_column(String(20))
    client_id: Mapped[str | None] = mapped_column(String(64))  # CLIENT_CREDENTIALS only
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    prefix: Mapped[str] = mapped_column(String(16))
    last4: Mapped[str] = mapped_column(String(4))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # For a rotated key: the end of its grace (never later than its original expiry).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    replaced_by_id: Mapped[uuid.UUID | None]


class KeySubscriptionBinding(Base):
    """Which subscriptions a key draws on; cancelling one revokes the keys bound to it."""

    __tablename__ = "key_subscription_bindings"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "key_id"], ["api_keys.tenant_id", "api_keys.id"]),
        ForeignKeyConstraint(
            ["tenant_id", "subscription_id"], ["subscriptions.tenant_id", "subscriptions.id"]
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    key_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    subscription_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))


class ApiKeyEvent(Base):
    """The audit trail of one key: created, rotated, revoked, verified after revoke."""

    __tablename__ = "api_key_events"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "key_id"], ["api_keys.tenant_id", "api_keys.id"]),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    key_id: Mapped[uuid.UUID]
    type: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[uuid.UUID | None]
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))
