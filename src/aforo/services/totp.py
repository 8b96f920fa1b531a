"""Two-factor sign-in with TOTP (RFC 6238: 30-second steps, 6 digits, SHA-1, as every
authenticator app reads an ``otpauth://`` URI) and one-time recovery codes.

The seed is sealed with a data key outside the database (``tenancy.sealing``) and shown once,
at enrolment; enrolment completes only with a code from the app. A code is accepted within
one step either side of now, and never twice (the last accepted step is kept). Recovery codes
are 80 random bits each, kept as SHA-256, each good once. Log-in with the factor on is two
calls: the password gives a short-lived challenge, the challenge and a code give the session;
a challenge takes a few tries, and an account at most ``MAX_FAILURES`` failed codes per
``FAILURE_WINDOW``.
"""

from __future__ import annotations

import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

import pyotp
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.db import utcnow
from aforo.errors import Conflict, DomainError, RateLimited, Unauthenticated
from aforo.models.accounts import User
from aforo.models.tenants import Tenant
from aforo.models.totp import LoginChallenge, RecoveryCode, TotpCredential
from aforo.runtime.state import Runtime
from aforo.services import accounts, outbox
from aforo.tenancy.hashing import base62, sha256
from aforo.tenancy.sealing import DataKeys

TOPIC = "aforo.accounts.events"
STEP_S, DIGITS, WINDOW = 30, 6, 1
RECOVERY_CODES = 10
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
CHALLENGE_TTL = timedelta(minutes=5)
CHALLENGE_TRIES = 5
MAX_FAILURES, FAILURE_WINDOW = 10, timedelta(minutes=15)
CHALLENGE_PREFIX = "mfa_"


def data_keys(runtime: Runtime) -> DataKeys:
    keys: DataKeys | None = runtime.extra.get("data_keys")
    if keys is None:
        keys = runtime.extra["data_keys"] = DataKeys.load(runtime.settings.data_keys_dir)
    return keys


def _context(c: TotpCredential | User) -> str:
    user_id = c.user_id if isinstance(c, TotpCredential) else c.id
    return f"totp:{c.tenant_id}:{user_id}"


def _bad_code() -> DomainError:
    return DomainError("that code is not valid", field="code", code="INVALID_CODE")


async def _credential(
    session: AsyncSession, user_id: uuid.UUID, *, lock: bool = False
) -> TotpCredential | None:
    q = select(TotpCredential).where(TotpCredential.user_id == user_id)
    return await session.scalar(q.with_for_update() if lock else q)


async def enabled(session: AsyncSession, user_id: uuid.UUID) -> bool:
    c = await _credential(session, user_id)
    return c is not None and c.confirmed_at is not None


@dataclass(frozen=True)
class Status:
    enabled: bool
    enabled_at: datetime | None
    recovery_codes_left: int


async def status(session: AsyncSession, user_id: uuid.UUID) -> Status:
    c = await _credential(session, user_id)
    left = await session.scalar(
        select(func.count()).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    )
    on = c is not None and c.confirmed_at is not None
    return Status(on, c.confirmed_at if c else None, int(left or 0) if on else 0)


@dataclass(frozen=True)
class Enrollment:
    secret: str  # base32, shown once
    uri: str  # otpauth://, for a QR code


async def begin(
    session: AsyncSession, keys: DataKeys, user_id: uuid.UUID, *, password: str
) -> Enrollment:
    user = await session.scalar(select(User).where(User.id == user_id))
    if user is None or not await accounts.password_matches(user, password):
        raise Unauthenticated(
            "the password is incorrect", field="password", code="INVALID_CREDENTIALS"
        )
    existing = await _credential(session, user_id, lock=True)
    if existing is not None and existing.confirmed_at is not None:
        raise Conflict("two-factor sign-in is on already", code="ALREADY_ENABLED")
    secret = pyotp.random_base32()
    sealed = keys.seal(secret.encode(), _context(user))
    if existing is None:
        session.add(TotpCredential(tenant_id=user.tenant_id, user_id=user.id, secret_sealed=sealed))
    else:  # a restarted enrolment replaces the unconfirmed seed
        existing.secret_sealed, existing.last_step = sealed, None
    await session.flush()
    issuer = await session.scalar(select(Tenant.name)) or "Aforo"
    uri = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S).provisioning_uri(
        name=user.email, issuer_name=issuer
    )
    return Enrollment(secret, uri.replace(" ", quote(" ")))


def _matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step ``code`` belongs to, within ``WINDOW`` steps of now (RFC 6238 §5.2)."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    otp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S)
    current = int((time.time() if now is None else now) // STEP_S)
    for step in range(current - WINDOW, current + WINDOW + 1):
        if hmac.compare_digest(otp.at(step * STEP_S), code):
            return step
    return None


def _new_codes() -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_B32) for _ in range(16))  # 80 bits
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    return codes


def _code_hash(code: str) -> bytes:
    return sha256(code.strip().upper().replace("-", "").replace(" ", ""))


