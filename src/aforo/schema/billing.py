from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated

import strawberry

from aforo.models import billing as m
from aforo.schema.accounts import User
from aforo.schema.base import AppInfo, UserError
from aforo.services import billing as svc


@strawberry.enum(description="How often a plan is billed.")
class BillingInterval(Enum):
    MONTH = "MONTH"
    YEAR = "YEAR"


@strawberry.enum
class SubscriptionStatus(Enum):
    ACTIVE = "ACTIVE"
    CANCELLED = "CANCELLED"


@strawberry.type(description="An exact amount of money.")
class Money:
    currency: str = strawberry.field(description="ISO 4217 code.")
    amount: Decimal = strawberry.field(
        description="In major units at the currency's exponent: 12.34 USD, 1234 JPY."
    )
    minor_units: Decimal = strawberry.field(
        description="The whole number of minor units (cents for USD, yen for JPY)."
    )

    @classmethod
    def of(cls, minor: int, currency: str) -> Money:
        return cls(
            currency=currency, amount=svc.to_major(minor, currency), minor_units=Decimal(minor)
        )


@strawberry.enum(description="How a metered charge turns a quantity into an amount.")
class PricingModel(Enum):
    PER_UNIT = "PER_UNIT"
    PACKAGE = "PACKAGE"
    GRADUATED = "GRADUATED"
    VOLUME = "VOLUME"


@strawberry.type(description="One tier of a graduated or volume price.")
class PriceTier:
    up_to: Decimal | None = strawberry.field(
        description="Last unit of the tier (inclusive); null: unbounded (the last tier)."
    )
    unit_price: Decimal = strawberry.field(description="Per unit, in major units.")
    flat_fee: Decimal = strawberry.field(description="Added once when the tier is entered.")


@strawberry.type(description="The price of one metric on a plan, billed per period.")
class PlanCharge:
    metric: str
    model: PricingModel
    included_units: Decimal = strawberry.field(
        description="Free units per period, taken off before the price applies."
    )
    unit_price: Decimal | None = strawberry.field(description="PER_UNIT: per unit, major units.")
    package_size: Decimal | None = strawberry.field(description="PACKAGE: units per package.")
    package_price: Decimal | None = strawberry.field(description="PACKAGE: per started package.")
    tiers: list[PriceTier]

    @classmethod
    def of(cls, c: svc.Charge) -> PlanCharge:
        return cls(
            metric=c.metric,
            model=PricingModel(c.model),
            included_units=c.included_units,
            unit_price=c.unit_price,
            package_size=c.package_size,
            package_price=c.package_price,
            tiers=[
                PriceTier(up_to=t.up_to, unit_price=t.unit_price, flat_fee=t.flat_fee)
                for t in c.tiers
            ],
        )


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
    fixed_fee: Money = strawberry.field(
        description="Billed per interval, in arrears with the period's usage (priceCents)."
    )
    _id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="Metered prices, one per metric (fixed when the plan is made).")
    async def charges(self, info: AppInfo) -> list[PlanCharge]:
        return [
            PlanCharge.of(c) for c in await info.context.loaders.charges_by_plan_id.load(self._id)
        ]

    @classmethod
    def of(cls, p: m.Plan) -> Plan:
        return cls(
            id=strawberry.ID(str(p.id)),
            _id=p.id,
            fixed_fee=Money.of(p.price_cents, p.currency),
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


@strawberry.type(
    description="The stretch of a billing period a subscription is in: the whole period, or "
    "its part since a plan change."
)
class BillingPeriod:
    starts_at: datetime
    ends_at: datetime
    period_start: datetime
    period_end: datetime
    plan_id: strawberry.ID

    @classmethod
    def of(cls, p: m.BillingPeriod) -> BillingPeriod:
        return cls(
            starts_at=p.starts_at,
            ends_at=p.ends_at,
            period_start=p.period_start,
            period_end=p.period_end,
            plan_id=strawberry.ID(str(p.plan_id)),
        )


@strawberry.type(description="A developer's subscription to a plan.")
class Subscription:
    id: strawberry.ID
    status: SubscriptionStatus
    created_at: datetime
    cancelled_at: datetime | None
    billing_anchor: datetime = strawberry.field(
        description="Periods run from here, one interval at a time (calendar months)."
    )
    cancel_at_period_end: bool = strawberry.field(
        description="True: it ends (keys revoked, final invoice) when the current period ends."
    )
    _id: strawberry.Private[uuid.UUID]
    team_id: strawberry.ID | None = strawberry.field(
        description="The owning team; null for a personal subscription."
    )
    _plan_id: strawberry.Private[uuid.UUID]
    _user_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The current billing period; null once cancelled.")
    async def current_period(self, info: AppInfo) -> BillingPeriod | None:
        p = await info.context.loaders.open_period_by_subscription_id.load(self._id)
        return BillingPeriod.of(p) if p else None

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
            billing_anchor=s.billing_anchor,
            cancel_at_period_end=s.cancel_at_period_end,
            _id=s.id,
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
class PriceTierInput:
    unit_price: Decimal = strawberry.field(description="Per unit, major units (as a string).")
    up_to: Decimal | None = strawberry.field(
        default=None, description="Last unit of the tier; omit for the last tier."
    )
    flat_fee: Decimal = Decimal(0)


@strawberry.input(description='Decimal amounts as strings ("0.0004") or JSON numbers.')
class PlanChargeInput:
    metric: str
    model: PricingModel
    included_units: Decimal = Decimal(0)
    unit_price: Decimal | None = None
    package_size: Decimal | None = None
    package_price: Decimal | None = None
    tiers: list[PriceTierInput] | None = None

    def to_charge(self) -> svc.Charge:
        return svc.Charge(
            metric=self.metric,
            model=self.model.value,
            included_units=self.included_units,
            unit_price=self.unit_price,
            package_size=self.package_size,
            package_price=self.package_price,
            tiers=tuple(svc.Tier(t.up_to, t.unit_price, t.flat_fee) for t in self.tiers or ()),
        )


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
    charges: list[PlanChargeInput] = strawberry.field(
        default_factory=list, description="Metered prices, one per metric."
    )


ProductResult = Annotated[Product | UserError, strawberry.union("ProductResult")]
PlanResult = Annotated[Plan | UserError, strawberry.union("PlanResult")]
SubscriptionResult = Annotated[Subscription | UserError, strawberry.union("SubscriptionResult")]
