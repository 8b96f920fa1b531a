from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from aforo.models import api_keys as m
from aforo.schema.accounts import User
from aforo.schema.base import AppInfo, UserError
from aforo.schema.billing import Subscription
from aforo.services.api_keys import status_of


@strawberry.enum(
    description="BEARER_TOKEN: one secret sent as is; CLIENT_CREDENTIALS: a public "
    "client id and a secret exchanged at /oauth/token for short-lived tokens."
)
class ApiKeyFormat(Enum):
    BEARER_TOKEN = "BEARER_TOKEN"  # noqa: S105 (a format name)
    CLIENT_CREDENTIALS = "CLIENT_CREDENTIALS"


@strawberry.enum
class ApiKeyStatus(Enum):
    ACTIVE = "ACTIVE"
    ROTATING = "ROTATING"  # replaced by a rotation, still accepted until its grace ends
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"


@strawberry.enum
class ApiKeyEventType(Enum):
    CREATED = "CREATED"
    ROTATED = "ROTATED"
    REVOKED = "REVOKED"
    VERIFIED_AFTER_REVOKE = "VERIFIED_AFTER_REVOKE"


@strawberry.type(description="One entry of a key's audit trail.")
class ApiKeyEvent:
    id: strawberry.ID
    type: ApiKeyEventType
    occurred_at: datetime
    actor_id: strawberry.ID | None
    reason: str | None = strawberry.field(description="REVOKED: revoked or subscription_cancelled")
    successor_id: strawberry.ID | None = strawberry.field(description="ROTATED: the new key")
    count: int | None = strawberry.field(
        description="VERIFIED_AFTER_REVOKE: attempts in this batch"
    )

    @classmethod
    def of(cls, e: m.ApiKeyEvent) -> ApiKeyEvent:
        d = e.detail or {}
        successor = d.get("successor_id") or d.get("rotated_from")
        return cls(
            id=strawberry.ID(str(e.id)),
            type=ApiKeyEventType(e.type),
            occurred_at=e.created_at,
            actor_id=strawberry.ID(str(e.actor_id)) if e.actor_id else None,
            reason=d.get("reason"),
            successor_id=strawberry.ID(successor) if d.get("successor_id") and successor else None,
            count=d.get("count"),
        )


@strawberry.type(description="An API key. Its secret is never shown again after creation.")
class ApiKey:
    id: strawberry.ID
    name: str
    format: ApiKeyFormat
    status: ApiKeyStatus
    prefix: str
    last4: str
    client_id: str | None
    created_at: datetime
    last_used_at: datetime | None = strawberry.field(
        description="Refreshed in batches: may lag real use by a few seconds."
    )
    expires_at: datetime | None
    revoked_at: datetime | None
    rotated_at: datetime | None
    replaced_by_id: strawberry.ID | None
    team_id: strawberry.ID | None = strawberry.field(
        description="The owning team (its subscription's); null for a personal key."
    )
    _id: strawberry.Private[uuid.UUID]
    _user_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The subscriptions this key draws on.")
    async def subscriptions(self, info: AppInfo) -> list[Subscription]:
        subs = await info.context.loaders.subscriptions_by_key_id.load(self._id)
        return [Subscription.of(s) for s in subs]

    @strawberry.field(description="Audit trail, newest first (latest 50).")
    async def events(self, info: AppInfo) -> list[ApiKeyEvent]:
        rows = await info.context.loaders.key_events_by_key_id.load(self._id)
        return [ApiKeyEvent.of(e) for e in rows]

    @strawberry.field
    async def owner(self, info: AppInfo) -> User | None:
        u = await info.context.loaders.user_by_id.load(self._user_id)
        return User.of(u) if u else None

    @classmethod
    def of(cls, k: m.ApiKey) -> ApiKey:
        return cls(
            id=strawberry.ID(str(k.id)),
            name=k.name,
            format=ApiKeyFormat(k.format),
            status=ApiKeyStatus(status_of(k)),
            prefix=k.prefix,
            last4=k.last4,
            client_id=k.client_id,
            created_at=k.created_at,
            last_used_at=k.last_used_at,
            expires_at=k.expires_at,
            revoked_at=k.revoked_at,
            rotated_at=k.rotated_at,
            replaced_by_id=strawberry.ID(str(k.replaced_by_id)) if k.replaced_by_id else None,
            team_id=strawberry.ID(str(k.team_id)) if k.team_id else None,
            _id=k.id,
            _user_id=k.user_id,
        )


@strawberry.type
class ApiKeyCreated:
    api_key: ApiKey
    secret: str = strawberry.field(description="The key itself. Shown in this response only.")
    client_id: str | None = strawberry.field(description="CLIENT_CREDENTIALS keys: public id.")


@strawberry.type
class ApiKeyRotated:
    api_key: ApiKey = strawberry.field(description="The new key.")
    secret: str = strawberry.field(description="The new secret. Shown in this response only.")
    client_id: str | None
    previous_key_expires_at: datetime = strawberry.field(
        description="The old key is refused from this moment (its grace end)."
    )


@strawberry.input
class CreateApiKeyInput:
    subscription_id: strawberry.ID
    name: str
    format: ApiKeyFormat = ApiKeyFormat.BEARER_TOKEN
    expires_at: datetime | None = None


ApiKeyCreatedResult = Annotated[ApiKeyCreated | UserError, strawberry.union("ApiKeyCreatedResult")]
ApiKeyRotatedResult = Annotated[ApiKeyRotated | UserError, strawberry.union("ApiKeyRotatedResult")]
ApiKeyResult = Annotated[ApiKey | UserError, strawberry.union("ApiKeyResult")]
