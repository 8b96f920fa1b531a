from __future__ import annotations

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.schema.base import STAFF_ADMIN, AppInfo, guarded, page_size, parse_id, read
from aforo.schema.mail import (
    EmailPreview,
    EmailTemplate,
    MailBranding,
    MailBrandingInput,
    MailBrandingResult,
    MailDelivery,
    MailDeliveryResult,
    MailStatus,
)
from aforo.services import mail
from aforo.services.mail import Kind
from aforo.services.mail import branding as branding_service
from aforo.services.mail.templates import render

# What a preview fills in: a recognisable sample, never a working link.
_SAMPLE = {
    "team_name": "Example Team",
    "inviter_name": "Grace Hopper",
    "role_label": "a member",
    "new_email": "new.address@example.com",
}


@strawberry.type
class Query:
    @strawberry.field(permission_classes=STAFF_ADMIN, description="The mail branding as stored.")
    async def mail_branding(self, info: AppInfo) -> MailBranding:
        return MailBranding.of(await read(info, branding_service.stored))

    @strawberry.field(
        permission_classes=STAFF_ADMIN,
        description="A mail rendered with this tenant's branding and sample data.",
    )
    async def email_preview(
        self,
        info: AppInfo,
        template: EmailTemplate,  # type: ignore[valid-type]
    ) -> EmailPreview:
        settings = info.context.runtime.settings
        brand = await read(info, lambda s: branding_service.current(s, settings))
        kind = Kind(template)
        rendered = render(
            kind,
            brand,
            to="ada@example.com",
            user_name="Ada Lovelace",
            params=_SAMPLE,
            token="PREVIEW",  # noqa: S106 (a placeholder, not a credential)
            expires_in="24 hours",
        )
        return EmailPreview.of(kind, rendered)

    @strawberry.field(
        permission_classes=STAFF_ADMIN,
        description="Queued mail and how it went, newest first; status DEAD lists the dead "
        "letters (failed for good), which retryMailDelivery sends again.",
    )
    async def mail_deliveries(
        self,
        info: AppInfo,
        status: MailStatus | None = None,
        first: int | None = None,
        offset: int = 0,
    ) -> list[MailDelivery]:
        n = page_size(first)
        rows = await read(
            info,
            lambda s: mail.list_jobs(
                s, status=status.value if status else None, limit=n, offset=max(0, offset)
            ),
        )
        return [MailDelivery.of(j) for j in rows]


@strawberry.type
class Mutation:
    @strawberry.mutation(permission_classes=STAFF_ADMIN, description="Set the mail branding.")
    async def update_mail_branding(
        self, info: AppInfo, input: MailBrandingInput
    ) -> MailBrandingResult:
        async def go(s: AsyncSession) -> MailBranding:
            row = await branding_service.update(
                s,
                branding_service.BrandingInput(
                    brand_name=input.brand_name,
                    logo_url=input.logo_url,
                    primary_color=input.primary_color,
                    background_color=input.background_color,
                    from_address=input.from_address,
                    from_name=input.from_name,
                    footer=input.footer,
                    portal_url=input.portal_url,
                ),
            )
            return MailBranding.of(row)

        return await guarded(info, go)

    @strawberry.mutation(
        permission_classes=STAFF_ADMIN,
        description="Send a dead letter again, with a fresh set of attempts.",
    )
    async def retry_mail_delivery(self, info: AppInfo, id: strawberry.ID) -> MailDeliveryResult:
        async def go(s: AsyncSession) -> MailDelivery:
            return MailDelivery.of(await mail.retry_job(s, parse_id(id)))

        return await guarded(info, go)
