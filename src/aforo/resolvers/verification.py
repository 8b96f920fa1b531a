"""Verified email, password reset and change of address (links mailed with tokens)."""

from __future__ import annotations

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.errors import RateLimited as RateLimitedError
from aforo.schema.accounts import User, auth_payload
from aforo.schema.base import AppInfo, HasTenant, IsAuthenticated, guarded
from aforo.schema.signin import RateLimited, client_of
from aforo.schema.throttling import Throttled
from aforo.schema.verification import (
    EmailVerified,
    MailRequested,
    MailRequestedResult,
    ResendVerificationResult,
    UserChangedResult,
    VerifyEmailResult,
)
from aforo.services import sessions, totp, verification


@strawberry.type
class Mutation:
    @strawberry.mutation(
        extensions=[Throttled("token.ip")],
        permission_classes=[HasTenant],
        description="Verify the address with the mailed link's token (single use). Signs in "
        "too, unless the account uses two-factor sign-in.",
    )
    async def verify_email(self, info: AppInfo, token: str) -> VerifyEmailResult:
        ttl = info.context.runtime.settings.refresh_token_ttl_s
        client = client_of(info)

        async def go(s: AsyncSession) -> EmailVerified:
            user = await verification.verify_email(s, token)
            session = None
            if not await totp.enabled(s, user.id):
                issued = await sessions.start(
                    s, user, refresh_ttl_s=ttl, second_factor=False, client=client
                )
                session = await auth_payload(info, s, issued)
            return EmailVerified(user=User.of(user, is_self=True), session=session)

        return await guarded(info, go)

    @strawberry.mutation(
        extensions=[Throttled("mail.request", by="account")],
        permission_classes=[IsAuthenticated],
        description="Mail a new verification link (at most one a minute, ten a day).",
    )
    async def resend_verification_email(self, info: AppInfo) -> ResendVerificationResult:
        user_id = info.context.require_user()

        async def go(s: AsyncSession) -> MailRequested | RateLimited:
            try:  # the cooldown is checked before anything is written
                await verification.resend_verification(s, user_id)
            except RateLimitedError as e:
                return RateLimited.of(e)
            return MailRequested(ok=True)

        return await guarded(info, go)

    @strawberry.mutation(
        extensions=[Throttled("reset.ip")],
        permission_classes=[HasTenant],
        description="Mail a password-reset link. The answer is the same whether or not the "
        "address has an account.",
    )
    async def request_password_reset(self, info: AppInfo, email: str) -> MailRequestedResult:
        async def go(s: AsyncSession) -> MailRequested:
            await verification.request_password_reset(s, email)
            return MailRequested(ok=True)

        return await guarded(info, go)

    @strawberry.mutation(
        extensions=[Throttled("token.ip")],
        permission_classes=[HasTenant],
        description="Set a new password with the mailed link's token: every session of the "
        "account is signed out, and the account is told by mail.",
    )
    async def reset_password(
        self, info: AppInfo, token: str, new_password: str
    ) -> UserChangedResult:
        async def go(s: AsyncSession) -> User:
            return User.of(await verification.reset_password(s, token, new_password))

        return await guarded(info, go)

    @strawberry.mutation(
        extensions=[Throttled("mail.request", by="account")],
        permission_classes=[IsAuthenticated],
        description="Change your address: a link goes to the new one; the old one is told "
        "once it is confirmed. Needs your password.",
    )
    async def request_email_change(
        self, info: AppInfo, new_email: str, password: str
    ) -> MailRequestedResult:
        user_id = info.context.require_user()

        async def go(s: AsyncSession) -> MailRequested | RateLimited:
            try:  # the cooldown is checked before anything is written
                await verification.request_email_change(
                    s, user_id, new_email=new_email, password=password
                )
            except RateLimitedError as e:
                return RateLimited.of(e)
            return MailRequested(ok=True)

        return await guarded(info, go)

    @strawberry.mutation(
        extensions=[Throttled("token.ip")],
        permission_classes=[HasTenant],
        description="Confirm a new address with the link mailed to it.",
    )
    async def confirm_email_change(self, info: AppInfo, token: str) -> UserChangedResult:
        async def go(s: AsyncSession) -> User:
            return User.of(await verification.confirm_email_change(s, token), is_self=True)

        return await guarded(info, go)
