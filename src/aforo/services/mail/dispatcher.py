"""The mail dispatcher: sends due ``mail_jobs`` of every tenant, at least once, in order of
due time; several instances can run side by side.

A claim (``ops.mail_claim``) leases a batch: it counts an attempt and pushes the job's next
attempt a lease into the future, then commits, so no transaction stays open while SMTP talks
and a crashed sender's jobs come back by themselves. For each job, in the tenant's
transaction: mint the link's token (stored hashed) and render the message; then send; then
record the outcome. A failed send waits ``base * 2**(attempt-1)`` (at most an hour) and tries
again; after the last attempt, or at once on a permanent (5xx) refusal, the job is DEAD: a
dead letter admins see (``mailDeliveries``) and can retry. Every job carries a stable
Message-ID, so a receiver can drop the rare repeat (a send whose outcome was lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aforo.config import Settings
from aforo.db import tenant_session, utcnow
from aforo.models.accounts import User
from aforo.models.mail import MailJob
from aforo.runtime.state import Runtime
from aforo.runtime.tasks import stop_tasks
from aforo.services import outbox, verification
from aforo.services.mail import CANCELLED, DEAD, PENDING, SENT, TOPIC, Kind, register_waker
from aforo.services.mail import branding as branding_service
from aforo.services.mail.templates import message_id, render
from aforo.services.mail.transport import Transport, TransportError, transport_for

log = logging.getLogger(__name__)
LEASE_S = 120
MAX_BACKOFF_S = 3600.0


class MailDispatcher:
    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        settings: Settings,
        transport: Transport,
        *,
        poll_s: float = 0.5,
        batch: int = 20,
    ) -> None:
        self.maker = maker
        self.settings = settings
        self.transport = transport
        self.poll_s = poll_s
        self.batch = batch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._retries: list[float] = []  # heap: loop times of retries scheduled here

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mail-dispatcher")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            await stop_tasks([self._task])
        await self.transport.close()

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            # Cleared before the claim, not after: a wake during it must not be lost.
            self._wake.clear()
            try:
                done = await self.run_once()
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the database is away: the jobs wait in it
                log.warning(
                    "mail dispatcher: %s: %s; retrying in %.1fs", type(e).__name__, e, backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if done < self.batch:
                await self._idle()

    async def _idle(self) -> None:
        """Sleep until woken (mail queued here was committed), a retry this dispatcher
        scheduled falls due, or the poll interval passes (mail queued by other instances)."""
        loop = asyncio.get_running_loop()
        wait = self.poll_s
        if self._retries:
            wait = min(wait, max(0.0, self._retries[0] - loop.time()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), wait)
        while self._retries and self._retries[0] <= loop.time():
            heapq.heappop(self._retries)  # due now: the next claim takes it

    async def run_once(self) -> int:
        """Send one batch of due jobs; returns how many were claimed."""
        async with self.maker() as session, session.begin():
            claimed = (
                await session.execute(
                    text("select tenant_id, id from ops.mail_claim(:n, :lease)"),
                    {"n": self.batch, "lease": LEASE_S},
                )
            ).all()
        for tenant_id, job_id in claimed:
            await self._deliver(tenant_id, job_id)
        return len(claimed)

    async def _deliver(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> None:
        claimed: tuple[int, str] | None = None  # (attempts, kind) once the job is read
        try:
            async with tenant_session(self.maker, tenant_id) as session:
                job = await session.scalar(select(MailJob).where(MailJob.id == job_id))
                if job is None or job.status != PENDING:
                    return
                claimed = (job.attempts, job.kind)
                try:
                    message = await self._compose(session, job)
                except verification.Skip as e:
                    await self._finish(session, job, CANCELLED, str(e))
                    return
        except Exception as e:
            if claimed is None:
                raise  # the database itself is away: the lease brings the job back
            # It cannot be composed (data gone bad, a data key missing): an attempt spent.
            log.exception("mail %s (%s) could not be composed", job_id, claimed[1])
            await self._failed(tenant_id, job_id, *claimed, type(e).__name__, False)
            return
        attempts, kind = claimed
        try:
            await self.transport.send(message)
        except TransportError as e:
            await self._failed(tenant_id, job_id, attempts, kind, str(e), e.permanent)
            return
        async with tenant_session(self.maker, tenant_id) as session:
            job = await session.scalar(select(MailJob).where(MailJob.id == job_id))
            if job is not None:
                await self._finish(session, job, SENT, None)

    async def _compose(self, session: AsyncSession, job: MailJob) -> EmailMessage:
        minted = await verification.mint_for_mail(session, job)
        brand = await branding_service.current(session, self.settings)
        name = None
        if job.user_id is not None:
            name = await session.scalar(select(User.name).where(User.id == job.user_id))
        rendered = render(
            Kind(job.kind),
            brand,
            to=job.to_address,
            user_name=name,
            params=job.params,
            token=minted.token,
            expires_in=minted.expires_in,
        )
        return rendered.message(message_id(str(job.id), brand.from_address))

    async def _finish(
        self, session: AsyncSession, job: MailJob, status: str, note: str | None
    ) -> None:
        await session.execute(
            update(MailJob)
            .where(MailJob.id == job.id)
            .values(status=status, sent_at=utcnow() if status == SENT else None, last_error=note)
        )
        event = {SENT: "mail.sent", CANCELLED: "mail.cancelled"}[status]
        await outbox.emit(session, TOPIC, event, {"job_id": job.id, "kind": job.kind})

    async def _failed(
        self,
        tenant_id: uuid.UUID,
        job_id: uuid.UUID,
        attempts: int,
        kind: str,
        error: str,
        permanent: bool,
    ) -> None:
        dead = permanent or attempts >= self.settings.mail_max_attempts
        wait = min(self.settings.mail_retry_base_s * 2 ** (attempts - 1), MAX_BACKOFF_S)
        values: dict[str, Any] = {"last_error": error[:500]}
        if dead:
            values["status"] = DEAD
        else:
            values["next_attempt_at"] = utcnow() + timedelta(seconds=wait)
            heapq.heappush(self._retries, asyncio.get_running_loop().time() + wait)
        log.warning(
            "mail %s (%s) attempt %d failed: %s; %s",
            job_id,
            kind,
            attempts,
            error,
            "dead letter" if dead else f"retrying in {wait:.1f}s",
        )
        async with tenant_session(self.maker, tenant_id) as session:
            await session.execute(update(MailJob).where(MailJob.id == job_id).values(**values))
            if dead:
                await outbox.emit(
                    session,
                    TOPIC,
                    "mail.dead",
                    {"job_id": job_id, "kind": kind, "attempts": attempts},
                )


@contextlib.asynccontextmanager
async def lifespan(runtime: Runtime, state: Any) -> AsyncIterator[None]:
    settings = runtime.settings
    dispatcher = MailDispatcher(
        runtime.maker,
        settings,
        transport_for(settings.smtp_url, settings.mail_dir),
        poll_s=settings.mail_poll_s,
    )
    unregister = register_waker(dispatcher.wake)
    dispatcher.start()
    try:
        yield
    finally:
        unregister()
        await dispatcher.stop()
