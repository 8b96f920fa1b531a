"""Developer accounts: sign-up, log-in, rotating refresh tokens, roles, removal.

Sessions (refresh-token families) end through one function, ``revoke_sessions``: log-out, a
reused refresh token, a ban, a removal (and the accounts issue's password reset and session
list). It also tells every instance, so the session's access tokens are refused on their next
request and its live subscriptions are closed (``services/authz.py``).
"""

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
from sqlalchemy import any_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.db import records_by_ids, utcnow
from aforo.errors import Conflict, Forbidden, NotFound, Unauthenticated, ValidationFailed
from aforo.models.accounts import RefreshToken, User
from aforo.services import authz, outbox
from aforo.services.passwords import MAX_PASSWORD, check_password
from aforo.tenancy.context import Role
from aforo.tenancy.hashing import sha256
from aforo.text import normalize_identifier

# argon2id; RFC 9106's second recommended option, lighter on memory for a shared web node.
_hasher = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=1)


@functools.cache
def _dummy_hash() -> str:
    """What an unknown email's log-in verifies against (same cost as a real one). Made on
    first use: at import it cost every worker process and CLI command most of a second."""
    return _hasher.hash(secrets.token_urlsafe(16))


_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
REFRESH_PREFIX = "rt_"
TOPIC = "aforo.accounts.events"


@dataclass(frozen=True)
class IssuedSession:
    user: User
    refresh_token: str  # raw, returned once
    family_id: uuid.UUID


def normalize_email(email: str) -> str:
    """NFKC, trimmed, lower case; invisible and control characters refused (field ``email``)."""
    if len(email) > 320:
        raise ValidationFailed("enter a valid email address", field="email")
    return normalize_identifier(email, "email")


def validate_sign_up(email: str, password: str, name: str) -> None:
    """``email`` normalised already."""
    validate_email(email)
    if not name.strip() or len(name) > 200:
        raise ValidationFailed("name must be 1-200 characters", field="name")
    if any(c in name for c in "\r\n\t"):
        raise ValidationFailed("name must be one line", field="name")
    validate_password(password, user_inputs=(email, name))


def validate_email(email: str, field: str = "email") -> None:
    if len(email) > 320 or not _EMAIL.match(email):
        raise ValidationFailed("enter a valid email address", field=field)


def validate_password(
    password: str, field: str = "password", user_inputs: tuple[str, ...] = ()
) -> None:
    """Every place a password is chosen (sign-up, reset) checks it here: the strength rules of
    ``services.passwords``, knowing the account's email and name."""
    check_password(password, user_inputs=user_inputs, field=field)


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


async def password_matches(user: User, password: str) -> bool:
    """Re-authentication of a signed-in account (before it changes its email or 2FA)."""
    return await _verify_password(user.password_hash, password[:MAX_PASSWORD])


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    name: str,
    roles: list[Role] | None = None,
    verified: bool = False,
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
        email_verified_at=utcnow() if verified else None,
    )
    session.add(user)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as e:  # a concurrent sign-up with the same email
        raise Conflict("an account with this email exists", field="email") from e
    await outbox.emit(session, TOPIC, "user.created", {"user_id": user.id})
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


async def new_session(session: AsyncSession, user: User, refresh_ttl_s: int) -> IssuedSession:
    """A new refresh-token family for a user who has proved who they are."""
    family = uuid.uuid4()
    return IssuedSession(user, await _issue(session, user, family, refresh_ttl_s), family)


INVALID_CREDENTIALS = "INVALID_CREDENTIALS"


async def authenticate(session: AsyncSession, *, email: str, password: str) -> User:
    """The password step of logging in (a second factor may follow: services.signin)."""
    user = await session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is not None and user.removed_at is not None:
        user = None  # a removed account is no account
    ok = await _verify_password(user.password_hash if user else None, password[:MAX_PASSWORD])
    if user is None or not ok:
        raise Unauthenticated("email or password is incorrect", code=INVALID_CREDENTIALS)
    # Only the password's holder learns of a ban.
    if await authz.is_banned(session, user.id):
        raise Forbidden("this account is suspended", code="ACCOUNT_DISABLED")
    return user


async def refresh(session: AsyncSession, *, token: str, refresh_ttl_s: int) -> IssuedSession:
    """Spend a refresh token for a new one. Presenting a spent token revokes its family."""
    row = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == sha256(token)).with_for_update()
    )
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise Unauthenticated("refresh token is invalid or expired", code="INVALID_TOKEN")
    if row.used_at is not None:
        await revoke_sessions(session, row.user_id, [row.family_id])
        raise Unauthenticated(
            "refresh token was already used; this session has been signed out",
            code="TOKEN_REUSED",
        )
    row.used_at = now
    user = await session.scalar(select(User).where(User.id == row.user_id))
    if user is None:
        raise Unauthenticated("account no longer exists", code="INVALID_TOKEN")
    if authz.disabled_reason(user, await authz.is_banned(session, user.id)) is not None:
        await revoke_sessions(session, user.id, [row.family_id])
        raise Unauthenticated("this account is suspended or removed", code="ACCOUNT_DISABLED")
    raw = await _issue(session, user, row.family_id, refresh_ttl_s)
    return IssuedSession(user, raw, row.family_id)


