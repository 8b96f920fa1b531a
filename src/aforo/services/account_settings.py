"""A tenant's account policy: what unverified accounts may do, and whether staff roles need a
second factor. ``require_verified`` is the one gate every "write" a verified address is needed
for goes through (subscriptions, keys, forum posts, teams)."""

from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.db import utcnow
from aforo.errors import Forbidden
from aforo.models.account_settings import AccountSettings
from aforo.models.accounts import User
from aforo.services import outbox


class UnverifiedAccess(StrEnum):
    READ_ONLY = "READ_ONLY"  # sign in, read docs and the forum; no keys, subscriptions, posts
    FULL = "FULL"  # everything a verified account may do
    NO_SIGN_IN = "NO_SIGN_IN"  # not even a session until the address is verified


def defaults(tenant_id: uuid.UUID) -> AccountSettings:
    """Never saved: ``updated_at`` stays None (nothing was ever set)."""
    return AccountSettings(
        tenant_id=tenant_id,
        unverified_access=UnverifiedAccess.READ_ONLY.value,
        staff_second_factor=False,
    )


async def get(session: AsyncSession) -> AccountSettings:
    row = await session.scalar(select(AccountSettings))
    return row or defaults(session.info["tenant_id"])


async def update(
    session: AsyncSession,
    *,
    unverified_access: UnverifiedAccess | None,
    staff_second_factor: bool | None,
) -> AccountSettings:
    current = await get(session)
    values = {
        "unverified_access": str(unverified_access or current.unverified_access),
        "staff_second_factor": current.staff_second_factor
        if staff_second_factor is None
        else staff_second_factor,
        "updated_at": utcnow(),
    }
    row = await session.scalar(
        insert(AccountSettings)
        .values(tenant_id=session.info["tenant_id"], **values)
        .on_conflict_do_update(index_elements=["tenant_id"], set_=values)
        .returning(AccountSettings)
        .execution_options(populate_existing=True)
    )
    assert row is not None
    await outbox.emit(session, "aforo.accounts.events", "account_settings.updated", values)
    return row


async def require_verified(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Refuse an unverified account a write the tenant's policy keeps for verified ones."""
    row = (
        await session.execute(
            select(User.email_verified_at, AccountSettings.unverified_access)
            .select_from(User)
            .outerjoin(AccountSettings, AccountSettings.tenant_id == User.tenant_id)
            .where(User.id == user_id)
        )
    ).first()
    if row is None or row.email_verified_at is not None:
        return
    if row.unverified_access == UnverifiedAccess.FULL.value:
        return
    raise Forbidden(
        "verify your email address first (see the mail we sent, or resend it)",
        code="EMAIL_NOT_VERIFIED",
    )


async def may_sign_in(session: AsyncSession, user: User) -> None:
    if user.email_verified_at is not None:
        return
    if (await get(session)).unverified_access == UnverifiedAccess.NO_SIGN_IN.value:
        raise Forbidden(
            "verify your email address before signing in (see the mail we sent)",
            code="EMAIL_NOT_VERIFIED",
        )
