from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.errors import DomainError, Unauthenticated
from aforo.runtime.throttle import RateLimited, throttle
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
from aforo.schema.throttling import Throttled
from aforo.services import accounts
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


def _payload(info: AppInfo, issued: accounts.IssuedSession) -> AuthPayload:
    runtime = info.context.runtime
    token, exp = runtime.auth.issue_access_token(
        tenant_id=issued.user.tenant_id,
        user_id=issued.user.id,
        roles=issued.user.roles,
        session_id=issued.family_id,
        ttl_s=runtime.settings.access_token_ttl_s,
    )
    return AuthPayload(
        access_token=token,
        refresh_token=issued.refresh_token,
        expires_at=datetime.fromtimestamp(exp, UTC),
        user=User.of(issued.user, is_self=True),
    )


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
    @strawberry.mutation(permission_classes=[HasTenant], extensions=[Throttled("signup.ip")])
    async def sign_up(self, info: AppInfo, input: SignUpInput) -> AuthResult:
        ttl = info.context.runtime.settings.refresh_token_ttl_s

        async def go(s: AsyncSession) -> AuthPayload:
            issued = await accounts.sign_up(
                s, email=input.email, password=input.password, name=input.name, refresh_ttl_s=ttl
            )
            return _payload(info, issued)

        return await guarded(info, go)

    @strawberry.mutation(permission_classes=[HasTenant], extensions=[Throttled("login.ip")])
    async def log_in(self, info: AppInfo, input: LogInInput) -> AuthResult:
        ttl = info.context.runtime.settings.refresh_token_ttl_s
        limits = throttle(info.context.runtime)
        # Failed passwords count per email asked, known or not: one answer for both, and an
        # account under attack slows down progressively (docs/security.md).
        account = _login_key(info.context.require_tenant().tenant_id, input.email)
        await limits.check("login.account", *account)

        async def go(s: AsyncSession) -> AuthPayload:
            issued = await accounts.log_in(
                s, email=input.email, password=input.password, refresh_ttl_s=ttl
            )
            return _payload(info, issued)

        result = await guarded(info, go)
        if isinstance(result, UserError) and result.code == accounts.INVALID_CREDENTIALS:
            with contextlib.suppress(RateLimited):  # this answer stands; the next is refused
                await limits.hit("login.account", *account)
        elif isinstance(result, AuthPayload):
            await limits.clear("login.account", *account)
        return result

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
        return _payload(info, issued)

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
