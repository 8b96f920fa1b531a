"""Two-factor sign-in: enrolment, recovery codes, turning it off."""

from __future__ import annotations

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.errors import RateLimited as RateLimitedError
from aforo.schema.base import AppInfo, IsAuthenticated, guarded, read
from aforo.schema.signin import RateLimited
from aforo.schema.throttling import Throttled
from aforo.schema.totp import (
    RecoveryCodes,
    RecoveryCodesResult,
    TwoFactorDisabled,
    TwoFactorDisabledResult,
    TwoFactorEnrollment,
    TwoFactorEnrollmentResult,
    TwoFactorStatus,
)
from aforo.services import totp


@strawberry.type
class Query:
    @strawberry.field(permission_classes=[IsAuthenticated], description="Your two-factor sign-in.")
    async def two_factor(self, info: AppInfo) -> TwoFactorStatus:
        user_id = info.context.require_user()
        return TwoFactorStatus.of(await read(info, lambda s: totp.status(s, user_id)))


@strawberry.type
class Mutation:
    @strawberry.mutation(
        extensions=[Throttled("two_factor.account", by="account")],
        permission_classes=[IsAuthenticated],
        description="Start turning on two-factor sign-in (needs your password). Returns the "
        "secret for an authenticator app, once; confirm with a code from it.",
    )
    async def begin_two_factor_enrollment(
        self, info: AppInfo, password: str
    ) -> TwoFactorEnrollmentResult:
        user_id = info.context.require_user()
        keys = totp.data_keys(info.context.runtime)

        async def go(s: AsyncSession) -> TwoFactorEnrollment:
            e = await totp.begin(s, keys, user_id, password=password)
            return TwoFactorEnrollment(secret=e.secret, otpauth_uri=e.uri)

        return await guarded(info, go)

    @strawberry.mutation(
        extensions=[Throttled("two_factor.account", by="account")],
        permission_classes=[IsAuthenticated],
        description="Finish turning on two-factor sign-in with a code from the app. Returns "
        "ten one-time recovery codes, once.",
    )
    async def confirm_two_factor_enrollment(self, info: AppInfo, code: str) -> RecoveryCodesResult:
        user_id = info.context.require_user()
        keys = totp.data_keys(info.context.runtime)

        async def go(s: AsyncSession) -> RecoveryCodes:
            return RecoveryCodes(codes=await totp.confirm(s, keys, user_id, code=code))

        return await guarded(info, go)

    @strawberry.mutation(
        extensions=[Throttled("two_factor.account", by="account")],
        permission_classes=[IsAuthenticated],
        description="New recovery codes for a current code (the old ones stop working).",
    )
    async def regenerate_recovery_codes(self, info: AppInfo, code: str) -> RecoveryCodesResult:
        user_id = info.context.require_user()
        keys = totp.data_keys(info.context.runtime)

        async def go(s: AsyncSession) -> RecoveryCodes | RateLimited:
            try:
                return RecoveryCodes(codes=await totp.regenerate_codes(s, keys, user_id, code=code))
            except RateLimitedError as e:
                return RateLimited.of(e)

        return await guarded(info, go)

    @strawberry.mutation(
        extensions=[Throttled("two_factor.account", by="account")],
        permission_classes=[IsAuthenticated],
        description="Turn two-factor sign-in off (needs your password and a current code).",
    )
    async def disable_two_factor(
        self, info: AppInfo, password: str, code: str
    ) -> TwoFactorDisabledResult:
        user_id = info.context.require_user()
        keys = totp.data_keys(info.context.runtime)

        async def go(s: AsyncSession) -> TwoFactorDisabled:
            await totp.disable(s, keys, user_id, password=password, code=code)
            return TwoFactorDisabled(ok=True)

        return await guarded(info, go)
