from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from aforo.models.account_settings import AccountSettings as Row
from aforo.schema.base import UserError
from aforo.services.account_settings import UnverifiedAccess as UnverifiedAccessValue

UnverifiedAccess = strawberry.enum(
    UnverifiedAccessValue,
    name="UnverifiedAccess",
    description="What an account may do before it verifies its address: READ_ONLY (sign in, "
    "read docs and the forum; no keys, subscriptions or posts), FULL, or NO_SIGN_IN.",
)


@strawberry.type(description="The tenant's account policy.")
class AccountSettings:
    unverified_access: UnverifiedAccess  # type: ignore[valid-type]
    staff_second_factor: bool = strawberry.field(
        description="Staff roles (ADMIN, MODERATOR) only in sessions signed in with a second "
        "factor."
    )
    updated_at: datetime | None = strawberry.field(description="Null: never changed.")

    @classmethod
    def of(cls, r: Row) -> AccountSettings:
        return cls(
            unverified_access=UnverifiedAccessValue(r.unverified_access),
            staff_second_factor=r.staff_second_factor,
            updated_at=r.updated_at or None,
        )


@strawberry.input
class AccountSettingsInput:
    unverified_access: UnverifiedAccess | None = None  # type: ignore[valid-type]
    staff_second_factor: bool | None = None


AccountSettingsResult = Annotated[
    AccountSettings | UserError, strawberry.union("AccountSettingsResult")
]
