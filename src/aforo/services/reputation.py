"""Votes, accepted answers, reputation and badges.

Reputation: +1 per upvote received, -1 when that upvote is withdrawn or turned down; +5 per
accepted answer, reversed when un-accepted. Votes on your own content are refused, and accepting
your own reply earns nothing. Correct under concurrency: a vote locks its target row (so two
votes by one user on one target serialize, and the target's score is a plain increment), and
reputation is an atomic ``reputation = reputation + d`` upsert, never read-modify-write.
Lock order is always content row, then profile row, so votes and accepts cannot deadlock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.db import utcnow
from aforo.errors import DomainError, Forbidden, NotFound, ValidationFailed
from aforo.models.forum import Badge, Profile, Reply, Thread, Vote
from aforo.services import account_settings, authz, outbox

TOPIC = "aforo.community.events"
UPVOTE_REP = 1
ACCEPTED_REP = 5


class BadgeKind(StrEnum):
    FIRST_POST = "FIRST_POST"
    FIRST_ACCEPTED_ANSWER = "FIRST_ACCEPTED_ANSWER"
    CONTRIBUTOR = "CONTRIBUTOR"
    TRUSTED = "TRUSTED"
    TOP_CONTRIBUTOR = "TOP_CONTRIBUTOR"


@dataclass(frozen=True)
class BadgeSpec:
    kind: BadgeKind
    name: str
    description: str
    min_reputation: int | None = None


# The ladder, lowest first. Reputation badges are kept when reputation later drops.
LADDER: tuple[BadgeSpec, ...] = (
    BadgeSpec(BadgeKind.FIRST_POST, "New Member", "Posted a first thread or reply."),
    BadgeSpec(BadgeKind.FIRST_ACCEPTED_ANSWER, "Problem Solver", "Had a first answer accepted."),
    BadgeSpec(BadgeKind.CONTRIBUTOR, "Contributor", "Reached 10 reputation.", 10),
    BadgeSpec(BadgeKind.TRUSTED, "Trusted", "Reached 100 reputation.", 100),
    BadgeSpec(BadgeKind.TOP_CONTRIBUTOR, "Top Contributor", "Reached 1,000 reputation.", 1000),
)
BADGES = {b.kind: b for b in LADDER}


class TargetType(StrEnum):
    THREAD = "THREAD"
    REPLY = "REPLY"


@dataclass(frozen=True)
class VoteOutcome:
    target_type: TargetType
    target_id: uuid.UUID
    thread_id: uuid.UUID
    score: int
    my_vote: int


# -- profiles and badges ------------------------------------------------------------------------
async def ensure_can_participate(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Banned members cannot post, reply, edit, vote or report (a ban also ends their
    sessions, so this is the last line behind the request-level check); nor can unverified
    accounts, unless the tenant's account policy lets them."""
    await account_settings.require_verified(session, user_id)
    if await authz.is_banned(session, user_id):
        raise Forbidden("your account is banned from the community", code="BANNED")


async def _bump(session: AsyncSession, user_id: uuid.UUID, **deltas: int) -> Profile:
    """Add ``deltas`` to a member's counters atomically, creating the profile on first use,
    then award any badge the new totals reach."""
    values = {"tenant_id": session.info["tenant_id"], "user_id": user_id, **deltas}
    base = insert(Profile).values(values)
    stmt = base.on_conflict_do_update(
        index_elements=[Profile.tenant_id, Profile.user_id],
        # With no deltas the no-op update still locks and returns the row.
        set_={k: getattr(Profile, k) + getattr(base.excluded, k) for k in deltas}
        or {"reputation": Profile.reputation},
    ).returning(Profile)
    result = await session.scalars(stmt, execution_options={"populate_existing": True})
    profile: Profile = result.one()
    earned: list[BadgeKind] = []
    if profile.thread_count + profile.reply_count > 0:
        earned.append(BadgeKind.FIRST_POST)
    if profile.accepted_count > 0:
        earned.append(BadgeKind.FIRST_ACCEPTED_ANSWER)
    earned += [
        b.kind
        for b in LADDER
        if b.min_reputation is not None and profile.reputation >= b.min_reputation
    ]
    if earned:
        new = await session.scalars(
            insert(Badge)
            .values(
                [
                    {"tenant_id": profile.tenant_id, "user_id": user_id, "badge": k.value}
                    for k in earned
                ]
            )
            .on_conflict_do_nothing()
            .returning(Badge.badge)
        )
        for badge in new:
            await outbox.emit(session, TOPIC, "badge.awarded", {"user_id": user_id, "badge": badge})
    return profile