async def _replace_codes(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = _new_codes()
    await session.execute(
        insert(RecoveryCode),
        [
            {"tenant_id": session.info["tenant_id"], "user_id": user_id, "code_hash": _code_hash(c)}
            for c in codes
        ],
    )
    return codes


async def confirm(
    session: AsyncSession, keys: DataKeys, user_id: uuid.UUID, *, code: str
) -> list[str]:
    """Finish enrolment with a code from the app; returns the recovery codes (shown once)."""
    c = await _credential(session, user_id, lock=True)
    if c is None:
        raise Conflict("start the enrolment first", code="NO_ENROLMENT")
    if c.confirmed_at is not None:
        raise Conflict("two-factor sign-in is on already", code="ALREADY_ENABLED")
    step = _matching_step(keys.open(c.secret_sealed, _context(c)).decode(), code)
    if step is None:
        raise _bad_code()
    c.confirmed_at, c.last_step = utcnow(), step
    codes = await _replace_codes(session, user_id)
    await session.flush()
    await outbox.emit(session, TOPIC, "user.second_factor_enabled", {"user_id": user_id})
    return codes


async def check_code(session: AsyncSession, keys: DataKeys, user_id: uuid.UUID, code: str) -> str:
    """Accept a current TOTP code (once) or an unused recovery code (spent); returns which."""
    c = await _credential(session, user_id, lock=True)
    if c is None or c.confirmed_at is None:
        raise Conflict("two-factor sign-in is not on", code="NOT_ENABLED")
    step = _matching_step(keys.open(c.secret_sealed, _context(c)).decode(), code)
    if step is not None:
        if c.last_step is not None and step <= c.last_step:
            raise DomainError(
                "that code was used already; wait for the next one",
                field="code",
                code="CODE_REUSED",
            )
        c.last_step = step
        await session.flush()
        return "totp"
    spent = await session.scalar(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == _code_hash(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .returning(RecoveryCode.id)
    )
    if spent is None:
        raise _bad_code()
    await outbox.emit(session, TOPIC, "user.recovery_code_used", {"user_id": user_id})
    return "recovery"


async def disable(
    session: AsyncSession, keys: DataKeys, user_id: uuid.UUID, *, password: str, code: str
) -> None:
    user = await session.scalar(select(User).where(User.id == user_id))
    if user is None or not await accounts.password_matches(user, password):
        raise Unauthenticated(
            "the password is incorrect", field="password", code="INVALID_CREDENTIALS"
        )
    await check_code(session, keys, user_id, code)
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    await session.execute(delete(TotpCredential).where(TotpCredential.user_id == user_id))
    await outbox.emit(session, TOPIC, "user.second_factor_disabled", {"user_id": user_id})


async def regenerate_codes(
    session: AsyncSession, keys: DataKeys, user_id: uuid.UUID, *, code: str
) -> list[str]:
    await check_code(session, keys, user_id, code)
    codes = await _replace_codes(session, user_id)
    await outbox.emit(session, TOPIC, "user.recovery_codes_replaced", {"user_id": user_id})
    return codes


# -- the second step of logging in -----------------------------------------------------------
async def open_challenge(session: AsyncSession, user: User) -> tuple[str, datetime]:
    raw = CHALLENGE_PREFIX + base62(32)
    expires = utcnow() + CHALLENGE_TTL
    session.add(
        LoginChallenge(
            tenant_id=user.tenant_id, user_id=user.id, token_hash=sha256(raw), expires_at=expires
        )
    )
    await session.flush()
    return raw, expires


async def pass_challenge(
    session: AsyncSession, keys: DataKeys, raw: str, code: str
) -> tuple[User, str]:
    """Check a challenge's code. A wrong code is counted before the error is raised: callers
    must commit even when this raises (the count is the brute-force guard)."""
    ch = await session.scalar(
        select(LoginChallenge).where(LoginChallenge.token_hash == sha256(raw)).with_for_update()
    )
    now = utcnow()
    if ch is None or ch.used_at or ch.expires_at <= now or ch.attempts >= CHALLENGE_TRIES:
        raise Unauthenticated(
            "this sign-in step expired or was used up; log in again",
            field="challenge",
            code="INVALID_CHALLENGE",
        )
    failures = await session.scalar(
        select(func.coalesce(func.sum(LoginChallenge.attempts), 0)).where(
            LoginChallenge.user_id == ch.user_id, LoginChallenge.created_at > now - FAILURE_WINDOW
        )
    )
    if int(failures or 0) >= MAX_FAILURES:
        raise RateLimited(
            "too many wrong codes for this account; try again later",
            retry_after=int(FAILURE_WINDOW.total_seconds()),
        )
    try:
        async with session.begin_nested():
            how = await check_code(session, keys, ch.user_id, code)
    except DomainError:
        ch.attempts += 1
        await session.flush()
        raise
    ch.used_at = now
    user = await session.scalar(select(User).where(User.id == ch.user_id))
    assert user is not None
    await session.flush()
    return user, how
