"""Community moderation: member reports, the moderators' queue, actions and their record.

Any action on a piece of content settles the open reports about it (RESOLVED, or DISMISSED for
a dismissal), and every action is appended to ``community_moderation_actions`` with who, when,
what and why; the reason is required.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.db import utcnow
from aforo.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from aforo.models.accounts import User
from aforo.models.forum import Reply, Thread
from aforo.models.moderation import ModerationAction, Report
from aforo.services import accounts, authz, forum, outbox, reputation
from aforo.services.reputation import TargetType
from aforo.tenancy.context import Role

TOPIC = forum.TOPIC
MAX_NOTE = 1000
QUEUE_SCAN = 2000  # reports read per queue page; groups are built from them


class ReportReason(StrEnum):
    SPAM = "SPAM"
    INAPPROPRIATE = "INAPPROPRIATE"
    OFF_TOPIC = "OFF_TOPIC"
    ILLEGAL = "ILLEGAL"
    OTHER = "OTHER"


class ReportStatus(StrEnum):
    OPEN = "OPEN"
    RESOLVED = "RESOLVED"
    DISMISSED = "DISMISSED"


class ModerationTarget(StrEnum):
    THREAD = "THREAD"
    REPLY = "REPLY"
    USER = "USER"


class Action(StrEnum):
    WARN = "WARN"
    SOFT_DELETE = "SOFT_DELETE"
    RESTORE = "RESTORE"
    BAN = "BAN"
    UNBAN = "UNBAN"
    DISMISS = "DISMISS"
    LOCK = "LOCK"
    UNLOCK = "UNLOCK"
    PIN = "PIN"
    UNPIN = "UNPIN"


_CONTENT_ONLY = {Action.SOFT_DELETE, Action.RESTORE, Action.DISMISS}
_THREAD_ONLY = {Action.LOCK, Action.UNLOCK, Action.PIN, Action.UNPIN}


@dataclass
class QueueItem:
    target_type: TargetType
    target_id: uuid.UUID
    thread_id: uuid.UUID
    reply_id: uuid.UUID | None
    reports: list[Report] = field(default_factory=list)

    @property
    def first_reported_at(self) -> datetime:
        return self.reports[0].created_at


async def _content(
    session: AsyncSession, target_type: TargetType, target_id: uuid.UUID
) -> Thread | Reply:
    if target_type is TargetType.THREAD:
        return await forum.get_thread(session, target_id, field="targetId")
    return await forum.get_reply(session, target_id, field="targetId")


async def report(
    session: AsyncSession,
    reporter_id: uuid.UUID,
    target_type: TargetType,
    target_id: uuid.UUID,
    reason: ReportReason,
    note: str,
) -> Report:
    await reputation.ensure_can_participate(session, reporter_id)
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise ValidationFailed(f"note must be at most {MAX_NOTE} characters", field="note")
    if reason is ReportReason.OTHER and not note:
        raise ValidationFailed("say what is wrong in the note", field="note")
    content = await _content(session, target_type, target_id)
    if content.deleted_at is not None:
        raise DomainError("this content was already removed", field="targetId", code="REMOVED")
    if content.author_id == reporter_id:
        raise DomainError("you cannot report your own post", field="targetId", code="SELF_REPORT")
    row = Report(
        tenant_id=session.info["tenant_id"],
        reporter_id=reporter_id,
        target_type=target_type.value,
        target_id=target_id,
        thread_id=content.id if isinstance(content, Thread) else content.thread_id,
        reply_id=content.id if isinstance(content, Reply) else None,
        reason=reason.value,
        note=note,
    )
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as e:
        raise Conflict(
            "you already reported this; a moderator will look at it",
            field="targetId",
            code="ALREADY_REPORTED",
        ) from e
    await session.refresh(row)
    await outbox.emit(
        session,
        TOPIC,
        "report.filed",
        {
            "report_id": row.id,
            "thread_id": row.thread_id,
            "target_type": row.target_type,
            "target_id": target_id,
            "reason": row.reason,
            "reporter_id": reporter_id,
        },
    )
    return row


async def queue(session: AsyncSession, status: ReportStatus, limit: int) -> list[QueueItem]:
    """Reports grouped by target, the longest-waiting target first."""
    rows = await session.scalars(
        select(Report)
        .where(Report.status == status.value)
        .order_by(Report.created_at, Report.id)
        .limit(QUEUE_SCAN)
    )
    groups: dict[uuid.UUID, QueueItem] = {}
    for r in rows:
        item = groups.get(r.target_id)
        if item is None:
            if len(groups) >= limit:
                continue
            item = groups[r.target_id] = QueueItem(
                TargetType(r.target_type), r.target_id, r.thread_id, r.reply_id
            )
        item.reports.append(r)
    return list(groups.values())


async def _settle_reports(
    session: AsyncSession, target_id: uuid.UUID, moderator_id: uuid.UUID, status: ReportStatus
) -> int:
    result = await session.execute(
        update(Report)
        .where(Report.target_id == target_id, Report.status == ReportStatus.OPEN.value)
        .values(status=status.value, resolved_at=utcnow(), resolved_by=moderator_id)
        .returning(Report.id)
    )
    return len(result.all())


async def moderate(
    session: AsyncSession,
    moderator_id: uuid.UUID,
    *,
    action: Action,
    reason: str,
    report_id: uuid.UUID | None,
    target_type: ModerationTarget | None,
    target_id: uuid.UUID | None,
) -> ModerationAction:
    reason = reason.strip()
    if not 1 <= len(reason) <= MAX_NOTE:
        raise ValidationFailed(f"give a reason (1-{MAX_NOTE} characters)", field="reason")
    if (report_id is None) == (target_id is None or target_type is None):
        raise ValidationFailed("give either a reportId or a target", field="reportId")
    if report_id is not None:
        rep = await session.scalar(select(Report).where(Report.id == report_id))
        if rep is None:
            raise NotFound("no such report", field="reportId")
        target_type, target_id = ModerationTarget(rep.target_type), rep.target_id
    assert target_type is not None and target_id is not None
    content: Thread | Reply | None = None
    if target_type is ModerationTarget.USER:
        if action in _CONTENT_ONLY | _THREAD_ONLY:
            raise ValidationFailed(f"{action.value} applies to a thread or reply", field="action")
        subject = target_id
        if await session.scalar(select(User.id).where(User.id == subject)) is None:
            raise NotFound("no such user", field="targetId")
    else:
        content = await _content(session, TargetType(target_type.value), target_id)
        subject = content.author_id
        if action in _THREAD_ONLY and not isinstance(content, Thread):
            raise ValidationFailed(f"{action.value} applies to a thread", field="action")

    if action is Action.BAN:
        roles = await session.scalar(select(User.roles).where(User.id == subject)) or []
        if {Role.ADMIN.value, Role.MODERATOR.value} & set(roles):
            raise Forbidden("staff accounts cannot be banned", code="CANNOT_BAN_STAFF")
    settle = ReportStatus.DISMISSED if action is Action.DISMISS else ReportStatus.RESOLVED
    settled = 0
    if content is not None:
        settled = await _settle_reports(session, content.id, moderator_id, settle)
        if action is Action.DISMISS and settled == 0:
            raise DomainError(
                "there are no open reports to dismiss", field="reportId", code="NOTHING_TO_DISMISS"
            )
    await _apply(session, action, content, subject, moderator_id, reason)

    record = ModerationAction(
        tenant_id=session.info["tenant_id"],
        moderator_id=moderator_id,
        action=action.value,
        target_type=target_type.value,
        target_id=target_id,
        subject_user_id=subject,
        report_id=report_id,
        reason=reason,
    )
    session.add(record)
    await session.flush()
    await session.refresh(record)
    thread_id = None
    if content is not None:
        thread_id = content.id if isinstance(content, Thread) else content.thread_id
    await outbox.emit(
        session,
        TOPIC,
        "moderation.action",
        {
            "action_id": record.id,
            "action": action.value,
            "target_type": target_type.value,
            "target_id": target_id,
            "thread_id": thread_id,
            "subject_user_id": subject,
            "moderator_id": moderator_id,
            "report_id": report_id,
            "reports_settled": settled,
        },
    )
    return record


async def _apply(
    session: AsyncSession,
    action: Action,
    content: Thread | Reply | None,
    subject: uuid.UUID,
    moderator_id: uuid.UUID,
    reason: str,
) -> None:
    if action is Action.WARN:
        await reputation.warn(session, subject)
    elif action is Action.BAN:
        # A ban suspends the account (docs/security.md): no log-in, no refresh, and its
        # sessions end now, on every instance.
        await reputation.set_banned(session, subject, banned=True, reason=reason)
        await accounts.revoke_sessions(session, subject)
    elif action is Action.UNBAN:
        await reputation.set_banned(session, subject, banned=False, reason=reason)
        authz.changed(session, subject)
    elif action in (Action.SOFT_DELETE, Action.RESTORE):
        deleted = action is Action.SOFT_DELETE
        if content is not None and (content.deleted_at is not None) != deleted:
            if isinstance(content, Thread):
                await forum.set_thread_deleted(session, content, moderator_id, deleted=deleted)
            else:
                await forum.set_reply_deleted(session, content, moderator_id, deleted=deleted)
    elif isinstance(content, Thread):
        if action is Action.LOCK:
            content.status = forum.ThreadStatus.LOCKED.value
        elif action is Action.UNLOCK and content.status == forum.ThreadStatus.LOCKED:
            solved = content.accepted_reply_id is not None
            content.status = (
                forum.ThreadStatus.SOLVED if solved else forum.ThreadStatus.OPEN
            ).value
        elif action in (Action.PIN, Action.UNPIN):
            content.pinned = action is Action.PIN
        await session.flush()


async def actions_log(
    session: AsyncSession, *, target_id: uuid.UUID | None, limit: int
) -> list[ModerationAction]:
    q = select(ModerationAction)
    if target_id is not None:
        q = q.where(ModerationAction.target_id == target_id)
    q = q.order_by(ModerationAction.created_at.desc(), ModerationAction.id.desc()).limit(limit)
    return list(await session.scalars(q))
