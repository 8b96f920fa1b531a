"""A tenant's invoicing settings: tax rate, number prefix, payment terms and brand.

The tax is one configured rate per tenant applied to every invoice's subtotal. Real tax
engines (rates by the customer's jurisdiction, exemptions, reverse charge, tax IDs) are out of
scope: a tenant that needs them sets the rate to 0 and lets its payment provider add the tax.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.db import utcnow
from aforo.errors import ValidationFailed
from aforo.models.billing import BillingSettings
from aforo.models.tenants import Tenant
from aforo.services import outbox
from aforo.services.billing.states import TOPIC

MAX_LOGO_BYTES = 128 * 1024  # base64 in a GraphQL request (bodies are capped at 256 KiB)
MAX_LOGO_PIXELS = 4096
_PREFIX = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,11}$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULTS = BillingSettings(
    tax_rate=Decimal(0),
    tax_label="Tax",
    invoice_prefix="INV",
    payment_terms_days=0,
    brand_name=None,
    brand_color=None,
    logo=None,
    address="",
    footer="",
)


async def get_settings(session: AsyncSession) -> BillingSettings:
    """The tenant's settings, or the defaults when it never set any (not added to the session)."""
    row = await session.scalar(select(BillingSettings))
    return row if row is not None else DEFAULTS


async def brand_name(session: AsyncSession, settings: BillingSettings) -> str:
    """The name invoices are issued under: the brand name, or the tenant's own."""
    if settings.brand_name:
        return settings.brand_name
    name: str | None = await session.scalar(select(Tenant.name))
    return name or ""


@dataclass(frozen=True)
class SettingsInput:
    """Fields left None are kept; ``clear_logo`` removes the logo."""

    tax_rate: Decimal | None = None
    tax_label: str | None = None
    invoice_prefix: str | None = None
    payment_terms_days: int | None = None
    brand_name: str | None = None
    brand_color: str | None = None
    logo: bytes | None = None
    clear_logo: bool = False
    address: str | None = None
    footer: str | None = None


def _text(value: str, field: str, limit: int, *, lines: bool = False) -> str:
    value = value.strip()
    if len(value) > limit:
        raise ValidationFailed(f"at most {limit} characters", field=field)
    allowed = "\n" if lines else ""
    if any(ord(c) < 32 and c not in allowed for c in value):
        raise ValidationFailed("no control characters", field=field)
    return value


def _logo(data: bytes) -> bytes:
    """A PNG or JPEG of sensible size, checked by decoding it (not by its name)."""
    if len(data) > MAX_LOGO_BYTES:
        raise ValidationFailed(f"at most {MAX_LOGO_BYTES // 1024} KiB", field="logo")
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt, size = img.format, img.size
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ValidationFailed("not a readable PNG or JPEG image", field="logo") from e
    if fmt not in ("PNG", "JPEG"):
        raise ValidationFailed("a PNG or JPEG image", field="logo")
    if max(size) > MAX_LOGO_PIXELS:
        raise ValidationFailed(f"at most {MAX_LOGO_PIXELS} pixels a side", field="logo")
    return data


def _validated(i: SettingsInput) -> dict[str, object]:
    out: dict[str, object] = {}
    if i.tax_rate is not None:
        rate = i.tax_rate
        exp = rate.as_tuple().exponent if rate.is_finite() else 0
        if not rate.is_finite() or not 0 <= rate <= 100 or (isinstance(exp, int) and exp < -4):
            raise ValidationFailed(
                "a percentage from 0 to 100 with at most 4 decimal places", field="taxRate"
            )
        out["tax_rate"] = rate
    if i.tax_label is not None:
        label = _text(i.tax_label, "taxLabel", 40)
        if not label:
            raise ValidationFailed("1-40 characters", field="taxLabel")
        out["tax_label"] = label
    if i.invoice_prefix is not None:
        if not _PREFIX.match(i.invoice_prefix):
            raise ValidationFailed(
                "1-12 upper-case letters, digits and dashes", field="invoicePrefix"
            )
        out["invoice_prefix"] = i.invoice_prefix
    if i.payment_terms_days is not None:
        if not 0 <= i.payment_terms_days <= 365:
            raise ValidationFailed("0-365 days", field="paymentTermsDays")
        out["payment_terms_days"] = i.payment_terms_days
    if i.brand_name is not None:
        out["brand_name"] = _text(i.brand_name, "brandName", 200) or None
    if i.brand_color is not None:
        if i.brand_color and not _COLOR.match(i.brand_color):
            raise ValidationFailed("a colour such as #1a73e8", field="brandColor")
        out["brand_color"] = i.brand_color.lower() or None
    if i.logo is not None and i.clear_logo:
        raise ValidationFailed("give a logo or clear it, not both", field="logo")
    if i.logo is not None:
        out["logo"] = _logo(i.logo)
    if i.clear_logo:
        out["logo"] = None
    if i.address is not None:
        out["address"] = _text(i.address, "address", 1000, lines=True)
    if i.footer is not None:
        out["footer"] = _text(i.footer, "footer", 1000, lines=True)
    return out


async def update_settings(session: AsyncSession, data: SettingsInput) -> BillingSettings:
    values = _validated(data)
    tenant_id = session.info["tenant_id"]
    stmt = insert(BillingSettings).values(tenant_id=tenant_id, **values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[BillingSettings.tenant_id], set_={**values, "updated_at": utcnow()}
    )
    row = await session.scalar(
        stmt.returning(BillingSettings).execution_options(populate_existing=True)
    )
    assert row is not None
    changed = sorted(k for k in values if k != "logo") + (["logo"] if "logo" in values else [])
    await outbox.emit(session, TOPIC, "billing_settings.updated", {"changed": changed})
    return row
