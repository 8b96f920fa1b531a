"""Dataloaders, built per request, named ``<thing>_by_<key>``, batching through services."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.dataloader import DataLoader

from aforo.graphql_exec import Lookup, lookup_resolver
from aforo.models.api_keys import ApiKey, ApiKeyEvent
from aforo.models.billing import BillingPeriod, InvoiceEvent, InvoiceLine, Plan, Subscription
from aforo.models.teams import TeamInvitation
from aforo.services import accounts, api_keys, billing, teams

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

        # billing: prices, periods, invoices
        async def plan_charges(ids: list[uuid.UUID]) -> list[list[billing.Charge]]:
            async with ctx.db() as s:
                return await billing.charges_by_plan_ids(s, ids)

        async def open_periods(ids: list[uuid.UUID]) -> list[BillingPeriod | None]:
            async with ctx.db() as s:
                return await billing.open_by_subscription_ids(s, ids)

        async def invoice_lines(ids: list[uuid.UUID]) -> list[list[InvoiceLine]]:
            async with ctx.db() as s:
                return await billing.lines_by_invoice_ids(s, ids)

        async def invoice_events(ids: list[uuid.UUID]) -> list[list[InvoiceEvent]]:
            async with ctx.db() as s:
                return await billing.events_by_invoice_ids(s, ids)

        self.charges_by_plan_id: DataLoader[uuid.UUID, list[billing.Charge]] = DataLoader(
            plan_charges
        )
        self.open_period_by_subscription_id: DataLoader[uuid.UUID, BillingPeriod | None] = (
            DataLoader(open_periods)
        )
        self.lines_by_invoice_id: DataLoader[uuid.UUID, list[InvoiceLine]] = DataLoader(
            invoice_lines
        )
        self.events_by_invoice_id: DataLoader[uuid.UUID, list[InvoiceEvent]] = DataLoader(
            invoice_events
        )

        # teams
        async def team_members(ids: list[uuid.UUID]) -> list[list[teams.Member]]:
            async with ctx.db() as s:
                return await teams.members_by_team_ids(s, ids)

        async def team_invitations(ids: list[uuid.UUID]) -> list[list[TeamInvitation]]:
            async with ctx.db() as s:
                return await teams.invitations_by_team_ids(s, ids)

        async def team_subscriptions(ids: list[uuid.UUID]) -> list[list[Subscription]]:
            async with ctx.db() as s:
                return await teams.subscriptions_by_team_ids(s, ids)

        async def team_keys(ids: list[uuid.UUID]) -> list[list[ApiKey]]:
            async with ctx.db() as s:
                return await teams.keys_by_team_ids(s, ids)

        self.members_by_team_id: DataLoader[uuid.UUID, list[teams.Member]] = DataLoader(
            team_members
        )
        self.invitations_by_team_id: DataLoader[uuid.UUID, list[TeamInvitation]] = DataLoader(
            team_invitations
        )
        self.subscriptions_by_team_id: DataLoader[uuid.UUID, list[Subscription]] = DataLoader(
            team_subscriptions
        )
        self.keys_by_team_id: DataLoader[uuid.UUID, list[ApiKey]] = DataLoader(team_keys)


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
