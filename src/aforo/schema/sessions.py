from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from aforo.schema.base import UserError
from aforo.services import sessions


@strawberry.type(description="One of your signed-in sessions (a device or browser).")
class AccountSession:
    id: strawberry.ID
    created_at: datetime
    last_refreshed_at: datetime
    expires_at: datetime
    user_agent: str | None
    ip_address: str | None
    second_factor: bool
    current: bool = strawberry.field(description="The session this request comes from.")

    @classmethod
    def of(cls, v: sessions.SessionView, *, current: bool) -> AccountSession:
        return cls(
            id=strawberry.ID(str(v.id)),
            created_at=v.created_at,
            last_refreshed_at=v.last_refreshed_at,
            expires_at=v.expires_at,
            user_agent=v.user_agent,
            ip_address=v.ip_address,
            second_factor=v.second_factor,
            current=current,
        )


@strawberry.type
class SessionRevoked:
    id: strawberry.ID


SessionRevokedResult = Annotated[
    SessionRevoked | UserError, strawberry.union("SessionRevokedResult")
]
