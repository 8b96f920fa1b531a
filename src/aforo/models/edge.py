"""Edge settings of a tenant: allowed web origins, trusted documents, and their audit trail."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, ForeignKeyConstraint, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from aforo.db import Base, UTCDateTime


class AllowedOrigin(Base):
    """A web origin allowed to call the tenant from a browser: exact (``https://app.acme.com``)
    or a wildcard on the leftmost label (``https://*.acme.com``, kept as host ``acme.com``).
    With ``storefront_key_id`` set it narrows what that one key may be used from."""

    __tablename__ = "allowed_origins"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "storefront_key_id"], ["storefront_keys.tenant_id", "storefront_keys.id"]
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    storefront_key_id: Mapped[uuid.UUID | None]
    origin: Mapped[str] = mapped_column(String(300))
    scheme: Mapped[str] = mapped_column(String(5))
    host: Mapped[str] = mapped_column(String(253))
    port: Mapped[int]
    wildcard: Mapped[bool]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))


class EdgeSettings(Base):
    __tablename__ = "edge_settings"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    trusted_documents_only: Mapped[bool] = mapped_column(server_default=text("false"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))


class TrustedDocument(Base):
    """A GraphQL document registered by an admin, addressed by the SHA-256 of its text."""

    __tablename__ = "trusted_documents"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))


class TenantSettingEvent(Base):
    """Who changed which tenant setting, when, and to what."""

    __tablename__ = "tenant_setting_events"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "actor_id"], ["users.tenant_id", "users.id"]),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    actor_id: Mapped[uuid.UUID | None]
    setting: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))
