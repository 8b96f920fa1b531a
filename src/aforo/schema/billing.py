from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from aforo.models import billing as m
from aforo.schema.accounts import User
from aforo.schema.base import AppInfo, UserError


@strawberry.enum(description="How often a plan is billed.")
class BillingInterval(Enum):
    MONTH = "MONTH"
    YEAR = "YEAR"


@strawberry.enum
class SubscriptionStatus(Enum):
    ACTIVE = "ACTIVE"
    CANCELLED = "CANCELLED"


@strawberry.type(description="A priced offer of a product.")
class Plan:
    id: strawberry.ID
    product_id: strawberry.ID
    name: str
    slug: str
    price_cents: int
    currency: str
    interval: BillingInterval
    monthly_quota: int | None = strawberry.field(description="Calls per month; null: unlimited.")
    rate_limit_per_minute: int | None
    hard_quota: bool = strawberry.field(
        description="True: calls past the quota are refused; false: billed as overage."
    )
    created_at: datetime
    archived_at: datetime | None

    @classmethod
    def of(cls, p: m.Plan) -> Plan:
        return cls(
            id=strawberry.ID(str(p.id)),
            product_id=strawberry.ID(str(p.product_id)),
            name=p.name,
            slug=p.slug,
            price_cents=p.price_cents,
            currency=p.currency,
            interval=BillingInterval(p.interval),
            monthly_quota=p.monthly_quota,
            rate_limit_per_minute=p.rate_limit_per_minute,
            hard_quota=p.hard_quota,
            created_at=p.created_at,
            archived_at=p.archived_at,
        )


@strawberry.type(description="An API product; its plans are what developers subscribe to.")
class Product:
    id: strawberry.ID
    name: str
    slug: str
    description: str
    created_at: datetime
    _id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="Plans open for subscription (archived ones are hidden).")
    async def plans(self, info: AppInfo) -> list[Plan]:
        return [Plan.of(p) for p in await info.context.loaders.plans_by_product_id.load(self._id)]

    @classmethod
    def of(cls, p: m.Product) -> Product:
        return cls(
            id=strawberry.ID(str(p.id)),
            name=p.name,
            slug=p.slug,
            description=p.description,
            created_at=p.created_at,
            _id=p.id,
        )


@strawberry.type(description="A developer's subscription to a plan.")
class Subscription:
    id: strawberry.ID
    status: SubscriptionStatus
    created_at: datetime
    cancelled_at: datetime | None
    team_id: strawberry.ID | None = strawberry.field(
        description="The owning team; null for a personal subscription."
    )
    _plan_id: strawberry.Private[uuid.UUID]
    _user_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def plan(self, info: AppInfo) -> Plan:
        plan = await info.context.loaders.plan_by_id.load(self._plan_id)
        assert plan is not None  # a foreign key guarantees it
        return Plan.of(plan)

    @strawberry.field(description="The subscriber.")
    async def user(self, info: AppInfo) -> User | None:
        u = await info.context.loaders.user_by_id.load(self._user_id)
        return User.of(u) if u else None

    @classmethod
    def of(cls, s: m.Subscription) -> Subscription:
        return cls(
            id=strawberry.ID(str(s.id)),
            status=SubscriptionStatus(s.status),
            created_at=s.created_at,
            cancelled_at=s.cancelled_at,
            team_id=strawberry.ID(str(s.team_id)) if s.team_id else None,
            _plan_id=s.plan_id,
            _user_id=s.user_id,
        )


@strawberry.input
class CreateProductInput:
    name: str
    slug: str
    description: str = ""


@strawberry.input
class CreatePlanInput:
    product_id: strawberry.ID
    name: str
    slug: str
    price_cents: int
    currency: str
    interval: BillingInterval
    monthly_quota: int | None = None
    rate_limit_per_minute: int | None = None
    hard_quota: bool = False


ProductResult = Annotated[Product | UserError, strawberry.union("ProductResult")]
PlanResult = Annotated[Plan | UserError, strawberry.union("PlanResult")]
SubscriptionResult = Annotated[Subscription | UserError, strawberry.union("SubscriptionResult")]
