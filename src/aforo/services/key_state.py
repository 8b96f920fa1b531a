"""What verification knows about a key, and the verdict it gives.

``KeyState`` is the cacheable snapshot of a key (tenant, expiry, revocation, bindings with
their plans); ``evaluate`` turns it into a ``VerifyResult`` at the moment of the call, so an
expiry or a rotation's grace end takes effect on the clock, whatever the cache holds.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aforo.db import utcnow

GATEWAY_AUDIENCE = "aforo-gateway"

VALID = "VALID"
NOT_FOUND = "NOT_FOUND"
MALFORMED = "MALFORMED"
REVOKED = "REVOKED"
EXPIRED = "EXPIRED"
SUBSCRIPTION_INACTIVE = "SUBSCRIPTION_INACTIVE"
TOKEN_EXPIRED = "TOKEN_EXPIRED"  # noqa: S105 - a client-credentials / try-it JWT past its exp


@dataclass(frozen=True, slots=True)
class PlanInfo:
    id: uuid.UUID
    slug: str
    name: str
    monthly_quota: int | None
    rate_limit_per_minute: int | None
    hard_quota: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "slug": self.slug,
            "name": self.name,
            "monthly_quota": self.monthly_quota,
            "rate_limit_per_minute": self.rate_limit_per_minute,
            "hard_quota": self.hard_quota,
        }


@dataclass(frozen=True, slots=True)
class Binding:
    subscription_id: uuid.UUID
    active: bool
    plan: PlanInfo


@dataclass(frozen=True, slots=True)
class KeyState:
    tenant_id: uuid.UUID
    key_id: uuid.UUID
    format: str
    client_id: str | None
    expires_at: datetime | None
    revoked: bool
    bindings: tuple[Binding, ...] = ()

    @classmethod
    def from_rows(cls, rows: Sequence[Any]) -> KeyState | None:
        """From ``ops.api_key_state`` rows (or the same columns by id), as mappings (or
        asyncpg records): one per binding."""
        if not rows:
            return None
        r = rows[0]
        bindings = tuple(
            Binding(
                x["subscription_id"],
                bool(x["active"]),
                PlanInfo(
                    x["plan_id"],
                    x["plan_slug"],
                    x["plan_name"],
                    x["monthly_quota"],
                    x["rate_limit_per_minute"],
                    bool(x["hard_quota"]),
                ),
            )
            for x in rows
            if x["subscription_id"] is not None
        )
        expires = r["expires_at"].astimezone(UTC) if r["expires_at"] is not None else None
        return cls(
            r["tenant_id"],
            r["key_id"],
            r["format"],
            r["client_id"],
            expires,
            bool(r["revoked"]),
            bindings,
        )

    def dumps(self) -> bytes:
        return json.dumps(
            [
                str(self.tenant_id),
                str(self.key_id),
                self.format,
                self.client_id,
                self.expires_at.timestamp() if self.expires_at else None,
                self.revoked,
                [
                    [
                        str(b.subscription_id),
                        b.active,
                        str(b.plan.id),
                        b.plan.slug,
                        b.plan.name,
                        b.plan.monthly_quota,
                        b.plan.rate_limit_per_minute,
                        b.plan.hard_quota,
                    ]
                    for b in self.bindings
                ],
            ],
            separators=(",", ":"),
        ).encode()

    @classmethod
    def loads(cls, raw: bytes) -> KeyState:
        t, k, fmt, cid, exp, rev, bs = json.loads(raw)
        return cls(
            uuid.UUID(t),
            uuid.UUID(k),
            fmt,
            cid,
            datetime.fromtimestamp(exp, UTC) if exp is not None else None,
            rev,
            tuple(
                Binding(uuid.UUID(s), a, PlanInfo(uuid.UUID(p), slug, name, q, rl, hard))
                for s, a, p, slug, name, q, rl, hard in bs
            ),
        )


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The verdict on one presented credential. Extend with fields (remaining quota, …) and
    ``to_dict`` entries; ``valid`` stays the one thing a gateway must read."""

    valid: bool
    code: str
    key_id: uuid.UUID | None = None
    subscription_id: uuid.UUID | None = None
    plan: PlanInfo | None = None
    tenant_id: uuid.UUID | None = None
    expires_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # The subscription's usage this month (a ``services.usage.CurrentUsage``) when its plan
    # has a quota; sent as X-Aforo-Quota-* headers, not in the body.
    quota: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "code": self.code,
            "key_id": str(self.key_id) if self.key_id else None,
            "subscription_id": str(self.subscription_id) if self.subscription_id else None,
            "plan": self.plan.to_dict() if self.plan else None,
            "tenant": str(self.tenant_id) if self.tenant_id else None,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            **self.extra,
        }


def evaluate(
    state: KeyState | None,
    tenant_id: uuid.UUID,
    *,
    subscription_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> VerifyResult:
    """The verdict for ``state`` presented by a gateway of ``tenant_id``. A key of another
    tenant is NOT_FOUND: a gateway learns nothing about other tenants' keys.
    ``subscription_id`` narrows to one binding (a token bound to a subscription)."""
    if state is None or state.tenant_id != tenant_id:
        return VerifyResult(False, NOT_FOUND)
    k, t, exp = state.key_id, state.tenant_id, state.expires_at
    if state.revoked:
        return VerifyResult(False, REVOKED, key_id=k, tenant_id=t, expires_at=exp)
    if exp is not None and exp <= (now or utcnow()):
        return VerifyResult(False, EXPIRED, key_id=k, tenant_id=t, expires_at=exp)
    for b in state.bindings:
        if b.active and (subscription_id is None or b.subscription_id == subscription_id):
            return VerifyResult(True, VALID, k, b.subscription_id, b.plan, t, exp)
    return VerifyResult(False, SUBSCRIPTION_INACTIVE, key_id=k, tenant_id=t, expires_at=exp)
