from __future__ import annotations

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.schema.account_settings import (
    AccountSettings,
    AccountSettingsInput,
    AccountSettingsResult,
)
from aforo.schema.base import STAFF_ADMIN, AppInfo, guarded, read
from aforo.services import account_settings


@strawberry.type
class Query:
    @strawberry.field(permission_classes=STAFF_ADMIN, description="The account policy.")
    async def account_settings(self, info: AppInfo) -> AccountSettings:
        return AccountSettings.of(await read(info, account_settings.get))


@strawberry.type
class Mutation:
    @strawberry.mutation(
        permission_classes=STAFF_ADMIN, description="Change the account policy (omitted: kept)."
    )
    async def update_account_settings(
        self, info: AppInfo, input: AccountSettingsInput
    ) -> AccountSettingsResult:
        async def go(s: AsyncSession) -> AccountSettings:
            row = await account_settings.update(
                s,
                unverified_access=input.unverified_access,
                staff_second_factor=input.staff_second_factor,
            )
            return AccountSettings.of(row)

        return await guarded(info, go)
