"""Rate limits on GraphQL fields, declared where the field is (like its permissions).

``extensions=[Throttled("forum.write", by="account")]`` counts every call of the field against
the named limit (``runtime/throttle.py``) before it resolves; past the limit the field fails
with ``RATE_LIMITED`` (``extensions.retryAfter`` in seconds) and the response is an HTTP 429
with ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from strawberry.extensions import FieldExtension
from strawberry.utils.await_maybe import await_maybe

from aforo.runtime.throttle import throttle
from aforo.schema.base import AppInfo
from aforo.schema.context import Context


def client_ip(ctx: Context) -> str:
    """The caller's address (uvicorn resolves ``X-Forwarded-For`` from trusted proxies)."""
    client = ctx.request.client
    return client.host if client is not None else "unknown"


def account_keys(ctx: Context) -> tuple[str, ...]:
    """A signed-in caller's account; anyone else's address."""
    t = ctx.tenant
    if t is not None and t.user_id is not None:
        return (str(t.tenant_id), str(t.user_id))
    return (client_ip(ctx),)


async def limit(info: AppInfo, name: str, *keys: str) -> None:
    """Count one call against limit ``name`` for ``keys`` (raises ``RateLimited``)."""
    await throttle(info.context.runtime).hit(name, *keys)


class Throttled(FieldExtension):
    def __init__(self, name: str, by: Literal["ip", "account"] = "ip") -> None:
        self.name = name
        self.keys: Callable[[Context], tuple[str, ...]] = (
            account_keys if by == "account" else lambda ctx: (client_ip(ctx),)
        )

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: AppInfo, **kwargs: Any
    ) -> Any:
        await limit(info, self.name, *self.keys(info.context))
        return await await_maybe(next_(source, info, **kwargs))
