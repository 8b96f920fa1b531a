"""API keys: formats, creation, rotation with grace, revocation, audit, and the short-lived
JWTs (client credentials, try-it) that stand in for a key.

A key's secret is returned once, by the call creating it; the database holds its SHA-256, a
display prefix and the last 4 characters. Verification itself lives in ``key_verify``.
"""

from __future__ import annotations

import hmac
import uuid
import zlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.db import utcnow
from aforo.errors import Conflict, DomainError, NotFound, ValidationFailed
from aforo.models.api_keys import ApiKey, ApiKeyEvent, KeySubscriptionBinding
from aforo.models.billing import Subscription
from aforo.services import account_settings, outbox, ownership
from aforo.services.key_state import GATEWAY_AUDIENCE, KeyState, VerifyResult, evaluate
from aforo.tenancy import ops
from aforo.tenancy.hashing import _B62, base62, sha256
from aforo.tenancy.signing import KeyRing

TOPIC = "aforo.keys.events"
BEARER, CLIENT_CREDENTIALS = "BEARER_TOKEN", "CLIENT_CREDENTIALS"
FORMATS = (BEARER, CLIENT_CREDENTIALS)
BEARER_PREFIX, CLIENT_SECRET_PREFIX, CLIENT_ID_PREFIX = "sk_live_", "cs_live_", "ci_"
SECRET_BYTES = 32
_BODY_LEN = len(base62(SECRET_BYTES))
_CHECK_LEN = 6  # base62 of a CRC-32: 62**6 > 2**32
DISPLAY_PREFIX_LEN = 12
DEFAULT_GRACE_S, MAX_GRACE_S = 300, 24 * 3600
MAX_LIFETIME = timedelta(days=3650)
MAX_ACTIVE_KEYS_PER_USER = 100
EVENTS_PER_KEY = 50
TRY_IT_TTL_S = 60
CLIENT_TOKEN_TTL_S = 600

# Audit event types.
CREATED, ROTATED, REVOKED = "CREATED", "ROTATED", "REVOKED"
VERIFIED_AFTER_REVOKE = "VERIFIED_AFTER_REVOKE"


# -- the secret format -----------------------------------------------------------------------
def _checksum(body: str) -> str:
    n = zlib.crc32(body.encode())
    out = []
    for _ in range(_CHECK_LEN):
        n, r = divmod(n, 62)
        out.append(_B62[r])
    return "".join(out)


def new_key_secret(prefix: str = BEARER_PREFIX) -> str:
    """``prefix`` + 256 random bits in base62 + a 6-character checksum of those."""
    body = base62(SECRET_BYTES)
    return prefix + body + _checksum(body)


_B62_SET = frozenset(_B62)


def well_formed(raw: str, prefix: str = BEARER_PREFIX) -> bool:
    """Shape and checksum only: a mistyped key is refused without touching the database."""
    if len(raw) != len(prefix) + _BODY_LEN + _CHECK_LEN or not raw.startswith(prefix):
        return False
    body, check = raw[len(prefix) : -_CHECK_LEN], raw[-_CHECK_LEN:]
    if not _B62_SET.issuperset(body):
        return False
    return hmac.compare_digest(_checksum(body), check)


def status_of(key: ApiKey, now: datetime | None = None) -> str:
    now = now or utcnow()
    if key.revoked_at is not None:
        return "REVOKED"
    if key.expires_at is not None and key.expires_at <= now:
        return "EXPIRED"
    if key.rotated_at is not None:
        return "ROTATING"  # replaced; valid until its grace ends
    return "ACTIVE"


# -- creation --------------------------------------------------------------------------------
@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    secret: str  # returned once, never stored
    client_id: str | None


async def _audit(
    session: AsyncSession,
    key_id: uuid.UUID,
    type_: str,
    actor_id: uuid.UUID | None,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        ApiKeyEvent(
            tenant_id=session.info["tenant_id"],
            key_id=key_id,
            type=type_,
            actor_id=actor_id,
            detail=detail or {},
        )
    )


