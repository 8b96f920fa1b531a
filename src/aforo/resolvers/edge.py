"""Tenant admins manage the web origins allowed to call the tenant and its trusted documents."""

from __future__ import annotations

import uuid

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.runtime.state import after_commit
from aforo.schema.base import STAFF_ADMIN, AppInfo, guarded, page_size, parse_id, read
from aforo.schema.edge import (
    AllowedOrigin,
    AllowedOriginResult,
    EdgeSettings,
    EdgeSettingsResult,
    TenantSettingEvent,
    TrustedDocument,
    TrustedDocumentResult,
    TrustedDocumentsRegistered,
    TrustedDocumentsResult,
)
from aforo.services import edge, edge_policy, persisted


def _changed(info: AppInfo, s: AsyncSession) -> None:
    """Once committed, every instance drops its cached copy of the tenant's policy."""
    runtime, tenant_id = info.context.runtime, info.context.require_tenant().tenant_id
    after_commit(s, lambda: edge_policy.invalidate(runtime, tenant_id))


def _actor(info: AppInfo) -> uuid.UUID | None:
    return info.context.require_tenant().user_id


@strawberry.type
class Query:
    @strawberry.field(permission_classes=STAFF_ADMIN)
    async def allowed_origins(self, info: AppInfo) -> list[AllowedOrigin]:
        return [AllowedOrigin.of(o) for o in await read(info, edge.list_origins)]

    @strawberry.field(permission_classes=STAFF_ADMIN)
    async def edge_settings(self, info: AppInfo) -> EdgeSettings:
        return EdgeSettings.of(await read(info, edge.settings))

    @strawberry.field(permission_classes=STAFF_ADMIN)
    async def trusted_documents(
        self, info: AppInfo, first: int | None = None
    ) -> list[TrustedDocument]:
        n = page_size(first)
        return [
            TrustedDocument.of(d) for d in await read(info, lambda s: edge.list_documents(s, n))
        ]

    @strawberry.field(
        permission_classes=STAFF_ADMIN, description="Changes to tenant settings, newest first."
    )
    async def tenant_setting_events(
        self, info: AppInfo, first: int | None = None
    ) -> list[TenantSettingEvent]:
        n = page_size(first)
        rows = await read(info, lambda s: edge.setting_events(s, n))
        return [TenantSettingEvent.of(e) for e in rows]


@strawberry.type
class Mutation:
    @strawberry.mutation(permission_classes=STAFF_ADMIN)
    async def add_allowed_origin(
        self, info: AppInfo, origin: str, storefront_key_id: strawberry.ID | None = None
    ) -> AllowedOriginResult:
        async def go(s: AsyncSession) -> AllowedOrigin:
            key = parse_id(storefront_key_id, "storefrontKeyId") if storefront_key_id else None
            row = await edge.add_origin(s, origin, storefront_key_id=key, actor_id=_actor(info))
            _changed(info, s)
            return AllowedOrigin.of(row)

        return await guarded(info, go)

    @strawberry.mutation(permission_classes=STAFF_ADMIN)
    async def remove_allowed_origin(self, info: AppInfo, id: strawberry.ID) -> AllowedOriginResult:
        async def go(s: AsyncSession) -> AllowedOrigin:
            row = await edge.remove_origin(s, parse_id(id), actor_id=_actor(info))
            _changed(info, s)
            return AllowedOrigin.of(row)

        return await guarded(info, go)

    @strawberry.mutation(permission_classes=STAFF_ADMIN)
    async def set_trusted_documents_only(self, info: AppInfo, enabled: bool) -> EdgeSettingsResult:
        async def go(s: AsyncSession) -> EdgeSettings:
            row = await edge.set_trusted_documents_only(s, enabled, actor_id=_actor(info))
            _changed(info, s)
            return EdgeSettings.of(row)

        return await guarded(info, go)

    @strawberry.mutation(permission_classes=STAFF_ADMIN)
    async def register_trusted_documents(
        self, info: AppInfo, documents: list[str]
    ) -> TrustedDocumentsResult:
        async def go(s: AsyncSession) -> TrustedDocumentsRegistered:
            rows = await edge.register_documents(s, documents, actor_id=_actor(info))
            return TrustedDocumentsRegistered(documents=[TrustedDocument.of(d) for d in rows])

        return await guarded(info, go)

    @strawberry.mutation(permission_classes=STAFF_ADMIN)
    async def remove_trusted_document(self, info: AppInfo, sha256: str) -> TrustedDocumentResult:
        async def go(s: AsyncSession) -> TrustedDocument:
            row = await edge.remove_document(s, sha256, actor_id=_actor(info))
            runtime, tenant_id = info.context.runtime, row.tenant_id
            after_commit(s, lambda: persisted.forget(runtime, tenant_id, row.sha256))
            return TrustedDocument.of(row)

        return await guarded(info, go)
