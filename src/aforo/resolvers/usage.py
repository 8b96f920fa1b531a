from __future__ import annotations

import uuid
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.models import usage as m
from aforo.schema.base import (
    STAFF_ADMIN,
    AppInfo,
    IsAuthenticated,
    guarded,
    page_size,
    parse_id,
    read,
)
from aforo.schema.usage import (
    CurrentUsage,
    DeletedUsageMapping,
    DeleteUsageMappingResult,
    SaveUsageMappingResult,
    UsageEvent,
    UsageEventConnection,
    UsageFilter,
    UsageGranularity,
    UsageMapping,
    UsageMappingInput,
    UsageRejection,
    UsageRejectionConnection,
    UsageSeries,
    UsageUpload,
)
from aforo.services import usage
from aforo.services.usage import column_mappings
from aforo.services.usage import uploads as usage_uploads
from aforo.tenancy.context import Role


def _owner(info: AppInfo) -> uuid.UUID | None:
    """None for admins (the whole tenant), else the caller's user id (their subscriptions)."""
    t = info.context.require_tenant()
    return None if t.has(Role.ADMIN) else info.context.require_user()


@strawberry.type
class Query:
    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Usage over time. Developers see their own subscriptions, admins all.",
    )
    async def usage(
        self,
        info: AppInfo,
        filter: UsageFilter | None = None,
        granularity: UsageGranularity = UsageGranularity.DAY,
    ) -> UsageSeries:
        f = (filter or UsageFilter()).to_service()
        owner = _owner(info)
        series = await read(info, lambda s: usage.usage(s, f, granularity.value, owner=owner))
        return UsageSeries.of(series)

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="A subscription's usage this month against its plan's quota.",
    )
    async def current_usage(self, info: AppInfo, subscription_id: strawberry.ID) -> CurrentUsage:
        sid = parse_id(subscription_id, "subscriptionId")
        owner = _owner(info)
        cur = await read(info, lambda s: usage.current_usage(s, sid, owner=owner))
        return CurrentUsage.of(cur)

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Normalized usage events, newest first.",
    )
    async def usage_events(
        self,
        info: AppInfo,
        filter: UsageFilter | None = None,
        source_: Annotated[str | None, strawberry.argument(name="source")] = None,
        first: int | None = None,
        after: str | None = None,
    ) -> UsageEventConnection:
        f = (filter or UsageFilter()).to_service()
        n = page_size(first)
        owner = _owner(info)
        rows, more = await read(
            info,
            lambda s: usage.list_events(s, f, owner=owner, first=n, after=after, source=source_),
        )
        end = usage.encode_cursor(rows[-1].occurred_at, rows[-1].event_id) if rows else None
        return UsageEventConnection(
            nodes=[UsageEvent.of(e) for e in rows], end_cursor=end, has_next_page=more
        )

    @strawberry.field(
        permission_classes=STAFF_ADMIN,
        description="Refused usage records (the dead-letter table), newest first.",
    )
    async def usage_rejections(
        self,
        info: AppInfo,
        upload_id: strawberry.ID | None = None,
        source_: Annotated[str | None, strawberry.argument(name="source")] = None,
        code: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> UsageRejectionConnection:
        n = page_size(first)
        uid = parse_id(upload_id, "uploadId") if upload_id is not None else None
        rows, more = await read(
            info,
            lambda s: usage.list_rejections(
                s, first=n, after=after, upload_id=uid, source=source_, code=code
            ),
        )
        end = usage.encode_cursor(rows[-1].created_at, str(rows[-1].id)) if rows else None
        return UsageRejectionConnection(
            nodes=[UsageRejection.of(r) for r in rows], end_cursor=end, has_next_page=more
        )

    @strawberry.field(permission_classes=STAFF_ADMIN, description="An upload job and its errors.")
    async def usage_upload(
        self, info: AppInfo, id: strawberry.ID, first_errors: int | None = None
    ) -> UsageUpload:
        upload_id = parse_id(id)
        n = page_size(first_errors or 100)

        async def go(s: AsyncSession) -> tuple[m.UsageUpload, list[m.UsageRejection]]:
            up = await usage_uploads.get(s, upload_id)
            return up, await usage_uploads.errors(s, upload_id, limit=n)

        up, errors = await read(info, go)
        return UsageUpload.of(up, errors)

    @strawberry.field(
        permission_classes=STAFF_ADMIN,
        description="The tenant's saved column mappings for usage uploads, by name.",
    )
    async def usage_mappings(self, info: AppInfo) -> list[UsageMapping]:
        return [UsageMapping.of(r) for r in await read(info, column_mappings.list_all)]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        permission_classes=STAFF_ADMIN,
        description="Create or replace a named column mapping; uploads choose it with ?mapping=.",
    )
    async def save_usage_mapping(
        self, info: AppInfo, input: UsageMappingInput
    ) -> SaveUsageMappingResult:
        async def go(s: AsyncSession) -> UsageMapping:
            mapping = column_mappings.validate(input.to_spec())
            return UsageMapping.of(await column_mappings.save(s, input.name, mapping))

        return await guarded(info, go)

    @strawberry.mutation(permission_classes=STAFF_ADMIN, description="Delete a column mapping.")
    async def delete_usage_mapping(self, info: AppInfo, name: str) -> DeleteUsageMappingResult:
        async def go(s: AsyncSession) -> DeletedUsageMapping:
            removed = await column_mappings.remove(s, name)
            return DeletedUsageMapping(name=removed.name)

        return await guarded(info, go)
