from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import strawberry

from aforo.models import mail as m
from aforo.schema.base import UserError
from aforo.services.mail import Kind
from aforo.services.mail.templates import Rendered

EmailTemplate = strawberry.enum(Kind, name="EmailTemplate", description="A kind of mail we send.")


@strawberry.enum(
    description="PENDING (waiting or retrying), SENT, DEAD (failed for good: a "
    "dead letter), CANCELLED (moot by send time, e.g. the address was verified already)."
)
class MailStatus(StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    DEAD = "DEAD"
    CANCELLED = "CANCELLED"


@strawberry.type(description="The tenant's mail branding (what is stored; null: the default).")
class MailBranding:
    brand_name: str | None
    logo_url: str | None
    primary_color: str | None
    background_color: str | None
    from_address: str | None
    from_name: str | None
    footer: str | None
    portal_url: str | None = strawberry.field(
        description="Where mailed links point (your developer portal): /verify-email, "
        "/reset-password, /confirm-email, /accept-invitation with ?token=…"
    )

    @classmethod
    def of(cls, r: m.MailSettings | None) -> MailBranding:
        return cls(
            brand_name=r.brand_name if r else None,
            logo_url=r.logo_url if r else None,
            primary_color=r.primary_color if r else None,
            background_color=r.background_color if r else None,
            from_address=r.from_address if r else None,
            from_name=r.from_name if r else None,
            footer=r.footer if r else None,
            portal_url=r.portal_url if r else None,
        )


@strawberry.input(description="Every field replaces the stored one; null restores the default.")
class MailBrandingInput:
    brand_name: str | None = None
    logo_url: str | None = None
    primary_color: str | None = None
    background_color: str | None = None
    from_address: str | None = None
    from_name: str | None = None
    footer: str | None = None
    portal_url: str | None = None


@strawberry.type(description="A mail rendered with the tenant's branding and sample data.")
class EmailPreview:
    template: EmailTemplate  # type: ignore[valid-type]
    subject: str
    from_: str = strawberry.field(name="from")
    text: str
    html: str

    @classmethod
    def of(cls, kind: Kind, r: Rendered) -> EmailPreview:
        return cls(template=kind, subject=r.subject, from_=str(r.from_), text=r.text, html=r.html)


@strawberry.type(description="One queued mail and how its delivery went. Holds no link.")
class MailDelivery:
    id: strawberry.ID
    template: EmailTemplate  # type: ignore[valid-type]
    to: str
    status: MailStatus
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None

    @classmethod
    def of(cls, j: m.MailJob) -> MailDelivery:
        return cls(
            id=strawberry.ID(str(j.id)),
            template=Kind(j.kind),
            to=j.to_address,
            status=MailStatus(j.status),
            attempts=j.attempts,
            last_error=j.last_error,
            created_at=j.created_at,
            next_attempt_at=j.next_attempt_at if j.status == "PENDING" else None,
            sent_at=j.sent_at,
        )


MailBrandingResult = Annotated[MailBranding | UserError, strawberry.union("MailBrandingResult")]
MailDeliveryResult = Annotated[MailDelivery | UserError, strawberry.union("MailDeliveryResult")]
