from __future__ import annotations

import base64
import binascii
from datetime import datetime

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.errors import ValidationFailed
from aforo.schema.base import (
    STAFF_ADMIN,
    AppInfo,
    IsAuthenticated,
    guarded,
    page_size,
    parse_id,
    read,
)
from aforo.schema.invoices import (
    BillingRun,
    BillingSettings,
    BillingSettingsInput,
    BillingSettingsResult,
    Invoice,
    InvoiceResult,
    InvoiceStatus,
    UpcomingInvoice,
)
from aforo.services import billing
from aforo.tenancy.context import Role


def viewer(info: AppInfo) -> billing.Viewer:
    tenant = info.context.require_tenant()
    return billing.Viewer(user_id=tenant.user_id, is_admin=tenant.has(Role.ADMIN))


@strawberry.type
class Query:
    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Invoices, newest first: the tenant's for admins, your own otherwise.",
    )
    async def invoices(
        self,
        info: AppInfo,
        status: InvoiceStatus | None = None,
        subscription_id: strawberry.ID | None = None,
        first: int | None = None,
        offset: int = 0,
    ) -> list[Invoice]:
        limit = page_size(first)
        who = viewer(info)

        async def go(s: AsyncSession) -> list[Invoice]:
            sub = parse_id(subscription_id, "subscriptionId") if subscription_id else None
            rows = await billing.list_invoices(
                s,
                who,
                status=status.value if status else None,
                subscription_id=sub,
                limit=limit,
                offset=max(0, offset),
            )
            return [Invoice.of(i) for i in rows]

        return await read(info, go)

    @strawberry.field(permission_classes=[IsAuthenticated], description="One invoice, with lines.")
    async def invoice(self, info: AppInfo, id: strawberry.ID) -> Invoice:
        who = viewer(info)

        async def go(s: AsyncSession) -> Invoice:
            return Invoice.of(await billing.get_invoice(s, who, parse_id(id)))

        return await read(info, go)

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="What the subscription's current period will cost if nothing changes.",
    )
    async def upcoming_invoice(
        self, info: AppInfo, subscription_id: strawberry.ID
    ) -> UpcomingInvoice:
        who = viewer(info)

        async def go(s: AsyncSession) -> UpcomingInvoice:
            sub = parse_id(subscription_id, "subscriptionId")
            return UpcomingInvoice.of(await billing.upcoming(s, who, sub))

        return await read(info, go)

    @strawberry.field(permission_classes=STAFF_ADMIN)
    async def billing_settings(self, info: AppInfo) -> BillingSettings:
        return BillingSettings.of(await read(info, billing.get_settings))


@strawberry.type
class Mutation:
    @strawberry.mutation(
        permission_classes=STAFF_ADMIN,
        description="Number a draft (no gaps, per tenant) and make it immutable and owed.",
    )
    async def finalize_invoice(self, info: AppInfo, id: strawberry.ID) -> InvoiceResult:
        actor = info.context.require_user()

        async def go(s: AsyncSession) -> Invoice:
            return Invoice.of(await billing.finalize(s, parse_id(id), actor_id=actor))

        return await guarded(info, go)

    @strawberry.mutation(
        permission_classes=STAFF_ADMIN,
        description="Cancel a draft or finalized invoice; its usage is not billed again.",
    )
    async def void_invoice(self, info: AppInfo, id: strawberry.ID, reason: str) -> InvoiceResult:
        actor = info.context.require_user()

        async def go(s: AsyncSession) -> Invoice:
            return Invoice.of(await billing.void(s, parse_id(id), reason=reason, actor_id=actor))

        return await guarded(info, go)

    @strawberry.mutation(
        permission_classes=STAFF_ADMIN,
        description="Record that a finalized invoice was paid (collected outside, e.g. by the "
        "payment provider that consumed its invoice.finalized event).",
    )
    async def mark_invoice_paid(
        self,
        info: AppInfo,
        id: strawberry.ID,
        payment_reference: str | None = None,
        paid_at: datetime | None = None,
    ) -> InvoiceResult:
        actor = info.context.require_user()

        async def go(s: AsyncSession) -> Invoice:
            done = await billing.mark_paid(
                s, parse_id(id), reference=payment_reference, paid_at=paid_at, actor_id=actor
            )
            return Invoice.of(done)

        return await guarded(info, go)

    @strawberry.mutation(
        permission_classes=STAFF_ADMIN,
        description="Run the billing job for this tenant now: close every period that has "
        "ended and draft its invoice (the job also runs on its own).",
    )
    async def close_billing_periods(self, info: AppInfo) -> BillingRun:
        tenant = info.context.require_tenant()
        ids = await billing.close_due_periods(info.context.runtime, tenant_id=tenant.tenant_id)
        who = viewer(info)

        async def go(s: AsyncSession) -> BillingRun:
            return BillingRun(
                invoices=[Invoice.of(await billing.get_invoice(s, who, i)) for i in ids]
            )

        return await read(info, go)

    @strawberry.mutation(permission_classes=STAFF_ADMIN)
    async def update_billing_settings(
        self, info: AppInfo, input: BillingSettingsInput
    ) -> BillingSettingsResult:
        async def go(s: AsyncSession) -> BillingSettings:
            logo = None
            if input.logo_base64 is not None:
                try:
                    logo = base64.b64decode(input.logo_base64, validate=True)
                except (binascii.Error, ValueError) as e:
                    raise ValidationFailed("not valid base64", field="logoBase64") from e
            data = billing.SettingsInput(
                tax_rate=input.tax_rate,
                tax_label=input.tax_label,
                invoice_prefix=input.invoice_prefix,
                payment_terms_days=input.payment_terms_days,
                brand_name=input.brand_name,
                brand_color=input.brand_color,
                logo=logo,
                clear_logo=input.clear_logo,
                address=input.address,
                footer=input.footer,
            )
            return BillingSettings.of(await billing.update_settings(s, data))

        return await guarded(info, go)
