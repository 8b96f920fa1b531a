from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from aforo.models import tenants as m
from aforo.schema.base import AppInfo, UserError, read
from aforo.services.mail import branding as branding_service


@strawberry.type(
    description="How the tenant presents itself: one branding for its mail and its developer "
    "portal (set with updateMailBranding). Public: the storefront key reads it."
)
class TenantBranding:
    brand_name: str = strawberry.field(description="The brand name, else the tenant's name.")
    logo_url: str | None = strawberry.field(description="An https URL of the logo.")
    primary_color: str = strawberry.field(description="#RRGGBB, for buttons and links.")
    background_color: str = strawberry.field(description="#RRGGBB, behind the content.")


@strawberry.type(description="The tenant (API company) this request is scoped to.")
class Tenant:
    id: strawberry.ID
    name: str
    slug: str

    @strawberry.field(description="Name, logo and colours for portals and mail.")
    async def branding(self, info: AppInfo) -> TenantBranding:
        settings = info.context.runtime.settings
        b = await read(info, lambda s: branding_service.current(s, settings))
        return TenantBranding(
            brand_name=b.name,
            logo_url=b.logo_url,
            primary_color=b.primary_color,
            background_color=b.background_color,
        )

    @classmethod
    def of(cls, t: m.Tenant) -> Tenant:
        return cls(id=strawberry.ID(str(t.id)), name=t.name, slug=t.slug)


@strawberry.type(description="A publishable key identifying the tenant to storefront SDKs.")
class StorefrontKey:
    id: strawberry.ID
    name: str
    prefix: str
    last4: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, k: m.StorefrontKey) -> StorefrontKey:
        return cls(
            id=strawberry.ID(str(k.id)),
            name=k.name,
            prefix=k.prefix,
            last4=k.last4,
            created_at=k.created_at,
            revoked_at=k.revoked_at,
        )


@strawberry.type
class StorefrontKeyCreated:
    storefront_key: StorefrontKey
    secret: str = strawberry.field(description="The key itself. Shown in this response only.")


StorefrontKeyCreatedResult = Annotated[
    StorefrontKeyCreated | UserError, strawberry.union("StorefrontKeyCreatedResult")
]
StorefrontKeyResult = Annotated[StorefrontKey | UserError, strawberry.union("StorefrontKeyResult")]
