from __future__ import annotations

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.runtime.state import after_commit
from aforo.schema.base import STAFF_ADMIN, AppInfo, guarded, parse_id, read
from aforo.schema.gateway_tokens import (
    GatewayToken,
    GatewayTokenCreated,
    GatewayTokenCreatedResult,
    GatewayTokenResult,
)
from aforo.services import gateway_tokens


@strawberry.type
class Query:
    @strawberry.field(permission_classes=STAFF_ADMIN)
    async def gateway_tokens(self, info: AppInfo) -> list[GatewayToken]:
        return [GatewayToken.of(t) for t in await read(info, gateway_tokens.list_all)]


@strawberry.type
class Mutation:
    @strawberry.mutation(permission_classes=STAFF_ADMIN)
    async def create_gateway_token(self, info: AppInfo, name: str) -> GatewayTokenCreatedResult:
        async def go(s: AsyncSession) -> GatewayTokenCreated:
            created = await gateway_tokens.create(s, name)
            return GatewayTokenCreated(
                gateway_token=GatewayToken.of(created.token), secret=created.secret
            )

        return await guarded(info, go)

    @strawberry.mutation(permission_classes=STAFF_ADMIN)
    async def revoke_gateway_token(self, info: AppInfo, id: strawberry.ID) -> GatewayTokenResult:
        async def go(s: AsyncSession) -> GatewayToken:
            token = await gateway_tokens.revoke(s, parse_id(id))
            forget = info.context.runtime.auth.forget
            await forget("gateway", token.token_hash)  # and again once committed (no race)
            after_commit(s, lambda: forget("gateway", token.token_hash))
            return GatewayToken.of(token)

        return await guarded(info, go)
