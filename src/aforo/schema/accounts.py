from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from aforo.models import accounts as m
from aforo.schema.base import AppInfo, UserError
from aforo.services.accounts import UserRow
from aforo.tenancy.context import Role as RoleValue

Role = strawberry.enum(RoleValue, name="Role", description="A tenant staff or developer role.")


@strawberry.type(description="A developer account of this tenant.")
class User:
    id: strawberry.ID
    name: str
    roles: list[Role]  # type: ignore[valid-type]
    created_at: datetime
    _email: strawberry.Private[str]
    _is_self: strawberry.Private[bool] = False

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
            roles=[RoleValue(r) for r in u.roles],
            created_at=u.created_at,
            _email=u.email,
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
