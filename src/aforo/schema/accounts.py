from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from aforo.models import accounts as m
from aforo.schema.base import AppInfo, UserError
from aforo.tenancy.context import PrincipalKind
from aforo.tenancy.context import Role as RoleValue

Role = strawberry.enum(RoleValue, name="Role", description="A tenant staff or developer role.")


@strawberry.type(description="A developer account of this tenant.")
class User:
    id: strawberry.ID
    name: str
    created_at: datetime
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
    def of(cls, u: m.User, *, is_self: bool = False) -> User:
        return cls(
            id=strawberry.ID(str(u.id)),
            name=u.name,
            created_at=u.created_at,
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
