"""Logging in: the password, the tenant's policy for unverified accounts, then either a session
or (two-factor sign-in on) a challenge the second call completes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from aforo.services import account_settings, accounts, sessions, totp
from aforo.services.sessions import Client
from aforo.tenancy.sealing import DataKeys


@dataclass(frozen=True)
class SecondFactorNeeded:
    challenge: str  # raw, returned once
    expires_at: datetime


async def log_in(
    session: AsyncSession, *, email: str, password: str, refresh_ttl_s: int, client: Client
) -> accounts.IssuedSession | SecondFactorNeeded:
    user = await accounts.authenticate(session, email=email, password=password)
    await account_settings.may_sign_in(session, user)
    if await totp.enabled(session, user.id):
        raw, expires = await totp.open_challenge(session, user)
        return SecondFactorNeeded(raw, expires)
    return await sessions.start(
        session, user, refresh_ttl_s=refresh_ttl_s, second_factor=False, client=client
    )


async def complete(
    session: AsyncSession,
    keys: DataKeys,
    *,
    challenge: str,
    code: str,
    refresh_ttl_s: int,
    client: Client,
) -> accounts.IssuedSession:
    user, _ = await totp.pass_challenge(session, keys, challenge, code)
    return await sessions.start(
        session, user, refresh_ttl_s=refresh_ttl_s, second_factor=True, client=client
    )
