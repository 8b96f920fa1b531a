"""Mailed account tokens and what they prove: a verified address (sign-up), a password reset,
a confirmed change of address. Also ``sign_up``, which answers the same whether or not the
address has an account (its owner gets a mail instead).

Tokens are single-use and expiring, and only their SHA-256 is stored. They are minted by the
mail dispatcher at send time (``mint_for_mail``), never when the mail is queued: the queue,
its events and the database never see a raw token, and a mail delayed by an SMTP outage
still carries a link of full lifetime.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.db import utcnow
from aforo.errors import Conflict, DomainError, RateLimited, Unauthenticated, ValidationFailed
from aforo.models.accounts import User
from aforo.models.mail import MailJob
from aforo.models.teams import TeamInvitation
from aforo.models.totp import LoginChallenge
from aforo.models.verification import AccountToken
from aforo.services import accounts, mail, outbox
from aforo.services.mail import Cooldown, Kind
from aforo.tenancy.hashing import base62, sha256

TOPIC = "aforo.accounts.events"
TOKEN_PREFIX = "at_"  # noqa: S105 (a prefix)
VERIFY_EMAIL, RESET_PASSWORD, CHANGE_EMAIL = "VERIFY_EMAIL", "RESET_PASSWORD", "CHANGE_EMAIL"
TEAM_INVITATION = "TEAM_INVITATION"
LIFETIME = {
    VERIFY_EMAIL: timedelta(hours=24),
    RESET_PASSWORD: timedelta(hours=1),
    CHANGE_EMAIL: timedelta(hours=24),
}
# Resend / request rules, counted from the mail_jobs rows of the account (in the database, so
# they hold across instances and restarts).
RESEND_VERIFICATION = Cooldown(interval_s=60, per_day=10)
RESET_REQUESTS = Cooldown(interval_s=60, per_day=10)
ACCOUNT_EXISTS_NOTICES = Cooldown(interval_s=600, per_day=5)
EMAIL_CHANGE_REQUESTS = Cooldown(interval_s=60, per_day=10)


def _invalid() -> DomainError:
    return DomainError(
        "this link is invalid, has expired or was already used", field="token", code="INVALID_TOKEN"
    )


def human(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    if hours >= 48:
        return f"{hours // 24} days"
    if hours >= 2:
        return f"{hours} hours"
    minutes = max(1, int(delta.total_seconds() // 60))
    return f"{minutes} minutes" if minutes != 60 else "1 hour"


# -- minting and spending tokens -------------------------------------------------------------
@dataclass(frozen=True)
class Minted:
    token: str | None  # raw, for the mail being sent; never stored
    expires_in: str | None


async def _mint(
    session: AsyncSession,
    purpose: str,
    *,
    user_id: uuid.UUID | None,
    email: str,
    expires_at: datetime,
    job_id: uuid.UUID,
    invitation_id: uuid.UUID | None = None,
) -> str:
    raw = TOKEN_PREFIX + base62(32)
    session.add(
        AccountToken(
            tenant_id=session.info["tenant_id"],
            purpose=purpose,
            user_id=user_id,
            email=email,
            invitation_id=invitation_id,
            mail_job_id=job_id,
            token_hash=sha256(raw),
            expires_at=expires_at,
        )
    )
    await session.flush()
    return raw


class Skip(Exception):
    """The mail is moot by now (address verified already, invitation revoked...)."""


async def mint_for_mail(session: AsyncSession, job: MailJob) -> Minted:
    """At send time: the token a queued mail's link needs (if any), stored hashed in the
    dispatcher's transaction before the mail leaves. Raises ``Skip`` for a moot mail."""
    kind, now = Kind(job.kind), utcnow()
    user = await session.scalar(select(User).where(User.id == job.user_id)) if job.user_id else None
    if kind is Kind.TEAM_INVITATION:
        inv = await session.scalar(
            select(TeamInvitation).where(
                TeamInvitation.id == uuid.UUID(job.params["invitation_id"])
            )
        )
        if inv is None or inv.revoked_at or inv.accepted_at or inv.expires_at <= now:
            raise Skip("the invitation is no longer open")
        raw = await _mint(
            session,
            TEAM_INVITATION,
            user_id=None,
            email=inv.email,
            expires_at=inv.expires_at,
            job_id=job.id,
            invitation_id=inv.id,
        )
        return Minted(raw, human(inv.expires_at - now))
    purpose = {
        Kind.VERIFY_EMAIL: VERIFY_EMAIL,
        Kind.PASSWORD_RESET: RESET_PASSWORD,
        Kind.EMAIL_CHANGE: CHANGE_EMAIL,
    }.get(kind)
    if purpose is None:
        return Minted(None, None)
    if user is None:
        raise Skip("the account is gone")
    if purpose == VERIFY_EMAIL and (user.email_verified_at or user.email != job.to_address):
        raise Skip("the address is verified already, or no longer the account's")
    if purpose == RESET_PASSWORD and user.email != job.to_address:
        raise Skip("the account's address changed since")
    life = LIFETIME[purpose]
    raw = await _mint(
        session,
        purpose,
        user_id=user.id,
        email=job.to_address,
        expires_at=now + life,
        job_id=job.id,
    )
    return Minted(raw, human(life))