async def count_post(session: AsyncSession, user_id: uuid.UUID, *, thread: bool) -> None:
    await _bump(session, user_id, **{"thread_count" if thread else "reply_count": 1})


async def profiles_by_users(
    session: AsyncSession, user_ids: list[uuid.UUID]
) -> list[Profile | None]:
    rows = await session.scalars(select(Profile).where(Profile.user_id.in_(user_ids)))
    found = {p.user_id: p for p in rows}
    return [found.get(i) for i in user_ids]


async def badges_by_users(session: AsyncSession, user_ids: list[uuid.UUID]) -> list[list[Badge]]:
    rows = await session.scalars(
        select(Badge).where(Badge.user_id.in_(user_ids)).order_by(Badge.awarded_at, Badge.badge)
    )
    found: dict[uuid.UUID, list[Badge]] = {i: [] for i in user_ids}
    for b in rows:
        found[b.user_id].append(b)
    return [found[i] for i in user_ids]


# -- votes --------------------------------------------------------------------------------------
async def _lock_target(
    session: AsyncSession, target_type: TargetType, target_id: uuid.UUID
) -> Thread | Reply:
    row: Thread | Reply | None
    if target_type is TargetType.THREAD:
        row = await session.scalar(
            select(Thread)
            .where(Thread.id == target_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    else:
        row = await session.scalar(
            select(Reply)
            .where(Reply.id == target_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    if row is None:
        raise NotFound(f"no such {target_type.value.lower()}", field="targetId")
    if row.deleted_at is not None:
        raise DomainError("this content was removed", field="targetId", code="REMOVED")
    return row


async def vote(
    session: AsyncSession,
    user_id: uuid.UUID,
    target_type: TargetType,
    target_id: uuid.UUID,
    value: int,
) -> VoteOutcome:
    """Cast (+1 / -1), change or withdraw (0) the caller's one vote on a thread or reply."""
    if value not in (-1, 0, 1):
        raise ValidationFailed("value is 1 (up), -1 (down) or 0 (withdraw)", field="value")
    await ensure_can_participate(session, user_id)
    target = await _lock_target(session, target_type, target_id)
    if target.author_id == user_id:
        raise DomainError("you cannot vote on your own post", field="targetId", code="SELF_VOTE")
    thread_id = target.id if isinstance(target, Thread) else target.thread_id
    old = (
        await session.scalar(
            select(Vote.value).where(Vote.user_id == user_id, Vote.target_id == target_id)
        )
        or 0
    )
    if value == 0:
        await session.execute(
            delete(Vote).where(Vote.user_id == user_id, Vote.target_id == target_id)
        )
    elif value != old:
        stmt = insert(Vote).values(
            tenant_id=session.info["tenant_id"],
            user_id=user_id,
            target_id=target_id,
            thread_id=thread_id,
            reply_id=None if isinstance(target, Thread) else target.id,
            value=value,
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[Vote.tenant_id, Vote.user_id, Vote.target_id],
                set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
            )
        )
    if value != old:
        target.score += value - old
        await session.flush()
    await outbox.emit(
        session,
        TOPIC,
        "vote.cast",
        {
            "thread_id": thread_id,
            "target_type": target_type.value,
            "target_id": target_id,
            "voter_id": user_id,
            "value": value,
            "previous": old,
            "score": target.score,
        },
    )
    rep = UPVOTE_REP * ((value == 1) - (old == 1))
    if rep:  # the event first, then its consequences (a badge, maybe)
        await _bump(session, target.author_id, reputation=rep)
    return VoteOutcome(target_type, target_id, thread_id, target.score, value)


async def my_votes(
    session: AsyncSession, user_id: uuid.UUID, target_ids: list[uuid.UUID]
) -> list[int]:
    rows = await session.execute(
        select(Vote.target_id, Vote.value).where(
            Vote.user_id == user_id, Vote.target_id.in_(target_ids)
        )
    )
    found: dict[uuid.UUID, int] = {r.target_id: r.value for r in rows}
    return [found.get(i, 0) for i in target_ids]


# -- accepted answers ---------------------------------------------------------------------------
async def _lock_thread(session: AsyncSession, thread_id: uuid.UUID) -> Thread:
    thread = await session.scalar(
        select(Thread)
        .where(Thread.id == thread_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if thread is None:
        raise NotFound("no such thread", field="threadId")
    return thread


async def _credit_accept(
    session: AsyncSession, thread: Thread, reply_id: uuid.UUID, sign: int
) -> None:
    author = await session.scalar(select(Reply.author_id).where(Reply.id == reply_id))
    if author is not None and author != thread.author_id:  # no reputation for self-answers
        await _bump(session, author, reputation=sign * ACCEPTED_REP, accepted_count=sign)


def _may_accept(thread: Thread, user_id: uuid.UUID, moderator: bool) -> None:
    if not moderator and thread.author_id != user_id:
        raise Forbidden("only the thread's author or a moderator can do this", code="FORBIDDEN")


async def accept_answer(
    session: AsyncSession, user_id: uuid.UUID, reply_id: uuid.UUID, *, moderator: bool
) -> Thread:
    await ensure_can_participate(session, user_id)
    reply = await session.scalar(select(Reply).where(Reply.id == reply_id))
    if reply is None:
        raise NotFound("no such reply", field="replyId")
    if reply.deleted_at is not None:
        raise DomainError("this reply was removed", field="replyId", code="REMOVED")
    thread = await _lock_thread(session, reply.thread_id)
    _may_accept(thread, user_id, moderator)
    if thread.deleted_at is not None:
        raise DomainError("this thread was removed", field="replyId", code="REMOVED")
    if thread.accepted_reply_id == reply_id:
        return thread
    previous = thread.accepted_reply_id
    if previous is not None:
        await _credit_accept(session, thread, previous, -1)
    thread.accepted_reply_id = reply_id
    if thread.status != "LOCKED":
        thread.status = "SOLVED"
    await session.flush()
    await outbox.emit(
        session,
        TOPIC,
        "answer.accepted",
        {
            "thread_id": thread.id,
            "reply_id": reply_id,
            "previous_reply_id": previous,
            "by": user_id,
        },
    )
    await _credit_accept(session, thread, reply_id, +1)
    return thread


async def unaccept_answer(
    session: AsyncSession, user_id: uuid.UUID, thread_id: uuid.UUID, *, moderator: bool
) -> Thread:
    thread = await _lock_thread(session, thread_id)
    _may_accept(thread, user_id, moderator)
    previous = thread.accepted_reply_id
    if previous is None:
        raise DomainError(
            "this thread has no accepted answer", field="threadId", code="NOT_ACCEPTED"
        )
    thread.accepted_reply_id = None
    if thread.status == "SOLVED":
        thread.status = "OPEN"
    await session.flush()
    await _credit_accept(session, thread, previous, -1)
    await outbox.emit(
        session,
        TOPIC,
        "answer.unaccepted",
        {"thread_id": thread.id, "reply_id": previous, "by": user_id},
    )
    return thread


async def set_banned(
    session: AsyncSession, user_id: uuid.UUID, *, banned: bool, reason: str
) -> Profile:
    profile = await _bump(session, user_id)
    await session.execute(
        update(Profile)
        .where(Profile.user_id == user_id)
        .values(
            is_banned=banned,
            banned_at=utcnow() if banned else None,
            ban_reason=reason if banned else None,
        )
    )
    await session.refresh(profile)
    return profile


async def warn(session: AsyncSession, user_id: uuid.UUID) -> Profile:
    return await _bump(session, user_id, warning_count=1)
