"""Upload jobs: a row per uploaded file, its counters kept current while it streams in."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.db import utcnow
from aforo.errors import NotFound, ValidationFailed
from aforo.models.usage import UsageRejection, UsageUpload, UsageUploadRow
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


_NUMBER = """
insert into usage_upload_rows (tenant_id, upload_id, digest, seen)
select $1, $2, u.d, u.c from unnest($3::bytea[], $4::int8[]) as u(d, c) order by u.d
on conflict (tenant_id, upload_id, digest)
do update set seen = usage_upload_rows.seen + excluded.seen
returning digest, seen
"""


async def number_rows(
    session: AsyncSession, upload_id: uuid.UUID, digests: Sequence[str]
) -> list[int]:
    """Each row's occurrence (1, 2, …) among the rows of this upload with the same content,
    in file order, counting the batches written before (one statement per batch; the counts
    live in ``usage_upload_rows`` until the upload ends, so memory stays flat)."""
    if not digests:
        return []
    in_batch = Counter(digests)
    keys = sorted(in_batch)
    conn = await session.connection()
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    rows = await raw.fetch(
        _NUMBER,
        session.info["tenant_id"],
        upload_id,
        [bytes.fromhex(k) for k in keys],
        [in_batch[k] for k in keys],
    )
    next_n = {r["digest"].hex(): r["seen"] - in_batch[r["digest"].hex()] + 1 for r in rows}
    out = []
    for d in digests:
        out.append(next_n[d])
        next_n[d] += 1
    return out


async def finish(
    session: AsyncSession, upload_id: uuid.UUID, *, error: str | None = None
) -> UsageUpload:
    await session.execute(delete(UsageUploadRow).where(UsageUploadRow.upload_id == upload_id))
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


# Every ingestion answer's outcome, spelled as enums are on every surface (docs/conventions.md).
ACCEPTED, PARTIAL, REJECTED = "ACCEPTED", "PARTIAL", "REJECTED"


def outcome(status: str, accepted: int, duplicates: int, rejected: int) -> str:
    """An upload's outcome, by the rule of every ingestion answer (docs/usage-formats.md):
    ``ACCEPTED`` nothing refused, ``REJECTED`` nothing usable stored (every row refused, or the
    file unreadable before any row), ``PARTIAL`` the rest."""
    usable = accepted or duplicates
    if status == "failed":
        return PARTIAL if usable else REJECTED
    if not rejected:
        return ACCEPTED
    return PARTIAL if usable else REJECTED