def _new_row(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    team_id: uuid.UUID | None,
    name: str,
    format_: str,
    client_id: str | None,
    expires_at: datetime | None,
) -> tuple[ApiKey, str]:
    secret = new_key_secret(
        CLIENT_SECRET_PREFIX if format_ == CLIENT_CREDENTIALS else BEARER_PREFIX
    )
    key = ApiKey(
        tenant_id=session.info["tenant_id"],
        id=uuid.uuid4(),
        user_id=user_id,
        team_id=team_id,
        name=name,
        format=format_,
        client_id=client_id,
        key_hash=sha256(secret),
        prefix=secret[:DISPLAY_PREFIX_LEN],
        last4=secret[-4:],
        expires_at=expires_at,
    )
    session.add(key)
    return key, secret


async def create_key(
    session: AsyncSession,
    *,
    actor_id: uuid.UUID,
    as_admin: bool,
    subscription_id: uuid.UUID,
    name: str,
    format_: str,
    expires_at: datetime | None,
) -> CreatedKey:
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationFailed("name must be 1-200 characters", field="name")
    if format_ not in FORMATS:
        raise ValidationFailed("BEARER_TOKEN or CLIENT_CREDENTIALS", field="format")
    now = utcnow()
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise ValidationFailed("give a time zone (UTC: append Z)", field="expiresAt")
        if expires_at <= now:
            raise ValidationFailed("must be in the future", field="expiresAt")
        if expires_at > now + MAX_LIFETIME:
            raise ValidationFailed("at most ten years from now", field="expiresAt")
    # Locked (shared) so a concurrent cancel waits for this key and then revokes it too.
    sub = await session.scalar(
        select(Subscription).where(Subscription.id == subscription_id).with_for_update(read=True)
    )
    if sub is None:
        raise NotFound("no subscription with that id", field="subscriptionId")
    if not as_admin:
        await account_settings.require_verified(session, actor_id)
        await ownership.require(
            session,
            actor_id,
            team_id=sub.team_id,
            owner_id=sub.user_id,
            cap=ownership.Capability.MANAGE_KEYS,
            missing=NotFound("no subscription with that id", field="subscriptionId"),
        )
    if sub.status != "ACTIVE":
        raise Conflict("this subscription is cancelled", field="subscriptionId")
    # A team key is the team's (counted against it), made by the member who created it.
    owner = ApiKey.team_id == sub.team_id if sub.team_id else ApiKey.user_id == sub.user_id
    active = await session.scalar(
        select(func.count())
        .select_from(ApiKey)
        .where(
            owner,
            ApiKey.revoked_at.is_(None),
            (ApiKey.expires_at.is_(None)) | (ApiKey.expires_at > now),
        )
    )
    if (active or 0) >= MAX_ACTIVE_KEYS_PER_USER:
        raise Conflict(
            f"at most {MAX_ACTIVE_KEYS_PER_USER} active keys; revoke one first", field="name"
        )
    client_id = CLIENT_ID_PREFIX + base62(16) if format_ == CLIENT_CREDENTIALS else None
    key, secret = _new_row(
        session,
        user_id=actor_id if sub.team_id and not as_admin else sub.user_id,
        team_id=sub.team_id,
        name=name,
        format_=format_,
        client_id=client_id,
        expires_at=expires_at,
    )
    await session.flush()
    session.add(
        KeySubscriptionBinding(tenant_id=key.tenant_id, key_id=key.id, subscription_id=sub.id)
    )
    await _audit(session, key.id, CREATED, actor_id, {"format": format_})
    await session.flush()
    await outbox.emit(
        session,
        TOPIC,
        "key.created",
        {
            "key_id": key.id,
            "user_id": key.user_id,
            "team_id": key.team_id,
            "format": format_,
            "prefix": key.prefix,
            "subscription_ids": [sub.id],
        },
    )
    return CreatedKey(key, secret, client_id)


# -- reading ---------------------------------------------------------------------------------
async def list_keys(
    session: AsyncSession, *, user_id: uuid.UUID | None, limit: int, offset: int = 0
) -> list[ApiKey]:
    q = select(ApiKey)
    if user_id is not None:  # theirs and their teams' (ownership.visible)
        q = q.where(
            ownership.visible(
                ApiKey.team_id, ApiKey.user_id, user_id, ownership.Capability.VIEW_KEYS
            )
        )
    q = q.order_by(ApiKey.created_at.desc(), ApiKey.id).limit(limit).offset(offset)
    return list(await session.scalars(q))


