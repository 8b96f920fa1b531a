"""A tenant's mail branding (name, logo, colours, sender, footer, portal URL), with defaults."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.config import Settings
from aforo.db import utcnow
from aforo.models.mail import MailSettings
from aforo.models.tenants import Tenant
from aforo.services import outbox
from aforo.services.mail import TOPIC
from aforo.services.mail.templates import (
    Branding,
    check_address,
    check_color,
    check_text,
    check_url,
)


async def current(session: AsyncSession, settings: Settings) -> Branding:
    tenant_name = await session.scalar(select(Tenant.name))  # RLS: the bound tenant's row
    row = await session.scalar(select(MailSettings))
    base = Branding(
        name=tenant_name or "Aforo",
        from_address=settings.mail_from,
        portal_url=settings.mail_portal_url,
    )
    if row is None:
        return base
    return Branding(
        name=row.brand_name or base.name,
        logo_url=row.logo_url,
        primary_color=row.primary_color or base.primary_color,
        background_color=row.background_color or base.background_color,
        from_address=row.from_address or base.from_address,
        from_name=row.from_name,
        footer=row.footer,
        portal_url=row.portal_url or base.portal_url,
    )


async def stored(session: AsyncSession) -> MailSettings | None:
    return await session.scalar(select(MailSettings))


@dataclass(frozen=True)
class BrandingInput:
    """Every field replaces the stored one; None clears it back to the default."""

    brand_name: str | None = None
    logo_url: str | None = None
    primary_color: str | None = None
    background_color: str | None = None
    from_address: str | None = None
    from_name: str | None = None
    footer: str | None = None
    portal_url: str | None = None


async def update(session: AsyncSession, data: BrandingInput) -> MailSettings:
    values = {
        "brand_name": check_text(data.brand_name, "brandName", 200, one_line=True),
        "logo_url": check_url(data.logo_url, "logoUrl", https_only=True),
        "primary_color": check_color(data.primary_color, "primaryColor"),
        "background_color": check_color(data.background_color, "backgroundColor"),
        "from_address": check_address(data.from_address, "fromAddress"),
        "from_name": check_text(data.from_name, "fromName", 200, one_line=True),
        "footer": check_text(data.footer, "footer", 1000, one_line=False),
        "portal_url": check_url(data.portal_url, "portalUrl", https_only=False),
        "updated_at": utcnow(),
    }
    row = await session.scalar(
        insert(MailSettings)
        .values(tenant_id=session.info["tenant_id"], **values)
        .on_conflict_do_update(index_elements=["tenant_id"], set_=values)
        .returning(MailSettings)
        .execution_options(populate_existing=True)
    )
    assert row is not None
    await outbox.emit(session, TOPIC, "mail_settings.updated", {})
    return row
