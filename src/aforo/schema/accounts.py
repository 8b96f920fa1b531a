from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.models import accounts as m
from aforo.schema.base import AppInfo, UserError
from aforo.services import accounts, sessions
from aforo.services.accounts import UserRow
from aforo.tenancy.context import PrincipalKind
from aforo.tenancy.context import Role as RoleValue

Role = strawberry.enum(RoleValue, name="Role", description="A tenant staff or developer role.")


@strawberry.type(description="A developer account of this tenant.")
class User:
    id: strawberry.ID
    name: str
    created_at: datetime
    email_verified: bool = strawberry.field(
        description="Whether the account proved it reads mail at its address."
    )
    _email: strawberry.Private[str]
    _roles: strawberry.Private[list[RoleValue]]
    _is_self: strawberry.Private[bool] = False

    @strawberry.field(description="Null to anonymous (storefront) callers.")
    def roles(self, info: AppInfo) -> list[Role] | None:  # type: ignore[valid-type]
        t = info.context.tenant
        if self._is_self or (t is not None and t.kind is PrincipalKind.USER):
            return self._roles
        return None

    @strawberry.field(description="Shown to the account itself and to admins only.")
    def email(self, info: AppInfo) -> str | None:
        t = info.context.tenant
        if self._is_self or (
            t is not None and (str(t.user_id) == self.id or t.has(RoleValue.ADMIN))
        ):
            return self._email
        return None

    @classmethod
    def of(cls, u: m.User | UserRow, *, is_self: bool = False) -> User:
        return cls(
            id=strawberry.ID(str(u.id)),
            name=u.name,
            created_at=u.created_at,
            email_verified=u.email_verified_at is not None,
            _email=u.email,
            _roles=[RoleValue(r) for r in u.roles],
            _is_self=is_self,
        )


@strawberry.type(description="A signed-in session: a short-lived access JWT and a refresh token.")
class AuthPayload:
    access_token: str
    refresh_token: str = strawberry.field(
        description="Opaque, single-use: refreshToken returns a new one each time."
    )
    expires_at: datetime
    user: User
    staff_roles_withheld: bool = strawberry.field(
        default=False,
        description="True when the tenant requires a second factor for staff roles and this "
        "session was signed in without one: its access token carries no staff role. Turn on "
        "two-factor sign-in (beginTwoFactorEnrollment) and log in again.",
    )


async def auth_payload(
    info: AppInfo, session: AsyncSession, issued: accounts.IssuedSession
) -> AuthPayload:
    """An access JWT for an issued session, with the roles the session may carry."""
    runtime = info.context.runtime
    access = await sessions.access_roles(session, issued.user, issued.family_id)
    token, exp = runtime.auth.issue_access_token(
        tenant_id=issued.user.tenant_id,
        user_id=issued.user.id,
        roles=access.roles,
        session_id=issued.family_id,
        ttl_s=runtime.settings.access_token_ttl_s,
        staff_withheld=access.withheld,
    )
    return AuthPayload(
        access_token=token,
        refresh_token=issued.refresh_token,
        expires_at=datetime.fromtimestamp(exp, UTC),
        user=User.of(issued.user, is_self=True),
        staff_roles_withheld=access.withheld,
    )


@strawberry.type
class LoggedOut:
    ok: bool


@strawberry.input
class SignUpInput:
    email: str
    password: str
    name: str


@strawberry.input
class LogInInput:
    email: str
    password: str


AuthResult = Annotated[AuthPayload | UserError, strawberry.union("AuthResult")]
LogOutResult = Annotated[LoggedOut | UserError, strawberry.union("LogOutResult")]
UserResult = Annotated[User | UserError, strawberry.union("UserResult")]