async def get_key(
    session: AsyncSession,
    key_id: uuid.UUID,
    *,
    actor_id: uuid.UUID,
    as_admin: bool,
    lock: bool,
    cap: ownership.Capability = ownership.Capability.MANAGE_KEYS,
) -> ApiKey:
    q = select(ApiKey).where(ApiKey.id == key_id)
    if lock:
        q = q.with_for_update()
    key = await session.scalar(q)
    if key is None:
        raise NotFound("no API key with that id", field="id")
    if not as_admin:
        await ownership.require(
            session,
            actor_id,
            team_id=key.team_id,
            owner_id=key.user_id,
            cap=cap,
            missing=NotFound("no API key with that id", field="id"),
        )
    return key


async def subscriptions_by_key_ids(
    session: AsyncSession, key_ids: list[uuid.UUID]
) -> list[list[Subscription]]:
    """Batch for the ``subscriptions_by_key_id`` dataloader, in key order."""
    rows = await session.execute(
        select(KeySubscriptionBinding.key_id, Subscription)
        .join(Subscription, Subscription.id == KeySubscriptionBinding.subscription_id)
        .where(KeySubscriptionBinding.key_id.in_(key_ids))
        .order_by(Subscription.created_at)
    )
    grouped: dict[uuid.UUID, list[Subscription]] = defaultdict(list)
    for key_id, sub in rows:
        grouped[key_id].append(sub)
    return [grouped.get(i, []) for i in key_ids]


async def events_by_key_ids(
    session: AsyncSession, key_ids: list[uuid.UUID], *, per_key: int = EVENTS_PER_KEY
) -> list[list[ApiKeyEvent]]:
    """The latest ``per_key`` audit events of each key, newest first, in key order."""
    rank = (
        func.row_number()
        .over(
            partition_by=ApiKeyEvent.key_id,
            order_by=(ApiKeyEvent.created_at.desc(), ApiKeyEvent.id),
        )
        .label("rank")
    )
    inner = select(ApiKeyEvent.id, rank).where(ApiKeyEvent.key_id.in_(key_ids)).subquery()
    rows = await session.scalars(
        select(ApiKeyEvent)
        .join(inner, inner.c.id == ApiKeyEvent.id)
        .where(inner.c.rank <= per_key)
        .order_by(ApiKeyEvent.created_at.desc(), ApiKeyEvent.id)
    )
    grouped: dict[uuid.UUID, list[ApiKeyEvent]] = defaultdict(list)
    for e in rows:
        grouped[e.key_id].append(e)
    return [grouped.get(i, []) for i in key_ids]


# -- rotation and revocation -----------------------------------------------------------------
@dataclass(frozen=True)
class RotatedKey:
    key: ApiKey
    secret: str  # returned once, never stored
    client_id: str | None
    previous: ApiKey  # for cache invalidation: its entry must not outlive the grace


async def rotate_key(
    session: AsyncSession,
    key_id: uuid.UUID,
    *,
    actor_id: uuid.UUID,
    as_admin: bool,
    grace_seconds: int = DEFAULT_GRACE_S,
) -> RotatedKey:
    """A new secret with the same owner, bindings, format, client id and expiry; the old one
    works for ``grace_seconds`` more (never past its own expiry), then is refused on its own:
    the grace end is its new expiry, so no job has to come back for it."""
    if not 0 <= grace_seconds <= MAX_GRACE_S:
        raise ValidationFailed(f"between 0 and {MAX_GRACE_S} seconds", field="graceSeconds")
    old = await get_key(session, key_id, actor_id=actor_id, as_admin=as_admin, lock=True)
    now = utcnow()
    status = status_of(old, now)
    if status == "ROTATING":
        raise Conflict("this key was already rotated; rotate its replacement", field="id")
    if status != "ACTIVE":
        raise Conflict(f"a {status.lower()} key cannot be rotated", field="id")
    original_expiry = old.expires_at
    grace_end = now + timedelta(seconds=grace_seconds)
    if original_expiry is not None and original_expiry < grace_end:
        grace_end = original_expiry
    new, secret = _new_row(
        session,
        user_id=old.user_id,
        team_id=old.team_id,
        name=old.name,
        format_=old.format,
        client_id=old.client_id,
        expires_at=original_expiry,
    )
    # The old row leaves the client-id uniqueness index before the new one enters it.
    old.rotated_at, old.expires_at, old.replaced_by_id = now, grace_end, new.id
    await session.flush()
    sub_ids = list(
        await session.scalars(
            select(KeySubscriptionBinding.subscription_id).where(
                KeySubscriptionBinding.key_id == old.id
            )
        )
    )
    if sub_ids:
        await session.execute(
            insert(KeySubscriptionBinding),
            [{"tenant_id": new.tenant_id, "key_id": new.id, "subscription_id": s} for s in sub_ids],
        )
    await _audit(
        session,
        old.id,
        ROTATED,
        actor_id,
        {
            "successor_id": str(new.id),
            "grace_seconds": grace_seconds,
            "expires_at": grace_end.isoformat(),
        },
    )
    await _audit(session, new.id, CREATED, actor_id, {"rotated_from": str(old.id)})
    await session.flush()
    await outbox.emit(
        session,
        TOPIC,
        "key.rotated",
        {
            "key_id": old.id,
            "successor_id": new.id,
            "user_id": old.user_id,
            "previous_key_expires_at": grace_end,
        },
    )
    return RotatedKey(new, secret, new.client_id, old)


