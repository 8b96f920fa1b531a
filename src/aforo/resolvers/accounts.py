from __future__ import annotations

import contextlib
import uuid

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.errors import DomainError, Unauthenticated
from aforo.errors import RateLimited as RateLimitedError
from aforo.runtime.throttle import throttle
from aforo.schema.accounts import (
    AuthPayload,
    AuthResult,
    LoggedOut,
    LogInInput,
    LogOutResult,
    Role,
    SignUpInput,
    User,
    UserResult,
    auth_payload,
)
from aforo.schema.base import (
    STAFF_ADMIN,
    AppInfo,
    HasTenant,
    IsAuthenticated,
    UserError,
    guarded,
    page_size,
    parse_id,
    read,
)
from aforo.schema.signin import (
    LogInResult,
    RateLimited,
    SecondFactorRequired,
    SecondFactorResult,
    SignUpAccepted,
    SignUpResult,
    client_of,
)
from aforo.schema.throttling import Throttled
from aforo.services import accounts, signin, totp, verification
from aforo.tenancy.context import Role as RoleValue
from aforo.tenancy.hashing import sha256


def _login_key(tenant_id: uuid.UUID, email: str) -> tuple[str, str]:
    """The failed-password counter's key: the account asked for, as the service would find it
    (NFKC and case variants count as one), hashed (no email in the shared cache)."""
    try:
        normal = accounts.normalize_email(email)
    except DomainError:
        normal = email.strip().lower()
    return str(tenant_id), sha256(normal).hex()[:32]


@strawberry.type
class Query:
    @strawberry.field(permission_classes=[IsAuthenticated], description="The signed-in account.")
    async def me(self, info: AppInfo) -> User:
        user_id = info.context.require_user()
        return User.of(await read(info, lambda s: accounts.user_by_id(s, user_id)))

    @strawberry.field(permission_classes=STAFF_ADMIN)
    async def users(self, info: AppInfo, first: int | None = None, offset: int = 0) -> list[User]:
        limit = page_size(first)
        rows = await read(
            info, lambda s: accounts.list_users(s, limit=limit, offset=max(0, offset))
        )
        return [User.of(u) for u in rows]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        permission_classes=[HasTenant],
        extensions=[Throttled("signup.ip")],
        description="Create an account and mail a verification link. The answer is the same "
        "whether or not the address has an account (its owner gets a mail instead).",
    )
    async def sign_up(self, info: AppInfo, input: SignUpInput) -> SignUpResult:
        async def go(s: AsyncSession) -> SignUpAccepted:
            email = await verification.sign_up(
                s, email=input.email, password=input.password, name=input.name
            )
            return SignUpAccepted(email=email, verification_required=True)

        return await guarded(info, go)

    @strawberry.mutation(
        permission_classes=[HasTenant],
        extensions=[Throttled("login.ip")],
        description="Check the password; returns a session, or SecondFactorRequired when the "
        "account uses two-factor sign-in (then call logInSecondFactor).",
    )
    async def log_in(self, info: AppInfo, input: LogInInput) -> LogInResult:
        ttl = info.context.runtime.settings.refresh_token_ttl_s
        client = client_of(info)
        limits = throttle(info.context.runtime)
        # Failed passwords count per email asked, known or not: one answer for both, and an
        # account under attack slows down progressively (docs/security.md).
        account = _login_key(info.context.require_tenant().tenant_id, input.email)
        await limits.check("login.account", *account)

        async def go(s: AsyncSession) -> AuthPayload | SecondFactorRequired:
            out = await signin.log_in(
                s, email=input.email, password=input.password, refresh_ttl_s=ttl, client=client
            )
            if isinstance(out, signin.SecondFactorNeeded):
                return SecondFactorRequired(challenge=out.challenge, expires_at=out.expires_at)
            return await auth_payload(info, s, out)

        result = await guarded(info, go)
        if isinstance(result, UserError) and result.code == accounts.INVALID_CREDENTIALS:
            with contextlib.suppress(RateLimitedError):  # this answer stands; the next is refused
                await limits.hit("login.account", *account)
        elif isinstance(result, AuthPayload | SecondFactorRequired):  # the password was right
            await limits.clear("login.account", *account)
        return result

    @strawberry.mutation(
        permission_classes=[HasTenant],
        extensions=[Throttled("login.ip")],
        description="The second step of logging in: the challenge and a code from the "
        "authenticator app, or a one-time recovery code.",
    )
    async def log_in_second_factor(
        self, info: AppInfo, challenge: str, code: str
    ) -> SecondFactorResult:
        ttl = info.context.runtime.settings.refresh_token_ttl_s
        keys = totp.data_keys(info.context.runtime)
        client = client_of(info)
        # Not in a savepoint: a wrong code is counted against the challenge and the account,
        # and that count must commit although the call fails.
        async with info.context.db() as s:
            try:
                issued = await signin.complete(
                    s, keys, challenge=challenge, code=code, refresh_ttl_s=ttl, client=client
                )
            except RateLimitedError as e:
                return RateLimited.of(e)
            except DomainError as e:
                return UserError.of(e)
            return await auth_payload(info, s, issued)

    @strawberry.mutation(permission_classes=[HasTenant], extensions=[Throttled("refresh.ip")])
    async def refresh_token(self, info: AppInfo, token: str) -> AuthResult:
        ttl = info.context.runtime.settings.refresh_token_ttl_s
        # Not guarded by a savepoint: revoking a reused token's family must commit even though
        # the call fails.
        async with info.context.db() as s:
            try:
                issued = await accounts.refresh(s, token=token, refresh_ttl_s=ttl)
            except Unauthenticated as e:
                return UserError.of(e)
            return await auth_payload(info, s, issued)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Ends this session: its refresh tokens stop working.",
    )
    async def log_out(self, info: AppInfo) -> LogOutResult:
        caller = info.context.require_tenant()
        user_id = info.context.require_user()

        async def go(s: AsyncSession) -> LoggedOut:
            if caller.session_id is not None:
                await accounts.revoke_sessions(s, user_id, [caller.session_id])
            return LoggedOut(ok=True)

        return await guarded(info, go)

    @strawberry.mutation(permission_classes=STAFF_ADMIN)
    async def set_user_roles(
        self,
        info: AppInfo,
        user_id: strawberry.ID,
        roles: list[Role],  # type: ignore[valid-type]
    ) -> UserResult:
        actor = info.context.require_user()

        async def go(s: AsyncSession) -> User:
            user = await accounts.set_roles(
                s, actor, parse_id(user_id, "userId"), [RoleValue(r) for r in roles]
            )
            return User.of(user)

        return await guarded(info, go)

    @strawberry.mutation(
        permission_classes=STAFF_ADMIN,
        description="Remove an account: it can no longer sign in and its sessions end at once "
        "(its posts and records stay). The last admin cannot be removed.",
    )
    async def remove_user(self, info: AppInfo, user_id: strawberry.ID) -> UserResult:
        async def go(s: AsyncSession) -> User:
            return User.of(await accounts.remove_user(s, parse_id(user_id, "userId")))

        return await guarded(info, go)
