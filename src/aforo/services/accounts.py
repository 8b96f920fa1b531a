"""Developer accounts: sign-up, log-in, rotating refresh tokens, roles."""

from __future__ import annotations

import asyncio
import functools
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.db import records_by_ids, utcnow
from aforo.errors import Conflict, NotFound, Unauthenticated, ValidationFailed
from aforo.models.accounts import RefreshToken, User
from aforo.services import outbox
from aforo.tenancy.context import Role
from aforo.tenancy.hashing import sha256

# argon2id; RFC 9106's second recommended option, lighter on memory for a shared web node.
_hasher = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=1)


@functools.cache
def _dummy_hash() -> str:
    """What an unknown email's log-in verifies against (same cost as a real one). Made on
    first use: at import it cost every worker process and CLI command most of a second."""
    return _hasher.hash(secrets.token_urlsafe(16))


_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
MIN_PASSWORD, MAX_PASSWORD = 10, 256
REFRESH_PREFIX = "rt_"


@dataclass(frozen=True)
class IssuedSession:
    user: User
    refresh_token: str  # raw, returned once
    family_id: uuid.UUID


def normalize_email(email: str) -> str:
    return email.strip().lower()


def validate_sign_up(email: str, password: str, name: str) -> None:
    if len(email) > 320 or not _EMAIL.match(email):
        raise ValidationFailed("enter a valid email address", field="email")
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(
            f"password must be at least {MIN_PASSWORD} characters", field="password"
        )
    if len(password) > MAX_PASSWORD:
        raise ValidationFailed(
            f"password must be at most {MAX_PASSWORD} characters", field="password"
        )
    if not name.strip() or len(name) > 200:
        raise ValidationFailed("name must be 1-200 characters", field="name")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def _verify_password(password_hash: str | None, password: str) -> bool:
    """``password`` against ``password_hash``, or against a dummy hash when there is none (an
    unknown account: same cost, no user enumeration), off the event loop."""

    def check() -> bool:
        return bool(_hasher.verify(password_hash or _dummy_hash(), password))

    try:
        return await asyncio.to_thread(check)
    except (VerificationError, InvalidHashError):
        return False


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    name: str,
    roles: list[Role] | None = None,
) -> User:
    email = normalize_email(email)
    validate_sign_up(email, password, name)
    if await session.scalar(select(User.id).where(User.email == email)):
        raise Conflict("an account with this email exists", field="email")
    user = User(
        tenant_id=session.info["tenant_id"],
        email=email,
        name=name.strip(),
        password_hash=await hash_password(password),
        roles=[r.value for r in (roles or [Role.DEVELOPER])],
    )
    session.add(user)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as e:  # a concurrent sign-up with the same email
        raise Conflict("an account with this email exists", field="email") from e
    await outbox.emit(session, "aforo.accounts.events", "user.created", {"user_id": user.id})
    return user


async def _issue(session: AsyncSession, user: User, family_id: uuid.UUID, ttl_s: int) -> str:
    raw = REFRESH_PREFIX + secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            tenant_id=user.tenant_id,
            user_id=user.id,
            family_id=family_id,
            token_hash=sha256(raw),
            expires_at=utcnow() + timedelta(seconds=ttl_s),
        )
    )
    await session.flush()
    return raw


async def sign_up(
    session: AsyncSession, *, email: str, password: str, name: str, refresh_ttl_s: int
) -> IssuedSession:
    user = await create_user(session, email=email, password=password, name=name)
    family = uuid.uuid4()
    return IssuedSession(user, await _issue(session, user, family, refresh_ttl_s), family)


async def log_in(
    session: AsyncSession, *, email: str, password: str, refresh_ttl_s: int
) -> IssuedSession:
    user = await session.scalar(select(User).where(User.email == normalize_email(email)))
    ok = await _verify_password(user.password_hash if user else None, password[:MAX_PASSWORD])
    if user is None or not ok:
        raise Unauthenticated("email or password is incorrect", code="INVALID_CREDENTIALS")
    family = uuid.uuid4()
    return IssuedSession(user, await _issue(session, user, family, refresh_ttl_s), family)


async def refresh(session: AsyncSession, *, token: str, refresh_ttl_s: int) -> IssuedSession:
    """Spend a refresh token for a new one. Presenting a spent token revokes its family."""
    row = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == sha256(token)).with_for_update()
    )
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise Unauthenticated("refresh token is invalid or expired", code="INVALID_TOKEN")
    if row.used_at is not None:
        await revoke_family(session, row.family_id)
        raise Unauthenticated(
            "refresh token was already used; this session has been signed out",
            code="TOKEN_REUSED",
        )
    row.used_at = now
    user = await session.scalar(select(User).where(User.id == row.user_id))
    if user is None:
        raise Unauthenticated("account no longer exists", code="INVALID_TOKEN")
    raw = await _issue(session, user, row.family_id, refresh_ttl_s)
    return IssuedSession(user, raw, row.family_id)


async def revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def user_by_id(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.scalar(select(User).where(User.id == user_id))
    if user is None:
        raise NotFound("user not found", field="id")
    return user


class UserRow(NamedTuple):
    """An account as shown (the table's columns, by attribute like the ORM object)."""

    tenant_id: uuid.UUID
    id: uuid.UUID
    email: str
    name: str
    password_hash: str
    roles: list[str]
    created_at: datetime


assert UserRow._fields == tuple(c.key for c in User.__table__.columns), "UserRow != the table"


async def users_by_ids(session: AsyncSession, ids: list[uuid.UUID]) -> list[UserRow | None]:
    """Batch for the ``user_by_id`` dataloader: results in key order."""
    return await records_by_ids(session, User.__table__, UserRow._make, ids)


async def list_users(session: AsyncSession, *, limit: int, offset: int = 0) -> list[User]:
    rows = await session.scalars(
        select(User).order_by(User.created_at, User.id).limit(limit).offset(offset)
    )
    return list(rows)


async def set_roles(session: AsyncSession, user_id: uuid.UUID, roles: list[Role]) -> User:
    if not roles:
        raise ValidationFailed("a user needs at least one role", field="roles")
    user = await user_by_id(session, user_id)
    user.roles = sorted({r.value for r in roles})
    await session.flush()
    await outbox.emit(
        session,
        "aforo.accounts.events",
        "user.roles_changed",
        {"user_id": user.id, "roles": user.roles},
    )
    return user


async def user_by_email(session: AsyncSession, email: str) -> User:
    user = await session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        raise NotFound("no account with that email", field="email")
    return user
