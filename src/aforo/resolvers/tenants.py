from __future__ import annotations

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.runtime.state import after_commit
from aforo.schema.base import STAFF_ADMIN, AppInfo, HasTenant, guarded, parse_id, read
from aforo.schema.tenants import (
    StorefrontKey,
    StorefrontKeyCreated,
    StorefrontKeyCreatedResult,
    StorefrontKeyResult,
    Tenant,
)
from aforo.services import tenants


@strawberry.type
class Query:
    @strawberry.field(permission_classes=[HasTenant])
    async def tenant(self, info: AppInfo) -> Tenant:
        return Tenant.of(await read(info, tenants.current_tenant))

    @strawberry.field(permission_classes=STAFF_ADMIN)
    async def storefront_keys(self, info: AppInfo) -> list[StorefrontKey]:
        return [StorefrontKey.of(k) for k in await read(info, tenants.list_storefront_keys)]


@strawberry.type
class Mutation:
    @strawberry.mutation(permission_classes=STAFF_ADMIN)
    async def create_storefront_key(self, info: AppInfo, name: str) -> StorefrontKeyCreatedResult:
        async def go(s: AsyncSession) -> StorefrontKeyCreated:
            created = await tenants.create_storefront_key(s, name)
            return StorefrontKeyCreated(
                storefront_key=StorefrontKey.of(created.key), secret=created.secret
            )

        return await guarded(info, go)

    @strawberry.mutation(permission_classes=STAFF_ADMIN)
    async def revoke_storefront_key(self, info: AppInfo, id: strawberry.ID) -> StorefrontKeyResult:
        async def go(s: AsyncSession) -> StorefrontKey:
            key = await tenants.revoke_storefront_key(s, parse_id(id))
            forget = info.context.runtime.auth.forget
            await forget("storefront", key.key_hash)  # and again once committed (no race)
            after_commit(s, lambda: forget("storefront", key.key_hash))
            return StorefrontKey.of(key)

        return await guarded(info, go)
