from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    ForeignKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from aforo.db import Base, UTCDateTime


class Product(Base):
    """An API product a tenant sells; plans, docs and specs hang off it."""

    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("tenant_id", "slug"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(63))
    description: Mapped[str] = mapped_column(Text, server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))


class Plan(Base):
    """A priced offer of a product: quota, rate limit, billing interval."""

    __tablename__ = "plans"
    __table_args__ = (
        UniqueConstraint("tenant_id", "product_id", "slug"),
        ForeignKeyConstraint(["tenant_id", "product_id"], ["products.tenant_id", "products.id"]),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    product_id: Mapped[uuid.UUID]
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(63))
    price_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    interval: Mapped[str] = mapped_column(String(10))
    monthly_quota: Mapped[int | None] = mapped_column(BigInteger)  # None: unlimited
    rate_limit_per_minute: Mapped[int | None]
    # True: calls past the quota are refused; False: they are allowed and billed as overage.
    hard_quota: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Subscription(Base):
    """A subscription to a plan, owned by a person or (``team_id``) a team; its keys die
    with it. ``user_id`` is the person who subscribed."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"]),
        ForeignKeyConstraint(["tenant_id", "plan_id"], ["plans.tenant_id", "plans.id"]),
        ForeignKeyConstraint(["tenant_id", "team_id"], ["teams.tenant_id", "teams.id"]),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    user_id: Mapped[uuid.UUID]
    plan_id: Mapped[uuid.UUID]
    team_id: Mapped[uuid.UUID | None]
    status: Mapped[str] = mapped_column(String(12), server_default="ACTIVE")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
