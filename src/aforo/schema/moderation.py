"""GraphQL types of community moderation: reports, the queue, actions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import strawberry

from aforo.models import moderation as m
from aforo.schema.accounts import User
from aforo.schema.base import AppInfo, UserError, page_size
from aforo.schema.forum import ForumTargetType, Reply, Thread, loaders
from aforo.services import moderation, reputation

ReportReason = strawberry.enum(moderation.ReportReason, name="ReportReason")
ReportStatus = strawberry.enum(moderation.ReportStatus, name="ReportStatus")
ModerationTarget = strawberry.enum(moderation.ModerationTarget, name="ModerationTarget")
ModerationActionType = strawberry.enum(
    moderation.Action,
    name="ModerationActionType",
    description="WARN, SOFT_DELETE, RESTORE, BAN, UNBAN, DISMISS; LOCK, UNLOCK, PIN, UNPIN for "
    "threads.",
)


async def _user(info: AppInfo, user_id: uuid.UUID | None) -> User | None:
    if user_id is None:
        return None
    u = await info.context.loaders.user_by_id.load(user_id)
    return User.of(u) if u is not None else None


@strawberry.type(description="A member's report about a thread or reply.")
class Report:
    id: strawberry.ID
    target_type: ForumTargetType  # type: ignore[valid-type]
    target_id: strawberry.ID
    reason: ReportReason  # type: ignore[valid-type]
    note: str
    status: ReportStatus  # type: ignore[valid-type]
    created_at: datetime
    resolved_at: datetime | None
    _reporter_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="Moderators see who reported; the reporter sees themself.")
    async def reporter(self, info: AppInfo) -> User | None:
        return await _user(info, self._reporter_id)

    @classmethod
    def of(cls, r: m.Report) -> Report:
        return cls(
            id=strawberry.ID(str(r.id)),
            target_type=reputation.TargetType(r.target_type),
            target_id=strawberry.ID(str(r.target_id)),
            reason=moderation.ReportReason(r.reason),
            note=r.note,
            status=moderation.ReportStatus(r.status),
            created_at=r.created_at,
            resolved_at=r.resolved_at,
            _reporter_id=r.reporter_id,
        )


@strawberry.type(description="The open reports about one thread or reply, with its content.")
class ModerationQueueItem:
    target_type: ForumTargetType  # type: ignore[valid-type]
    target_id: strawberry.ID
    report_count: int
    first_reported_at: datetime
    _reports: strawberry.Private[list[Report]]
    _thread_id: strawberry.Private[uuid.UUID]
    _reply_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field(description="Oldest first, a page at a time.")
    def reports(self, first: int | None = None, offset: int = 0) -> list[Report]:
        n, start = page_size(first), max(0, offset)
        return self._reports[start : start + n]

    @strawberry.field(description="The thread reported, or the thread of the reply reported.")
    async def thread(self, info: AppInfo) -> Thread | None:
        t = await loaders(info).thread_by_id.load(self._thread_id)
        return Thread.of(t, True) if t else None

    @strawberry.field
    async def reply(self, info: AppInfo) -> Reply | None:
        if self._reply_id is None:
            return None
        r = await loaders(info).reply_by_id.load(self._reply_id)
        return Reply.of(r, True, None) if r else None

    @classmethod
    def of(cls, item: moderation.QueueItem) -> ModerationQueueItem:
        return cls(
            target_type=item.target_type,
            target_id=strawberry.ID(str(item.target_id)),
            report_count=len(item.reports),
            first_reported_at=item.first_reported_at,
            _reports=[Report.of(r) for r in item.reports],
            _thread_id=item.thread_id,
            _reply_id=item.reply_id,
        )


@strawberry.type(description="A moderator's action: who, when, what and why.")
class ModerationRecord:
    id: strawberry.ID
    action: ModerationActionType  # type: ignore[valid-type]
    target_type: ModerationTarget  # type: ignore[valid-type]
    target_id: strawberry.ID
    report_id: strawberry.ID | None
    reason: str
    created_at: datetime
    _moderator_id: strawberry.Private[uuid.UUID]
    _subject_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field
    async def moderator(self, info: AppInfo) -> User | None:
        return await _user(info, self._moderator_id)

    @strawberry.field(description="The member the action concerns (the content's author).")
    async def subject_user(self, info: AppInfo) -> User | None:
        return await _user(info, self._subject_id)

    @classmethod
    def of(cls, a: m.ModerationAction) -> ModerationRecord:
        return cls(
            id=strawberry.ID(str(a.id)),
            action=moderation.Action(a.action),
            target_type=moderation.ModerationTarget(a.target_type),
            target_id=strawberry.ID(str(a.target_id)),
            report_id=strawberry.ID(str(a.report_id)) if a.report_id else None,
            reason=a.reason,
            created_at=a.created_at,
            _moderator_id=a.moderator_id,
            _subject_id=a.subject_user_id,
        )


@strawberry.input(description="Give a reportId, or a targetType and targetId.")
class ModerateInput:
    action: ModerationActionType  # type: ignore[valid-type]
    reason: str
    report_id: strawberry.ID | None = None
    target_type: ModerationTarget | None = None  # type: ignore[valid-type]
    target_id: strawberry.ID | None = None


ReportResult = Annotated[Report | UserError, strawberry.union("ReportResult")]
ModerateResult = Annotated[ModerationRecord | UserError, strawberry.union("ModerateResult")]
