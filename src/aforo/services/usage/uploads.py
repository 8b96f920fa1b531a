"""Upload jobs: a row per uploaded file, its counters kept current while it streams in."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.db import utcnow
from aforo.errors import NotFound, ValidationFailed
from aforo.models.usage import UsageRejection, UsageUpload
from aforo.services.usage.writer import WriteResult

FORMATS = ("csv", "json", "ndjson")


async def start(
    session: AsyncSession, fmt: str, filename: str | None, token_id: uuid.UUID | None
) -> UsageUpload:
    if filename and any(ord(c) < 32 or ord(c) == 127 for c in filename):
        # Shown back in the console and in job listings; PostgreSQL refuses NUL outright.
        raise ValidationFailed("filename must not contain control characters", field="filename")
    upload = UsageUpload(
        tenant_id=session.info["tenant_id"],
        format=fmt,
        filename=(filename or None) and filename[:300],
        gateway_token_id=token_id,
    )
    session.add(upload)
    await session.flush()
    return upload


async def progress(
    session: AsyncSession, upload_id: uuid.UUID, rows: int, result: WriteResult, nbytes: int
) -> None:
    """Add one written batch to the counters (same transaction as the batch)."""
    await session.execute(
        update(UsageUpload)
        .where(UsageUpload.id == upload_id)
        .values(
            rows=UsageUpload.rows + rows,
            accepted=UsageUpload.accepted + result.accepted,
            duplicates=UsageUpload.duplicates + result.duplicates,
            rejected=UsageUpload.rejected + len(result.rejected),
            bytes=nbytes,
        )
    )


async def finish(
    session: AsyncSession, upload_id: uuid.UUID, *, error: str | None = None
) -> UsageUpload:
    upload: UsageUpload | None = await session.scalar(
        update(UsageUpload)
        .where(UsageUpload.id == upload_id)
        .values(status="failed" if error else "completed", error=error, finished_at=utcnow())
        .returning(UsageUpload)
    )
    if upload is None:
        raise NotFound("no upload with that id", field="id")
    return upload


async def get(session: AsyncSession, upload_id: uuid.UUID) -> UsageUpload:
    upload = await session.get(UsageUpload, (session.info["tenant_id"], upload_id))
    if upload is None:
        raise NotFound("no upload with that id", field="id")
    return upload


async def errors(
    session: AsyncSession, upload_id: uuid.UUID, *, limit: int = 100, after_row: int = 0
) -> list[UsageRejection]:
    rows = await session.scalars(
        select(UsageRejection)
        .where(UsageRejection.upload_id == upload_id, UsageRejection.row_number > after_row)
        .order_by(UsageRejection.row_number)
        .limit(limit)
    )
    return list(rows)