async def _revoke(
    session: AsyncSession, keys: list[ApiKey], actor_id: uuid.UUID | None, reason: str
) -> None:
    for key in keys:
        await _audit(session, key.id, REVOKED, actor_id, {"reason": reason})
        await outbox.emit(
            session,
            TOPIC,
            "key.revoked",
            {"key_id": key.id, "user_id": key.user_id, "reason": reason},
        )
    await session.flush()


async def revoke_key(
    session: AsyncSession, key_id: uuid.UUID, *, actor_id: uuid.UUID, as_admin: bool
) -> ApiKey:
    key = await get_key(session, key_id, actor_id=actor_id, as_admin=as_admin, lock=False)
    revoked = await session.scalar(
        update(ApiKey)
        .where(ApiKey.id == key.id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(ApiKey)
        .execution_options(populate_existing=True)
    )
    if revoked is None:
        raise Conflict("this key is already revoked", field="id")
    await _revoke(session, [revoked], actor_id, "revoked")
    return revoked


async def revoke_for_subscription(
    session: AsyncSession, subscription_id: uuid.UUID, *, actor_id: uuid.UUID | None
) -> list[ApiKey]:
    """Revoke every unrevoked key bound to the subscription (rotated ones in grace too)."""
    bound = select(KeySubscriptionBinding.key_id).where(
        KeySubscriptionBinding.subscription_id == subscription_id
    )
    rows = await session.scalars(
        update(ApiKey)
        .where(ApiKey.id.in_(bound), ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(ApiKey)
        .execution_options(populate_existing=True)
    )
    keys = list(rows)
    await _revoke(session, keys, actor_id, "subscription_cancelled")
    return keys


# -- short-lived tokens standing in for a key ------------------------------------------------
@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int
    key_id: uuid.UUID
    subscription_id: uuid.UUID


def _sign(
    ring: KeyRing, issuer: str, verdict: VerifyResult, kind: str, ttl_s: int, client_id: str | None
) -> IssuedToken:
    assert verdict.key_id and verdict.tenant_id and verdict.subscription_id
    if verdict.expires_at is not None:  # a token never outlives its key
        ttl_s = max(1, min(ttl_s, int((verdict.expires_at - utcnow()).total_seconds())))
    claims: dict[str, Any] = {
        "sub": str(verdict.key_id),
        "tid": str(verdict.tenant_id),
        "sid": str(verdict.subscription_id),
        "aud": GATEWAY_AUDIENCE,
        "iss": issuer,
        "kind": kind,
    }
    if client_id:
        claims["client_id"] = client_id
    token, _ = ring.sign(claims, ttl_s=ttl_s)
    return IssuedToken(token, ttl_s, verdict.key_id, verdict.subscription_id)


async def _state_by_hash(session: AsyncSession, key_hash: bytes) -> KeyState | None:
    return KeyState.from_rows(await ops.api_key_state(session, key_hash))


class InvalidClient(DomainError):
    code = "invalid_client"
    status = 401


async def exchange_client_credentials(
    session: AsyncSession, ring: KeyRing, issuer: str, *, client_id: str, client_secret: str
) -> IssuedToken:
    """RFC 6749 §4.4: a client id and secret for a short-lived access token bound to the key's
    subscription. Any failure is the same ``invalid_client``: no hint which part was wrong."""
    if not well_formed(client_secret, CLIENT_SECRET_PREFIX):
        raise InvalidClient("client authentication failed")
    state = await _state_by_hash(session, sha256(client_secret))
    if (
        state is None
        or state.format != CLIENT_CREDENTIALS
        or not hmac.compare_digest((state.client_id or "").encode(), client_id.encode())
    ):
        raise InvalidClient("client authentication failed")
    verdict = evaluate(state, state.tenant_id)
    if not verdict.valid:
        raise InvalidClient(f"client authentication failed ({verdict.code.lower()})")
    return _sign(ring, issuer, verdict, "client_credentials", CLIENT_TOKEN_TTL_S, client_id)


async def mint_key_token(
    session: AsyncSession,
    ring: KeyRing,
    issuer: str,
    *,
    key_id: uuid.UUID,
    user_id: uuid.UUID,
    ttl_s: int = TRY_IT_TTL_S,
) -> IssuedToken:
    """For the try-it console: a JWT standing in for one of the caller's active keys (no raw
    key is held anywhere). ``/v1/keys/verify`` accepts it as that key until it expires, and
    refuses it as soon as the key is revoked. Runs in the caller's tenant transaction."""
    key = await get_key(
        session,
        key_id,
        actor_id=user_id,
        as_admin=False,
        lock=False,
        cap=ownership.Capability.USE_KEYS,
    )
    state = await key_state_by_id(session, key.id)
    assert state is not None
    verdict = evaluate(state, state.tenant_id)
    if not verdict.valid:
        raise Conflict(f"this key cannot be used ({verdict.code})", field="keyId")
    return _sign(ring, issuer, verdict, "try_it", min(ttl_s, 300), None)


async def key_state_by_id(session: AsyncSession, key_id: uuid.UUID) -> KeyState | None:
    """The verification state of a key of the session's tenant (same shape as by hash)."""
    from aforo.models.billing import Plan

    rows = await session.execute(
        select(
            ApiKey.tenant_id,
            ApiKey.id.label("key_id"),
            ApiKey.format,
            ApiKey.client_id,
            ApiKey.expires_at,
            ApiKey.revoked_at.is_not(None).label("revoked"),
            Subscription.id.label("subscription_id"),
            (Subscription.status == "ACTIVE").label("active"),
            Plan.id.label("plan_id"),
            Plan.slug.label("plan_slug"),
            Plan.name.label("plan_name"),
            Plan.monthly_quota,
            Plan.rate_limit_per_minute,
            Plan.hard_quota,
        )
        .select_from(ApiKey)
        .outerjoin(KeySubscriptionBinding, KeySubscriptionBinding.key_id == ApiKey.id)
        .outerjoin(Subscription, Subscription.id == KeySubscriptionBinding.subscription_id)
        .outerjoin(Plan, Plan.id == Subscription.plan_id)
        .where(ApiKey.id == key_id)
        .order_by(Subscription.created_at)
    )
    return KeyState.from_rows(list(rows.mappings().all()))


async def record_use(
    session: AsyncSession,
    used: dict[uuid.UUID, datetime],
    after_revoke: dict[uuid.UUID, tuple[int, datetime, datetime]],
) -> None:
    """Flush one tenant's batched verification bookkeeping: ``last_used_at`` per key and one
    audit event per revoked key that was presented (with how often)."""
    if used:
        ids, ats = zip(*used.items(), strict=True)
        # One statement for the whole batch; never moves last_used_at backwards.
        await session.execute(
            text(
                "update api_keys k set last_used_at = greatest(k.last_used_at, v.at)"
                " from unnest(cast(:ids as uuid[]), cast(:ats as timestamptz[])) as v(id, at)"
                " where k.id = v.id"
            ),
            {"ids": list(ids), "ats": list(ats)},
        )
    for key_id, (count, first, last) in after_revoke.items():
        await _audit(
            session,
            key_id,
            VERIFIED_AFTER_REVOKE,
            None,
            {"count": count, "first_at": first.isoformat(), "last_at": last.isoformat()},
        )
    await session.flush()
