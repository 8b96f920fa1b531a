"""Shared GraphQL pieces: ``UserError``, permission classes, mutation guard, error masking."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry
from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.permission import BasePermission
from strawberry.types import Info

from aforo.errors import DomainError
from aforo.runtime.state import AFTER_COMMIT, INVALIDATE
from aforo.runtime.throttle import RateLimited
from aforo.schema.context import Context
from aforo.services import outbox
from aforo.tenancy.context import PrincipalKind, Role

T = TypeVar("T")
_HOOK_LISTS = (outbox.PENDING_KEY, AFTER_COMMIT, INVALIDATE)
MAX_PAGE = 200
DEFAULT_PAGE = 50

AppInfo = Info[Context, None]


@strawberry.type(description="An expected failure: a stable code, a message, the offending input.")
class UserError:
    code: str
    message: str
    field: str | None = None

    @classmethod
    def of(cls, e: DomainError) -> UserError:
        return cls(code=e.code, message=e.message, field=e.field)


def graphql_error(e: DomainError) -> GraphQLError:
    ext: dict[str, Any] = {"code": e.code}
    if e.field:
        ext["field"] = e.field
    return GraphQLError(e.message, extensions=ext)


async def guarded(info: AppInfo, fn: Callable[[AsyncSession], Awaitable[T]]) -> T | UserError:
    """Run a mutation in a savepoint: a ``DomainError`` undoes its writes and becomes a
    ``UserError`` payload; anything else propagates (and is masked)."""
    async with info.context.db() as session:
        mark = {k: len(session.info.get(k, ())) for k in _HOOK_LISTS}
        try:
            async with session.begin_nested():
                return await fn(session)
        except RateLimited:
            raise  # not the mutation's answer: the whole request is refused (HTTP 429)
        except DomainError as e:
            # The savepoint is gone: so are the events and hooks registered inside it.
            for k, n in mark.items():
                if k in session.info:
                    del session.info[k][n:]
            return UserError.of(e)


async def read(info: AppInfo, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run a read; a ``DomainError`` becomes a typed GraphQL error."""
    try:
        async with info.context.db() as session:
            return await fn(session)
    except RateLimited:
        raise
    except DomainError as e:
        raise graphql_error(e) from e


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE
    if not 1 <= first <= MAX_PAGE:
        raise graphql_error(
            DomainError(f"first must be between 1 and {MAX_PAGE}", field="first", code="INVALID")
        )
    return first


# -- permissions (declared on fields) --------------------------------------------------------
class _Permission(BasePermission):
    code = "FORBIDDEN"
    # The verdict depends on the request's context alone (never the source or arguments):
    # the plan executor checks it once per field and request (aforo.graphql_exec).
    per_request = True

    def __init__(self) -> None:
        self.error_extensions = {"code": self.code}

    def check(self, ctx: Context) -> bool:
        raise NotImplementedError

    def has_permission(self, source: Any, info: AppInfo, **kwargs: Any) -> bool:
        return self.check(info.context)


class HasTenant(_Permission):
    message = "send an X-Storefront-Key or an Authorization bearer token"
    code = "UNAUTHENTICATED"

    def check(self, ctx: Context) -> bool:
        return ctx.tenant is not None


class IsAuthenticated(_Permission):
    message = "sign in first"
    code = "UNAUTHENTICATED"

    def check(self, ctx: Context) -> bool:
        return ctx.tenant is not None and ctx.tenant.kind is PrincipalKind.USER


class _HasRole(_Permission):
    """Use after ``IsAuthenticated`` in the list, so anonymous callers get UNAUTHENTICATED."""

    role: Role

    def __init__(self) -> None:
        super().__init__()
        self.message = f"requires the {self.role.value} role"

    def check(self, ctx: Context) -> bool:
        return ctx.tenant is not None and ctx.tenant.has(self.role)


class IsAdmin(_HasRole):
    role = Role.ADMIN


class IsModerator(_HasRole):
    role = Role.MODERATOR  # admins pass too


STAFF_ADMIN: list[type[BasePermission]] = [IsAuthenticated, IsAdmin]
STAFF_MODERATOR: list[type[BasePermission]] = [IsAuthenticated, IsModerator]


def parse_id(value: str, field: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as e:
        raise DomainError("not a valid id", field=field, code="INVALID") from e
