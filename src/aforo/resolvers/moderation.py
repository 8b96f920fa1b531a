from __future__ import annotations

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.schema.base import (
    STAFF_MODERATOR,
    AppInfo,
    IsAuthenticated,
    guarded,
    page_size,
    parse_id,
    read,
)
from aforo.schema.forum import ForumTargetType
from aforo.schema.moderation import (
    ModerateInput,
    ModerateResult,
    ModerationQueueItem,
    ModerationRecord,
    Report,
    ReportReason,
    ReportResult,
    ReportStatus,
)
from aforo.schema.throttling import Throttled
from aforo.services import moderation, reputation


@strawberry.type
class Query:
    @strawberry.field(
        permission_classes=STAFF_MODERATOR,
        description="Reports grouped by target, longest waiting first, with content and reporters.",
    )
    async def moderation_queue(
        self,
        info: AppInfo,
        status: ReportStatus = moderation.ReportStatus.OPEN,  # type: ignore[valid-type]
        first: int | None = None,
    ) -> list[ModerationQueueItem]:
        limit = page_size(first)
        items = await read(
            info, lambda s: moderation.queue(s, moderation.ReportStatus(status), limit)
        )
        return [ModerationQueueItem.of(i) for i in items]

    @strawberry.field(
        permission_classes=STAFF_MODERATOR,
        description="Every moderation action, newest first; optionally about one target.",
    )
    async def moderation_log(
        self, info: AppInfo, target_id: strawberry.ID | None = None, first: int | None = None
    ) -> list[ModerationRecord]:
        limit = page_size(first)

        async def go(s: AsyncSession) -> list[ModerationRecord]:
            target = parse_id(target_id, "targetId") if target_id is not None else None
            rows = await moderation.actions_log(s, target_id=target, limit=limit)
            return [ModerationRecord.of(a) for a in rows]

        return await read(info, go)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        extensions=[Throttled("forum.report", by="account")],
        description="Report a thread or reply to the moderators; one open report per target.",
    )
    async def report(
        self,
        info: AppInfo,
        target_type: ForumTargetType,  # type: ignore[valid-type]
        target_id: strawberry.ID,
        reason: ReportReason,  # type: ignore[valid-type]
        note: str | None = None,
    ) -> ReportResult:
        async def go(s: AsyncSession) -> Report:
            row = await moderation.report(
                s,
                info.context.require_user(),
                reputation.TargetType(target_type),
                parse_id(target_id, "targetId"),
                moderation.ReportReason(reason),
                note or "",
            )
            return Report.of(row)

        return await guarded(info, go)

    @strawberry.mutation(permission_classes=STAFF_MODERATOR)
    async def moderate(self, info: AppInfo, input: ModerateInput) -> ModerateResult:
        async def go(s: AsyncSession) -> ModerationRecord:
            record = await moderation.moderate(
                s,
                info.context.require_user(),
                action=moderation.Action(input.action),
                reason=input.reason,
                report_id=parse_id(input.report_id, "reportId") if input.report_id else None,
                target_type=moderation.ModerationTarget(input.target_type)
                if input.target_type is not None
                else None,
                target_id=parse_id(input.target_id, "targetId") if input.target_id else None,
            )
            return ModerationRecord.of(record)

        return await guarded(info, go)
