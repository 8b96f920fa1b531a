from __future__ import annotations

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.models.api_keys import ApiKey as ApiKeyRow
from aforo.runtime.state import after_commit
from aforo.schema.api_keys import (
    ApiKey,
    ApiKeyCreated,
    ApiKeyCreatedResult,
    ApiKeyResult,
    ApiKeyRotated,
    ApiKeyRotatedResult,
    CreateApiKeyInput,
)
from aforo.schema.base import AppInfo, IsAuthenticated, guarded, page_size, parse_id, read
from aforo.services import api_keys
from aforo.services.key_verify import verifier
from aforo.tenancy.context import Role


async def _invalidate(info: AppInfo, s: AsyncSession, keys: list[ApiKeyRow]) -> None:
    """Drop the keys' cached verdicts now, and again once committed (no stale re-read)."""
    v = verifier(info.context.runtime)
    await v.invalidate_keys(keys)
    after_commit(s, lambda: v.invalidate_keys(keys))


@strawberry.type
class Query:
    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Your keys; every key of the tenant for admins. Newest first.",
    )
    async def api_keys(
        self, info: AppInfo, first: int | None = None, offset: int = 0
    ) -> list[ApiKey]:
        tenant = info.context.require_tenant()
        user_id = None if tenant.has(Role.ADMIN) else info.context.require_user()
        limit = page_size(first)
        rows = await read(
            info,
            lambda s: api_keys.list_keys(s, user_id=user_id, limit=limit, offset=max(0, offset)),
        )
        return [ApiKey.of(k) for k in rows]


@strawberry.type
class Mutation:
    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def create_api_key(self, info: AppInfo, input: CreateApiKeyInput) -> ApiKeyCreatedResult:
        tenant = info.context.require_tenant()
        user_id = info.context.require_user()

        async def go(s: AsyncSession) -> ApiKeyCreated:
            created = await api_keys.create_key(
                s,
                actor_id=user_id,
                as_admin=tenant.has(Role.ADMIN),
                subscription_id=parse_id(input.subscription_id, "subscriptionId"),
                name=input.name,
                format_=input.format.value,
                expires_at=input.expires_at,
            )
            return ApiKeyCreated(
                api_key=ApiKey.of(created.key), secret=created.secret, client_id=created.client_id
            )

        return await guarded(info, go)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="A new secret for the key; the old one keeps working for graceSeconds "
        "(default 300, 0 = refused at once, at most 86400, never past its expiry).",
    )
    async def rotate_api_key(
        self, info: AppInfo, id: strawberry.ID, grace_seconds: int = api_keys.DEFAULT_GRACE_S
    ) -> ApiKeyRotatedResult:
        tenant = info.context.require_tenant()
        user_id = info.context.require_user()

        async def go(s: AsyncSession) -> ApiKeyRotated:
            rotated = await api_keys.rotate_key(
                s,
                parse_id(id),
                actor_id=user_id,
                as_admin=tenant.has(Role.ADMIN),
                grace_seconds=grace_seconds,
            )
            await _invalidate(info, s, [rotated.previous])
            assert rotated.previous.expires_at is not None
            return ApiKeyRotated(
                api_key=ApiKey.of(rotated.key),
                secret=rotated.secret,
                client_id=rotated.client_id,
                previous_key_expires_at=rotated.previous.expires_at,
            )

        return await guarded(info, go)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def revoke_api_key(self, info: AppInfo, id: strawberry.ID) -> ApiKeyResult:
        tenant = info.context.require_tenant()
        user_id = info.context.require_user()

        async def go(s: AsyncSession) -> ApiKey:
            key = await api_keys.revoke_key(
                s, parse_id(id), actor_id=user_id, as_admin=tenant.has(Role.ADMIN)
            )
            await _invalidate(info, s, [key])
            return ApiKey.of(key)

        return await guarded(info, go)
