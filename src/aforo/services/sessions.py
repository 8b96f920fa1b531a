"""Signed-in sessions as their user sees them: started where, when, with a second factor or
not; listed and revoked one by one. A session is a refresh-token family (same id); it is live
while the family has an unspent, unrevoked, unexpired token. Revoking goes through
``accounts.revoke_sessions``, like every revocation."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.db import utcnow
from aforo.errors import NotFound
from aforo.models.accounts import RefreshToken, User
from aforo.models.sessions import AccountSession
from aforo.services import account_settings, accounts, outbox
from aforo.tenancy.context import Role

STAFF = frozenset({Role.ADMIN.value, Role.MODERATOR.value})


@dataclass(frozen=True)
class Client:
    """Where a sign-in came from, as the request said (shown to the user, never trusted)."""

    user_agent: str | None = None
    ip_address: str | None = None


async def start(
    session: AsyncSession,
    user: User,
    *,
    refresh_ttl_s: int,
    second_factor: bool,
    client: Client,
) -> accounts.IssuedSession:
    issued = await accounts.new_session(session, user, refresh_ttl_s)
    session.add(
        AccountSession(
            tenant_id=user.tenant_id,
            id=issued.family_id,
            user_id=user.id,
            second_factor=second_factor,
            user_agent=(client.user_agent or "")[:300] or None,
            ip_address=(client.ip_address or "")[:64] or None,
        )
    )
    await session.flush()
    return issued


@dataclass(frozen=True)
class AccessRoles:
    roles: list[str]
    withheld: bool  # staff roles held back: the tenant wants a second factor for them


async def access_roles(session: AsyncSession, user: User, family_id: uuid.UUID) -> AccessRoles:
    """The roles an access token of this session carries. With the tenant's staff policy on,
    staff roles ride only in sessions signed in with a second factor."""
    staff = STAFF & set(user.roles)
    if not staff or not (await account_settings.get(session)).staff_second_factor:
        return AccessRoles(list(user.roles), False)
    with_factor = await session.scalar(
        select(AccountSession.second_factor).where(AccountSession.id == family_id)
    )
    if with_factor:
        return AccessRoles(list(user.roles), False)
    rest = [r for r in user.roles if r not in staff] or [Role.DEVELOPER.value]
    return AccessRoles(rest, True)


@dataclass(frozen=True)
class SessionView:
    id: uuid.UUID
    created_at: datetime
    last_refreshed_at: datetime
    expires_at: datetime
    user_agent: str | None
    ip_address: str | None
    second_factor: bool


async def list_sessions(session: AsyncSession, user_id: uuid.UUID) -> list[SessionView]:
    now = utcnow()
    live = func.bool_or(
        RefreshToken.revoked_at.is_(None)
        & RefreshToken.used_at.is_(None)
        & (RefreshToken.expires_at > now)
    )
    fam = (
        select(
            RefreshToken.family_id.label("id"),
            func.min(RefreshToken.created_at).label("started"),
            func.max(RefreshToken.created_at).label("refreshed"),
            func.max(RefreshToken.expires_at).label("expires"),
        )
        .where(RefreshToken.user_id == user_id)
        .group_by(RefreshToken.family_id)
        .having(live)
        .subquery()
    )
    rows = await session.execute(
        select(fam, AccountSession)
        .outerjoin(
            AccountSession,
            and_(AccountSession.id == fam.c.id, AccountSession.user_id == user_id),
        )
        .order_by(fam.c.refreshed.desc())
        .limit(200)
    )
    out = []
    for r in rows:
        meta: AccountSession | None = r.AccountSession
        out.append(
            SessionView(
                id=r.id,
                created_at=meta.created_at if meta else r.started,
                last_refreshed_at=r.refreshed,
                expires_at=r.expires,
                user_agent=meta.user_agent if meta else None,
                ip_address=meta.ip_address if meta else None,
                second_factor=bool(meta and meta.second_factor),
            )
        )
    return out


async def revoke(session: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
    mine = await session.scalar(
        select(RefreshToken.id)
        .where(RefreshToken.family_id == session_id, RefreshToken.user_id == user_id)
        .limit(1)
    )
    if mine is None:
        raise NotFound("no session of yours with that id", field="id")
    await accounts.revoke_sessions(session, user_id, [session_id])
    await outbox.emit(
        session,
        "aforo.accounts.events",
        "session.revoked",
        {"user_id": user_id, "session_id": session_id},
    )
