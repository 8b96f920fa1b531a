"""Tenants and their publishable storefront keys."""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.db import bind_tenant, utcnow
from aforo.errors import Conflict, NotFound, ValidationFailed
from aforo.models.tenants import StorefrontKey, Tenant
from aforo.services import accounts
from aforo.tenancy.context import Role
from aforo.tenancy.hashing import new_secret, sha256

STOREFRONT_PREFIX = "pk_"
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class CreatedStorefrontKey:
    key: StorefrontKey
    secret: str  # returned once, never stored


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:63] or "tenant"


async def create_tenant(session: AsyncSession, name: str, slug: str | None = None) -> Tenant:
    """Owner connection only (CLI): the app role cannot insert tenants."""
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationFailed("name must be 1-200 characters", field="name")
    slug = slug or slugify(name)
    if not _SLUG.match(slug):
        raise ValidationFailed("slug must be lower-case letters, digits and dashes", field="slug")
    if await session.scalar(select(Tenant.id).where(Tenant.slug == slug)):
        raise Conflict(f"a tenant with slug {slug!r} exists", field="slug")
    tenant = Tenant(name=name, slug=slug)
    session.add(tenant)
    await session.flush()
    # Rebind the transaction to the new tenant so RLS-checked inserts that follow pass.
    await bind_tenant(session, tenant.id)
    return tenant


async def current_tenant(session: AsyncSession) -> Tenant:
    # RLS: only the bound tenant's row is visible.
    tenant: Tenant | None = await session.scalar(select(Tenant))
    if tenant is None:
        raise NotFound("tenant not found")
    return tenant


async def list_tenants(session: AsyncSession) -> list[Tenant]:
    """Owner connection only."""
    return list(await session.scalars(select(Tenant).order_by(Tenant.created_at)))


async def create_storefront_key(session: AsyncSession, name: str) -> CreatedStorefrontKey:
    secret = new_secret(STOREFRONT_PREFIX, 24)
    key = StorefrontKey(
        tenant_id=session.info["tenant_id"],
        name=name.strip()[:200] or "storefront",
        key_hash=sha256(secret),
        prefix=secret[:8],
        last4=secret[-4:],
    )
    session.add(key)
    await session.flush()
    return CreatedStorefrontKey(key, secret)


async def list_storefront_keys(session: AsyncSession) -> list[StorefrontKey]:
    return list(await session.scalars(select(StorefrontKey).order_by(StorefrontKey.created_at)))


async def revoke_storefront_key(session: AsyncSession, key_id: uuid.UUID) -> StorefrontKey:
    key: StorefrontKey | None = await session.scalar(
        update(StorefrontKey)
        .where(StorefrontKey.id == key_id, StorefrontKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(StorefrontKey)
    )
    if key is None:
        raise NotFound("no active storefront key with that id", field="id")
    return key


@dataclass(frozen=True)
class ProvisionedTenant:
    tenant: Tenant
    storefront_key: str  # raw, shown once
    admin_email: str
    admin_password: str  # generated, shown once


async def provision_tenant(
    session: AsyncSession, name: str, *, slug: str | None = None, admin_email: str | None = None
) -> ProvisionedTenant:
    """A tenant with its first storefront key and first admin. Owner connection (CLI)."""
    tenant = await create_tenant(session, name, slug)
    key = await create_storefront_key(session, "default")
    email = admin_email or f"admin@{tenant.slug}.example"
    password = secrets.token_urlsafe(18)
    # The operator names the first admin: its address counts as verified.
    await accounts.create_user(
        session, email=email, password=password, name="Admin", roles=[Role.ADMIN], verified=True
    )
    return ProvisionedTenant(tenant, key.secret, accounts.normalize_email(email), password)


async def tenant_by_slug(session: AsyncSession, slug: str) -> Tenant:
    tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFound(f"no tenant with slug {slug!r}", field="tenant")
    await bind_tenant(session, tenant.id)
    return tenant