async def revoke_sessions(
    session: AsyncSession, user_id: uuid.UUID, family_ids: list[uuid.UUID] | None = None
) -> int:
    """End sessions of a user: the given refresh-token families, or all of them. The ONE way a
    session ends (log-out, token reuse, ban, removal, password reset, a session list's revoke):
    their refresh tokens stop working, and once the transaction commits every instance refuses
    their access tokens and closes their live subscriptions. Returns how many were live."""
    q = update(RefreshToken).where(
        RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None)
    )
    if family_ids is not None:
        q = q.where(RefreshToken.family_id.in_(family_ids))
    ended = set(
        await session.scalars(q.values(revoked_at=utcnow()).returning(RefreshToken.family_id))
    )
    authz.changed(session, user_id)
    return len(ended)


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
    email_verified_at: datetime | None
    removed_at: datetime | None


assert UserRow._fields == tuple(c.key for c in User.__table__.columns), "UserRow != the table"


async def users_by_ids(session: AsyncSession, ids: list[uuid.UUID]) -> list[UserRow | None]:
    """Batch for the ``user_by_id`` dataloader: results in key order."""
    return await records_by_ids(session, User.__table__, UserRow._make, ids)


async def list_users(session: AsyncSession, *, limit: int, offset: int = 0) -> list[User]:
    rows = await session.scalars(
        select(User)
        .where(User.removed_at.is_(None))
        .order_by(User.created_at, User.id)
        .limit(limit)
        .offset(offset)
    )
    return list(rows)


_IMPLIES = {
    Role.ADMIN.value: {Role.ADMIN.value, Role.MODERATOR.value, Role.DEVELOPER.value},
    Role.MODERATOR.value: {Role.MODERATOR.value, Role.DEVELOPER.value},
}


def _powers(roles: list[str]) -> set[str]:
    """What a set of roles may do (an admin moderates; everyone is a developer)."""
    out: set[str] = set()
    for r in roles:
        out |= _IMPLIES.get(r, {r})
    return out


async def _keep_an_admin(session: AsyncSession, leaving: uuid.UUID) -> None:
    """Refuse when ``leaving`` is the tenant's last admin. Locks the admins' rows, so two
    admins demoting each other at once cannot both succeed."""
    admins = await session.scalars(
        select(User.id)
        .where(any_(User.roles) == Role.ADMIN.value, User.removed_at.is_(None))
        .with_for_update()
    )
    if set(admins) <= {leaving}:
        raise Conflict(
            "the last admin cannot be removed or demoted; make another admin first",
            field="userId",
            code="LAST_ADMIN",
        )


async def set_roles(
    session: AsyncSession, actor_id: uuid.UUID, user_id: uuid.UUID, roles: list[Role]
) -> User:
    if not roles:
        raise ValidationFailed("a user needs at least one role", field="roles")
    user = await user_by_id(session, user_id)
    if user.removed_at is not None:
        raise NotFound("user not found", field="userId")
    wanted = sorted({r.value for r in roles})
    if user.id == actor_id and not _powers(wanted) <= _powers(user.roles):
        raise Forbidden("nobody can raise their own role", field="roles", code="OWN_ROLE")
    if Role.ADMIN.value in user.roles and Role.ADMIN.value not in wanted:
        await _keep_an_admin(session, user.id)
    if wanted == sorted(user.roles):
        return user
    user.roles = wanted
    await session.flush()
    authz.changed(session, user.id)
    await outbox.emit(
        session, TOPIC, "user.roles_changed", {"user_id": user.id, "roles": user.roles}
    )
    return user


async def remove_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    """Remove an account: it can no longer sign in, its sessions end at once. The row stays
    (its posts, keys and records point at it); its email stays taken."""
    user = await user_by_id(session, user_id)
    if user.removed_at is not None:
        raise NotFound("user not found", field="userId")
    if Role.ADMIN.value in user.roles:
        await _keep_an_admin(session, user.id)
    user.removed_at = utcnow()
    await session.flush()
    await revoke_sessions(session, user.id)
    await outbox.emit(session, TOPIC, "user.removed", {"user_id": user.id})
    return user


async def user_by_email(session: AsyncSession, email: str) -> User:
    user = await session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        raise NotFound("no account with that email", field="email")
    return user
