from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from aforo.models import gateway_tokens as m
from aforo.schema.base import UserError


@strawberry.type(description="A gateway's credential: verifies keys and posts usage.")
class GatewayToken:
    id: strawberry.ID
    name: str
    prefix: str
    last4: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, t: m.GatewayToken) -> GatewayToken:
        return cls(
            id=strawberry.ID(str(t.id)),
            name=t.name,
            prefix=t.prefix,
            last4=t.last4,
            created_at=t.created_at,
            last_used_at=t.last_used_at,
            revoked_at=t.revoked_at,
        )


@strawberry.type
class GatewayTokenCreated:
    gateway_token: GatewayToken
    secret: str = strawberry.field(description="The token itself. Shown in this response only.")


GatewayTokenCreatedResult = Annotated[
    GatewayTokenCreated | UserError, strawberry.union("GatewayTokenCreatedResult")
]
GatewayTokenResult = Annotated[GatewayToken | UserError, strawberry.union("GatewayTokenResult")]
