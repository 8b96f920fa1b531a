from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    Boolean,
    ForeignKeyConstraint,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSON
from sqlalchemy.orm import Mapped, mapped_column

from aforo.db import Base, UTCDateTime


class ApiSpec(Base):
    """An imported API description (OpenAPI 3 or GraphQL) of a product; its versions follow."""

    __tablename__ = "api_specs"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "product_id"], ["products.tenant_id", "products.id"]),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    product_id: Mapped[uuid.UUID]
    name: Mapped[str] = mapped_column(String(200))
    format: Mapped[str] = mapped_column(String(16))
    source_url: Mapped[str | None] = mapped_column(String(2048))
    server_url: Mapped[str | None] = mapped_column(String(2048))
    etag: Mapped[str | None] = mapped_column(String(512))
    last_modified: Mapped[str | None] = mapped_column(String(64))
    current_version: Mapped[int] = mapped_column(Integer, server_default="0")
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))


class SpecVersion(Base):
    """One distinct content of a spec (by SHA-256); re-importing the same content adds nothing."""

    __tablename__ = "spec_versions"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "spec_id"], ["api_specs.tenant_id", "api_specs.id"]),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    spec_id: Mapped[uuid.UUID]
    number: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    source: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(String(500))
    api_version: Mapped[str] = mapped_column(String(100), server_default="")
    description: Mapped[str] = mapped_column(Text, server_default="")
    # ``json`` (text as written), not ``jsonb``: the order of keys is part of a spec.
    servers: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    security_schemes: Mapped[dict[str, Any]] = mapped_column(JSON)
    tags: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    info: Mapped[dict[str, Any]] = mapped_column(JSON, server_default="{}")
    external_docs: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    tag_groups: Mapped[list[dict[str, Any]]] = mapped_column(JSON, server_default="[]")
    # What a Swagger 2.0 import converted: [{change, count}]
    conversions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, server_default="[]")
    source_version: Mapped[str] = mapped_column(String(40), server_default="")
    files: Mapped[list[str]] = mapped_column(ARRAY(String(2048)), server_default="{}")
    operation_count: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))


class SpecOperation(Base):
    """One operation of a spec version: an HTTP method + path, or a GraphQL root field; also
    a webhook (3.1) or a callback of another operation (``parent_key``)."""

    __tablename__ = "spec_operations"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "version_id"], ["spec_versions.tenant_id", "spec_versions.id"]
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    version_id: Mapped[uuid.UUID]
    position: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(2100))
    method: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(2048))
    operation_id: Mapped[str | None] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, server_default="")
    description: Mapped[str] = mapped_column(Text, server_default="")
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(200)))
    deprecated: Mapped[bool] = mapped_column(Boolean, server_default="false")
    parameters: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    request_body: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    responses: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    security: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    kind: Mapped[str] = mapped_column(String(16), server_default="operation")
    parent_key: Mapped[str | None] = mapped_column(String(2100))
    # externalDocs, servers, the callback's name
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, server_default="{}")


class SpecComponent(Base):
    """A named component of a spec version (a schema, a response, a GraphQL type …), stored
    once; operations refer to it by ``ref`` (``#/components/schemas/Pet``)."""

    __tablename__ = "spec_components"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "version_id"], ["spec_versions.tenant_id", "spec_versions.id"]
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    version_id: Mapped[uuid.UUID]
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(500))
    ref: Mapped[str] = mapped_column(String(2100))
    body: Mapped[Any] = mapped_column(JSON)


class OutboundAllow(Base):
    """A host name or CIDR a tenant lets outbound fetches reach although it is not public."""

    __tablename__ = "outbound_allowlist"

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    entry: Mapped[str] = mapped_column(String(255))
    note: Mapped[str] = mapped_column(String(200), server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))