async def consume(session: AsyncSession, raw: str, purpose: str) -> AccountToken:
    """Spend a token: it must exist in this tenant, be of ``purpose``, unused and unexpired."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 100:
        raise _invalid()
    row = await session.scalar(
        select(AccountToken).where(AccountToken.token_hash == sha256(raw)).with_for_update()
    )
    if row is None or row.purpose != purpose or row.used_at or row.expires_at <= utcnow():
        raise _invalid()
    row.used_at = utcnow()
    await session.flush()
    return row


async def _spend_others(session: AsyncSession, user_id: uuid.UUID, *purposes: str) -> None:
    """Links of these purposes still out for the account stop working."""
    await session.execute(
        update(AccountToken)
        .where(
            AccountToken.user_id == user_id,
            AccountToken.purpose.in_(purposes),
            AccountToken.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )


async def _locked_user(session: AsyncSession, user_id: uuid.UUID | None) -> User:
    user = await session.scalar(select(User).where(User.id == user_id).with_for_update())
    if user is None:
        raise _invalid()
    return user


# -- sign-up and verification ----------------------------------------------------------------
async def sign_up(session: AsyncSession, *, email: str, password: str, name: str) -> str:
    """Create an account and mail a verification link; if the address has an account, mail
    its owner instead. Same answer, same work (one password hash) either way."""
    email = accounts.normalize_email(email)
    accounts.validate_sign_up(email, password, name)
    existing = await session.scalar(select(User).where(User.email == email))
    if existing is None:
        try:
            async with session.begin_nested():
                user = await accounts.create_user(
                    session, email=email, password=password, name=name
                )
        except Conflict:  # a concurrent sign-up with the same address won
            existing = await session.scalar(select(User).where(User.email == email))
        else:
            await mail.queue(session, Kind.VERIFY_EMAIL, to=user.email, user_id=user.id)
            return email
    await accounts.hash_password(password)  # the cost a new account pays: no timing tell
    if existing is not None:
        unverified = existing.email_verified_at is None
        with contextlib.suppress(RateLimited):  # silently: the answer must not differ
            await mail.queue(
                session,
                Kind.VERIFY_EMAIL if unverified else Kind.ACCOUNT_EXISTS,
                to=existing.email,
                user_id=existing.id,
                cooldown=RESEND_VERIFICATION if unverified else ACCOUNT_EXISTS_NOTICES,
            )
    return email


async def resend_verification(session: AsyncSession, user_id: uuid.UUID) -> MailJob:
    user = await session.scalar(select(User).where(User.id == user_id))
    if user is None:
        raise Unauthenticated("account no longer exists", code="INVALID_TOKEN")
    if user.email_verified_at is not None:
        raise Conflict("your address is verified already", code="ALREADY_VERIFIED")
    return await mail.queue(
        session, Kind.VERIFY_EMAIL, to=user.email, user_id=user.id, cooldown=RESEND_VERIFICATION
    )


async def verify_email(session: AsyncSession, raw: str) -> User:
    token = await consume(session, raw, VERIFY_EMAIL)
    user = await _locked_user(session, token.user_id)
    if user.email != token.email:
        raise _invalid()
    user.email_verified_at = user.email_verified_at or utcnow()
    await _spend_others(session, user.id, VERIFY_EMAIL)
    await session.flush()
    await outbox.emit(session, TOPIC, "user.email_verified", {"user_id": user.id})
    return user


# -- password reset --------------------------------------------------------------------------
async def request_password_reset(session: AsyncSession, email: str) -> None:
    """Mail a reset link if the address has an account. The answer never says which."""
    email = accounts.normalize_email(email)
    if len(email) > 320:
        raise ValidationFailed("enter a valid email address", field="email")
    user = await session.scalar(select(User).where(User.email == email))
    if user is None:
        return
    with contextlib.suppress(RateLimited):  # silently: a typed refusal would tell
        await mail.queue(
            session, Kind.PASSWORD_RESET, to=user.email, user_id=user.id, cooldown=RESET_REQUESTS
        )


async def reset_password(session: AsyncSession, raw: str, new_password: str) -> User:
    """Set a new password, sign the account out everywhere and tell its owner by mail."""
    token = await consume(session, raw, RESET_PASSWORD)
    user = await _locked_user(session, token.user_id)
    if user.email != token.email:
        raise _invalid()
    accounts.validate_password(
        new_password, field="newPassword", user_inputs=(user.email, user.name)
    )
    user.password_hash = await accounts.hash_password(new_password)
    user.email_verified_at = user.email_verified_at or utcnow()  # the link proved the mailbox
    await _spend_others(session, user.id, RESET_PASSWORD)
    # Pending second-factor steps began with the old password.
    await session.execute(
        update(LoginChallenge)
        .where(LoginChallenge.user_id == user.id, LoginChallenge.used_at.is_(None))
        .values(used_at=utcnow())
    )
    ended = await accounts.revoke_sessions(session, user.id)
    await session.flush()
    await mail.queue(session, Kind.PASSWORD_CHANGED, to=user.email, user_id=user.id)
    await outbox.emit(
        session, TOPIC, "user.password_reset", {"user_id": user.id, "sessions_ended": ended}
    )
    return user


# -- change of address -----------------------------------------------------------------------
async def request_email_change(
    session: AsyncSession, user_id: uuid.UUID, *, new_email: str, password: str
) -> str:
    user = await session.scalar(select(User).where(User.id == user_id))
    if user is None or not await accounts.password_matches(user, password):
        raise Unauthenticated(
            "the password is incorrect", field="password", code="INVALID_CREDENTIALS"
        )
    new_email = accounts.normalize_email(new_email)
    accounts.validate_email(new_email, field="newEmail")
    if new_email == user.email:
        raise ValidationFailed("that is your current address", field="newEmail")
    # Mailed whether or not the address is taken: only its mailbox learns, at confirmation.
    await mail.queue(
        session,
        Kind.EMAIL_CHANGE,
        to=new_email,
        user_id=user.id,
        params={"new_email": new_email},
        cooldown=EMAIL_CHANGE_REQUESTS,
    )
    return new_email


async def confirm_email_change(session: AsyncSession, raw: str) -> User:
    token = await consume(session, raw, CHANGE_EMAIL)
    user = await _locked_user(session, token.user_id)
    old = user.email
    if await session.scalar(select(User.id).where(User.email == token.email, User.id != user.id)):
        raise Conflict("that address belongs to another account now", field="token")
    user.email, user.email_verified_at = token.email, utcnow()
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as e:
        raise Conflict("that address belongs to another account now", field="token") from e
    await _spend_others(session, user.id, CHANGE_EMAIL, VERIFY_EMAIL, RESET_PASSWORD)
    await mail.queue(
        session, Kind.EMAIL_CHANGED, to=old, user_id=user.id, params={"new_email": user.email}
    )
    await outbox.emit(session, TOPIC, "user.email_changed", {"user_id": user.id})
    return user
