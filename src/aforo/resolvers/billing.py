from __future__ import annotations

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.runtime.state import after_commit
from aforo.schema.base import (
    STAFF_ADMIN,
    AppInfo,
    HasTenant,
    IsAuthenticated,
    guarded,
    page_size,
    parse_id,
    read,
)
from aforo.schema.billing import (
    CreatePlanInput,
    CreateProductInput,
    Plan,
    PlanResult,
    Product,
    ProductResult,
    Subscription,
    SubscriptionResult,
    SubscriptionStatus,
)
from aforo.services import billing
from aforo.services.key_verify import verifier
from aforo.tenancy.context import Role


@strawberry.type
class Query:
    @strawberry.field(
        permission_classes=[HasTenant],
        description="The storefront catalogue: products and their open plans.",
    )
    async def products(
        self, info: AppInfo, first: int | None = None, offset: int = 0
    ) -> list[Product]:
        limit = page_size(first)
        rows = await read(
            info, lambda s: billing.list_products(s, limit=limit, offset=max(0, offset))
        )
        return [Product.of(p) for p in rows]

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def my_subscriptions(
        self, info: AppInfo, first: int | None = None, offset: int = 0
    ) -> list[Subscription]:
        user_id = info.context.require_user()
        limit = page_size(first)
        rows = await read(
            info,
            lambda s: billing.list_subscriptions(
                s, user_id=user_id, status=None, limit=limit, offset=max(0, offset)
            ),
        )
        return [Subscription.of(x) for x in rows]

    @strawberry.field(permission_classes=STAFF_ADMIN, description="Every subscription.")
    async def subscriptions(
        self,
        info: AppInfo,
        status: SubscriptionStatus | None = None,
        first: int | None = None,
        offset: int = 0,
    ) -> list[Subscription]:
        limit = page_size(first)
        rows = await read(
            info,
            lambda s: billing.list_subscriptions(
                s,
                user_id=None,
                status=status.value if status else None,
                limit=limit,
                offset=max(0, offset),
            ),
        )
        return [Subscription.of(x) for x in rows]


@strawberry.type
class Mutation:
    @strawberry.mutation(permission_classes=STAFF_ADMIN)
    async def create_product(self, info: AppInfo, input: CreateProductInput) -> ProductResult:
        async def go(s: AsyncSession) -> Product:
            return Product.of(
                await billing.create_product(
                    s, name=input.name, slug=input.slug, description=input.description
                )
            )

        return await guarded(info, go)

    @strawberry.mutation(permission_classes=STAFF_ADMIN)
    async def create_plan(self, info: AppInfo, input: CreatePlanInput) -> PlanResult:
        async def go(s: AsyncSession) -> Plan:
            data = billing.PlanInput(
                product_id=parse_id(input.product_id, "productId"),
                name=input.name,
                slug=input.slug,
                price_cents=input.price_cents,
                currency=input.currency,
                interval=input.interval.value,
                monthly_quota=input.monthly_quota,
                rate_limit_per_minute=input.rate_limit_per_minute,
                hard_quota=input.hard_quota,
                charges=tuple(c.to_charge() for c in input.charges),
            )
            return Plan.of(await billing.create_plan(s, data))

        return await guarded(info, go)

    @strawberry.mutation(
        permission_classes=STAFF_ADMIN,
        description="No new subscriptions to this plan; existing ones keep running.",
    )
    async def archive_plan(self, info: AppInfo, id: strawberry.ID) -> PlanResult:
        async def go(s: AsyncSession) -> Plan:
            return Plan.of(await billing.archive_plan(s, parse_id(id)))

        return await guarded(info, go)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Subscribe to a plan: yourself, or a team you manage billing for (teamId).",
    )
    async def subscribe(
        self, info: AppInfo, plan_id: strawberry.ID, team_id: strawberry.ID | None = None
    ) -> SubscriptionResult:
        user_id = info.context.require_user()

        async def go(s: AsyncSession) -> Subscription:
            team = parse_id(team_id, "teamId") if team_id is not None else None
            sub = await billing.subscribe(s, user_id, parse_id(plan_id, "planId"), team)
            return Subscription.of(sub)

        return await guarded(info, go)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Cancel a subscription (yours, your team's as its OWNER, ADMIN or BILLING; "
        "any, for admins): at once (its keys are revoked and a final invoice drafted, the fixed "
        "fee prorated) or, with atPeriodEnd, when its current period ends.",
    )
    async def cancel_subscription(
        self, info: AppInfo, id: strawberry.ID, at_period_end: bool = False
    ) -> SubscriptionResult:
        tenant = info.context.require_tenant()
        user_id = info.context.require_user()
        v = verifier(info.context.runtime)

        async def go(s: AsyncSession) -> Subscription:
            done = await billing.cancel_subscription(
                s,
                parse_id(id),
                actor_id=user_id,
                as_admin=tenant.has(Role.ADMIN),
                at_period_end=at_period_end,
            )
            if done.revoked_keys:
                keys = done.revoked_keys
                await v.invalidate_keys(keys)  # and again once committed (no race)
                after_commit(s, lambda: v.invalidate_keys(keys))
            return Subscription.of(done.subscription)

        return await guarded(info, go)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Take back a cancellation scheduled for the end of the period.",
    )
    async def resume_subscription(self, info: AppInfo, id: strawberry.ID) -> SubscriptionResult:
        tenant = info.context.require_tenant()
        user_id = info.context.require_user()

        async def go(s: AsyncSession) -> Subscription:
            sub = await billing.resume_subscription(
                s, parse_id(id), actor_id=user_id, as_admin=tenant.has(Role.ADMIN)
            )
            return Subscription.of(sub)

        return await guarded(info, go)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Move a subscription (yours; any, for admins) to another plan of the same "
        "product, now: the current period's charges so far are invoiced (the fixed fee "
        "prorated to the second) and the new plan's run to the end of the period.",
    )
    async def change_subscription_plan(
        self, info: AppInfo, subscription_id: strawberry.ID, plan_id: strawberry.ID
    ) -> SubscriptionResult:
        tenant = info.context.require_tenant()
        user_id = info.context.require_user()

        async def go(s: AsyncSession) -> Subscription:
            done = await billing.change_plan(
                s,
                parse_id(subscription_id, "subscriptionId"),
                parse_id(plan_id, "planId"),
                actor_id=user_id,
                as_admin=tenant.has(Role.ADMIN),
            )
            return Subscription.of(done.subscription)

        return await guarded(info, go)
