"""The bulk write path: events in, counted exactly once, refused ones dead-lettered.

One batch costs a handful of statements whatever its size:

1. ``COPY`` the batch into a session-local staging table (binary, the fastest way in);
2. one statement that claims the ids in ``usage_event_ids`` (``ON CONFLICT DO NOTHING``), inserts
   only the claimed events into ``usage_events`` and upserts their hourly rollups. Claim, event
   and rollup commit or roll back together, so an id can never be claimed for an event that was
   not counted (the failure mode of claiming first and writing later);
3. for the ids someone already claimed: same content hash → a duplicate (a retry, counted once);
   another hash → a ``CONFLICT`` rejection;
4. the rejections go to the dead-letter table in the same transaction.

A concurrent writer inserting the same id waits on the claim's unique index until the first
commits, then sees the claim: exact under concurrency, no read-then-write race.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.models.usage import UsageRejection
from aforo.services import outbox
from aforo.services.usage_events import COLUMNS, VALUES, Event, Rejection
from aforo.services.usage_mapping import map_consumers

TOPIC = "aforo.usage.events"
RECORD_KEEP = 4096  # characters of a refused record kept in the dead-letter table

# Months whose partition is known to exist (the ensure function said so): skips a round trip.
_known_months: set[date] = set()

_STAGE_DDL = """
create temp table if not exists usage_stage (
    ord integer, content_hash bytea, tenant_id uuid, event_id text collate "C",
    occurred_at timestamptz,
    source text, metric text, quantity numeric, consumer text, subscription_id uuid,
    key_id uuid, source_account text, method text, path text, route text, status integer,
    latency_ms double precision, request_bytes bigint, response_bytes bigint, request_id text,
    client_ip text, tool text, agent text, session text, outcome text, properties jsonb,
    upload_id uuid
) on commit delete rows"""

_EVENT_COLS = ", ".join(COLUMNS)
_STAGE_COLS = ("ord", "content_hash", *COLUMNS)

_REST_OF_WRITE = f"""
ins as (
    insert into usage_events ({_EVENT_COLS})
    select {", ".join("s." + c for c in COLUMNS)}
    from usage_stage s join claimed c on c.event_id = s.event_id
    returning tenant_id, occurred_at, metric, subscription_id, key_id, tool, agent, quantity
), roll as (
    insert into usage_rollups
        (tenant_id, hour, metric, subscription_id, key_id, tool, agent, quantity, events)
    select tenant_id, date_trunc('hour', occurred_at, 'UTC'), metric, subscription_id, key_id,
           tool, agent, sum(quantity), count(*)
    from ins group by 1, 2, 3, 4, 5, 6, 7 order by 2, 3, 4, 5, 6, 7
    on conflict (tenant_id, hour, metric, subscription_id, key_id, tool, agent)
    do update set quantity = usage_rollups.quantity + excluded.quantity,
                  events = usage_rollups.events + excluded.events
    returning 1
)
-- Every data-modifying CTE runs to completion whether or not it is read.
select s.ord, s.event_id, s.content_hash from usage_stage s
where not exists (select 1 from claimed c where c.event_id = s.event_id)
"""
# The usual case, no id claimed by a transaction still in flight: a plain insert of the ids not
# claimed yet (half the cost of ON CONFLICT's speculative insertion). A concurrent claim of the
# same id makes it fail with a unique violation; the batch is then redone with ON CONFLICT.
_WRITE_OPTIMISTIC = f"""
with claimed as (
    insert into usage_event_ids (tenant_id, event_id, content_hash, occurred_at)
    select s.tenant_id, s.event_id, s.content_hash, s.occurred_at from usage_stage s
    where not exists (select 1 from usage_event_ids c where c.event_id = s.event_id)
    order by s.event_id
    returning event_id
), {_REST_OF_WRITE}"""
_WRITE = f"""
with claimed as (
    insert into usage_event_ids (tenant_id, event_id, content_hash, occurred_at)
    select tenant_id, event_id, content_hash, occurred_at from usage_stage order by event_id
    on conflict do nothing
    returning event_id
), {_REST_OF_WRITE}"""

_CLAIMS = """
select event_id, content_hash from usage_event_ids where event_id = any(:ids)
"""


@dataclass
class WriteResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    subscriptions: set[uuid.UUID] = field(default_factory=set)  # whose usage changed

    def add(self, other: WriteResult) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected.extend(other.rejected)
        self.subscriptions |= other.subscriptions


async def ensure_partitions(session: AsyncSession, events: Sequence[Event]) -> None:
    months = {date(e.occurred_at.year, e.occurred_at.month, 1) for e in events} - _known_months
    for month in sorted(months):
        existed = await session.scalar(text("select ops.usage_ensure_partition(:m)"), {"m": month})
        if existed:  # only cache what is committed for sure, never our own uncommitted DDL
            _known_months.add(month)


def _dedupe(events: Sequence[Event]) -> tuple[list[tuple[int, Event]], WriteResult]:
    """Within one batch: the first of an id wins; a repeat is a duplicate or a conflict."""
    seen: dict[str, bytes] = {}
    unique: list[tuple[int, Event]] = []
    result = WriteResult()
    for i, e in enumerate(events):
        h = e.content_hash()
        prior = seen.get(e.event_id)
        if prior is None:
            seen[e.event_id] = h
            unique.append((i, e))
        elif prior == h:
            result.duplicates += 1
        else:
            result.rejected.append(_conflict(e, i))
    return unique, result


def _conflict(e: Event, i: int) -> Rejection:
    return Rejection(
        code="CONFLICT",
        message="an event with this id was already ingested with different content",
        field="event_id",
        index=i,
        event_id=e.event_id,
        record=json.dumps(e.to_wire(), default=str)[:RECORD_KEEP],
    )


async def write(
    session: AsyncSession,
    events: Sequence[Event],
    rejected: Sequence[Rejection] = (),
    *,
    source: str,
    upload_id: uuid.UUID | None = None,
    indexes: Sequence[int] | None = None,
) -> WriteResult:
    """Store ``events`` and dead-letter ``rejected`` in the session's transaction.

    ``indexes`` maps each event to its position in the request (for conflict reports); by
    default an event's position in ``events``.
    """
    tenant_id: uuid.UUID = session.info["tenant_id"]
    for e in events:
        e.content_hash()  # now: what we map below is ours, not the sender's content
    unique, result = _dedupe(events)
    unique, refused = await map_consumers(session, unique)
    result.rejected.extend(refused)
    result.subscriptions = {e.subscription_id for _, e in unique if e.subscription_id}
    if unique:
        await ensure_partitions(session, [e for _, e in unique])
        conn = await session.connection()
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        await raw.execute(_STAGE_DDL)
        await raw.copy_records_to_table(
            "usage_stage", records=_records(tenant_id, unique), columns=_STAGE_COLS
        )
        try:
            async with session.begin_nested():
                taken = (await session.execute(text(_WRITE_OPTIMISTIC))).all()
        except IntegrityError:  # a concurrent writer claimed one of these ids meanwhile
            taken = (await session.execute(text(_WRITE))).all()
        await session.execute(text("truncate usage_stage"))
        result.accepted += len(unique) - len(taken)
        if taken:
            rows = await session.execute(text(_CLAIMS), {"ids": [t.event_id for t in taken]})
            claims = {r.event_id: r.content_hash for r in rows}
            for t in taken:
                if claims.get(t.event_id) == t.content_hash:
                    result.duplicates += 1
                else:
                    i, e = unique[t.ord]
                    result.rejected.append(_conflict(e, i))
    for r in result.rejected:  # positions in ``events`` → positions in the request / file
        if indexes is not None and r.index is not None:
            r.index = indexes[r.index]
        if upload_id is not None:
            r.row = r.index
    all_rejected = [*rejected, *result.rejected]
    if all_rejected:
        await dead_letter(session, all_rejected, source=source, upload_id=upload_id)
    result.rejected = all_rejected
    if result.accepted:
        await outbox.emit(
            session,
            TOPIC,
            "usage.batch_accepted",
            {
                "source": source,
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "rejected": len(all_rejected),
                "upload_id": upload_id,
            },
        )
    return result


def _records(tenant_id: uuid.UUID, unique: list[tuple[int, Event]]) -> list[tuple[Any, ...]]:
    props = COLUMNS.index("properties") + 2  # after ord and content_hash
    out = []
    for ord_, (_, e) in enumerate(unique):
        row = (ord_, e.content_hash(), tenant_id, *VALUES(e))
        if e.properties:
            row = (*row[:props], json.dumps(e.properties, separators=(",", ":")), *row[props + 1 :])
        out.append(row)
    return out


async def dead_letter(
    session: AsyncSession,
    rejected: Sequence[Rejection],
    *,
    source: str,
    upload_id: uuid.UUID | None = None,
) -> None:
    tenant_id = session.info["tenant_id"]
    await session.execute(
        insert(UsageRejection),
        [
            {
                "tenant_id": tenant_id,
                "source": source,
                "event_id": (r.event_id or "")[:200] or None,
                "upload_id": upload_id,
                "row_number": r.row,
                "code": r.code,
                "field": (r.field or "")[:200] or None,
                "message": r.message,
                "record": _safe(r.record[:RECORD_KEEP]) if r.record else None,
            }
            for r in rejected
        ],
    )


def _safe(s: str) -> str:
    """Text PostgreSQL accepts: no NUL, no lone surrogates (from undecodable input)."""
    return s.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
