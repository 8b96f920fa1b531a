from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from aforo.db import Base, UTCDateTime


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))


class StorefrontKey(Base):
    """A publishable per-tenant key. Only its SHA-256 is stored."""

    __tablename__ = "storefront_keys"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    prefix: Mapped[str] = mapped_column(String(16))
    last4: Mapped[str] = mapped_column(String(4))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
