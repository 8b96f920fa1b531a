"""Outgoing mail: queued in the transaction of the change that calls for it, sent later.

``queue`` writes a ``mail_jobs`` row and a ``mail.queued`` event in the caller's transaction
(so a rolled-back change sends nothing and a committed one loses nothing); the dispatcher
(``mail.dispatcher``) sends due jobs through SMTP or into ``.eml`` files, retrying with backoff
and leaving the last failure as a dead letter admins can see and retry.

No job, event or log line holds a secret: a mail carrying a link has its token minted by the
dispatcher when it sends (``services.verification.mint_for_mail``) and only its hash stored.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.db import utcnow
from aforo.errors import Conflict, NotFound, RateLimited
from aforo.models.mail import MailJob
from aforo.runtime.state import after_commit
from aforo.services import outbox

TOPIC = "aforo.mail.events"
PENDING, SENT, DEAD, CANCELLED = "PENDING", "SENT", "DEAD", "CANCELLED"
STATUSES = (PENDING, SENT, DEAD, CANCELLED)


class Kind(StrEnum):
    VERIFY_EMAIL = "VERIFY_EMAIL"
    ACCOUNT_EXISTS = "ACCOUNT_EXISTS"  # someone signed up with an address that has an account
    PASSWORD_RESET = "PASSWORD_RESET"  # noqa: S105 (a kind of mail)
    PASSWORD_CHANGED = "PASSWORD_CHANGED"  # noqa: S105
    EMAIL_CHANGE = "EMAIL_CHANGE"  # to the new address: confirm it
    EMAIL_CHANGED = "EMAIL_CHANGED"  # to the old address: it was changed
    TEAM_INVITATION = "TEAM_INVITATION"


@dataclass(frozen=True)
class Cooldown:
    """At most one mail of a kind to an account per ``interval_s``, and ``per_day`` a day."""

    interval_s: int
    per_day: int


# Dispatchers of this process (each on its event loop), woken when a transaction that
# queued mail commits.
_wakers: set[tuple[asyncio.AbstractEventLoop, Callable[[], None]]] = set()


def register_waker(wake: Callable[[], None]) -> Callable[[], None]:
    entry = (asyncio.get_running_loop(), wake)
    _wakers.add(entry)
    return lambda: _wakers.discard(entry)


async def _wake() -> None:
    current = asyncio.get_running_loop()
    for loop, wake in list(_wakers):
        if loop is current:
            wake()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(wake)


async def check_cooldown(
    session: AsyncSession, user_id: uuid.UUID, kind: Kind, rule: Cooldown
) -> None:
    """Raise ``RateLimited`` (with when to retry) if the account had too many such mails."""
    now = utcnow()
    day_ago = now - timedelta(days=1)
    row = (
        await session.execute(
            select(func.count(), func.min(MailJob.created_at), func.max(MailJob.created_at)).where(
                MailJob.user_id == user_id, MailJob.kind == kind.value, MailJob.created_at > day_ago
            )
        )
    ).one()
    count, first, last = row
    if last is not None and (now - last).total_seconds() < rule.interval_s:
        wait = rule.interval_s - (now - last).total_seconds()
        raise RateLimited(
            f"a mail was sent less than {rule.interval_s} seconds ago; wait before asking again",
            retry_after=int(wait) + 1,
        )
    if count >= rule.per_day and first is not None:
        wait = (first + timedelta(days=1) - now).total_seconds()
        raise RateLimited(
            f"at most {rule.per_day} such mails a day; try again later", retry_after=int(wait) + 1
        )


async def queue(
    session: AsyncSession,
    kind: Kind,
    *,
    to: str,
    user_id: uuid.UUID | None,
    params: dict[str, Any] | None = None,
    cooldown: Cooldown | None = None,
) -> MailJob:
    """Queue one mail in the caller's transaction. ``params`` must hold no secret."""
    if cooldown is not None and user_id is not None:
        await check_cooldown(session, user_id, kind, cooldown)
    job = MailJob(
        tenant_id=session.info["tenant_id"],
        id=uuid.uuid4(),
        kind=kind.value,
        user_id=user_id,
        to_address=to,
        params=params or {},
        status=PENDING,
        attempts=0,
        next_attempt_at=utcnow(),
        created_at=utcnow(),
    )
    session.add(job)
    await session.flush()
    await outbox.emit(
        session, TOPIC, "mail.queued", {"job_id": job.id, "kind": kind.value, "user_id": user_id}
    )
    after_commit(session, _wake)
    return job


async def list_jobs(
    session: AsyncSession, *, status: str | None, limit: int, offset: int = 0
) -> list[MailJob]:
    q = select(MailJob)
    if status is not None:
        q = q.where(MailJob.status == status)
    q = q.order_by(MailJob.created_at.desc(), MailJob.id).limit(limit).offset(offset)
    return list(await session.scalars(q))


async def retry_job(session: AsyncSession, job_id: uuid.UUID) -> MailJob:
    """Give a dead letter a fresh set of attempts."""
    job = await session.scalar(select(MailJob).where(MailJob.id == job_id).with_for_update())
    if job is None:
        raise NotFound("no mail with that id", field="id")
    if job.status != DEAD:
        raise Conflict("only a mail that failed for good can be retried", field="id")
    await session.execute(
        update(MailJob)
        .where(MailJob.id == job_id)
        .values(status=PENDING, attempts=0, next_attempt_at=utcnow(), last_error=None)
    )
    await session.refresh(job)
    await outbox.emit(session, TOPIC, "mail.retried", {"job_id": job.id, "kind": job.kind})
    after_commit(session, _wake)
    return job
