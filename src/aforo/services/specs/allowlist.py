"""The tenant's outbound allow-list: hosts or CIDRs spec fetches (and try-it runs) may reach
although they are not public."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.errors import Conflict, NotFound, ValidationFailed
from aforo.models.specs import OutboundAllow
from aforo.runtime.outbound import Allowlist, Guard, policy_of, validate_entry
from aforo.services.spec_import.loader import MAX_SPEC_BYTES

MAX_ALLOWLIST = 100


async def allowlist(session: AsyncSession) -> list[OutboundAllow]:
    rows = await session.scalars(select(OutboundAllow).order_by(OutboundAllow.created_at))
    return list(rows)


async def add_allow(session: AsyncSession, entry: str, note: str = "") -> OutboundAllow:
    try:
        normalised = validate_entry(entry, policy_of(session.info))
    except ValueError as e:
        raise ValidationFailed(str(e), field="entry") from e
    if len(note) > 200:
        raise ValidationFailed("note must be at most 200 characters", field="note")
    count = await session.scalar(select(func.count()).select_from(OutboundAllow))
    if (count or 0) >= MAX_ALLOWLIST:
        raise ValidationFailed(f"at most {MAX_ALLOWLIST} entries", field="entry")
    exists = await session.scalar(select(OutboundAllow).where(OutboundAllow.entry == normalised))
    if exists is not None:
        raise Conflict("that entry is already allowed", field="entry")
    row = OutboundAllow(tenant_id=session.info["tenant_id"], entry=normalised, note=note.strip())
    session.add(row)
    await session.flush()
    return row


async def remove_allow(session: AsyncSession, allow_id: uuid.UUID) -> OutboundAllow:
    row: OutboundAllow | None = await session.scalar(
        delete(OutboundAllow).where(OutboundAllow.id == allow_id).returning(OutboundAllow)
    )
    if row is None:
        raise NotFound("no allow-list entry with that id", field="id")
    return row


async def guard(session: AsyncSession) -> Guard:
    """The outbound guard for fetching specs, with this tenant's allow-list (the try-it
    playground builds its own from the same list, read with the operation it calls)."""
    entries = [a.entry for a in await allowlist(session)]
    return Guard(Allowlist.parse(entries), max_bytes=MAX_SPEC_BYTES, policy=policy_of(session.info))
