"""Dataloaders, built per request, named ``<thing>_by_<key>``, batching through services."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.dataloader import DataLoader

from aforo.graphql_exec import Lookup, lookup_resolver
from aforo.models.api_keys import ApiKeyEvent
from aforo.models.billing import Plan, Subscription
from aforo.services import accounts, api_keys, billing

if TYPE_CHECKING:
    from aforo.schema.context import Context


class Loaders:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

        async def users(ids: list[uuid.UUID]) -> list[accounts.UserRow | None]:
            async with ctx.db() as s:
                return await accounts.users_by_ids(s, ids)

        self.user_by_id: DataLoader[uuid.UUID, accounts.UserRow | None] = DataLoader(users)

        # billing / api_keys
        async def plans_of_products(ids: list[uuid.UUID]) -> list[list[Plan]]:
            async with ctx.db() as s:
                return await billing.plans_by_product_ids(s, ids)

        async def plans(ids: list[uuid.UUID]) -> list[Plan | None]:
            async with ctx.db() as s:
                return await billing.plans_by_ids(s, ids)

        async def key_subscriptions(ids: list[uuid.UUID]) -> list[list[Subscription]]:
            async with ctx.db() as s:
                return await api_keys.subscriptions_by_key_ids(s, ids)

        async def key_events(ids: list[uuid.UUID]) -> list[list[ApiKeyEvent]]:
            async with ctx.db() as s:
                return await api_keys.events_by_key_ids(s, ids)

        self.plans_by_product_id: DataLoader[uuid.UUID, list[Plan]] = DataLoader(plans_of_products)
        self.plan_by_id: DataLoader[uuid.UUID, Plan | None] = DataLoader(plans)
        self.subscriptions_by_key_id: DataLoader[uuid.UUID, list[Subscription]] = DataLoader(
            key_subscriptions
        )
        self.key_events_by_key_id: DataLoader[uuid.UUID, list[ApiKeyEvent]] = DataLoader(key_events)


def loaded(
    loader: Callable[[Context], DataLoader[Any, Any]],
    key: Callable[[Any], Any],
    view: Callable[[Context, Any], Any],
    **field: Any,
) -> Any:
    """A field that is one dataloader lookup and a view of what it loads: ``loader(context)``
    the request's dataloader, ``key(parent)`` what to load, ``view(context, loaded)`` the
    field's value. The plan executor loads, views and completes once per distinct key and
    request, without a coroutine or a task per value (``aforo.graphql_exec.Lookup``)."""
    return strawberry.field(resolver=lookup_resolver(Lookup(loader, key, view)), **field)
