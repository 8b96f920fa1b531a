from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from aforo.models import tenants as m
from aforo.schema.base import UserError


@strawberry.type(description="The tenant (API company) this request is scoped to.")
class Tenant:
    id: strawberry.ID
    name: str
    slug: str

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
