"""The bulk write path: events in, counted exactly once, refused ones dead-lettered.

One batch costs a handful of statements whatever its size. The batch is copied (binary COPY,
encoded by asyncpg in C) into a temporary staging table of the connection, and merged from there
by one set-based statement.

1. The usual case, no id of the batch claimed before: one statement claims every id in
   ``usage_event_ids``, inserts every event into ``usage_events`` and upserts the hourly rollups,
   all straight from the staging table. A plain insert of the claims, not ``ON CONFLICT``: half
   the cost of speculative insertion, and no anti-join against the tenant's claims (whose plan, on a
   table growing by the batch, is easily a scan of every claim the tenant ever made);
2. when an id is already claimed (a retry, a conflict, or a concurrent writer that just
   committed the same id), that statement fails on the claim's unique index and is rolled back
   to a savepoint: nothing of it remains. The batch is then written by the careful statement:
   ``ON CONFLICT DO NOTHING`` claims, only the claimed events inserted and rolled up, and the
   ids claimed by someone else returned with the hash staged for them;
3. for those ids: same content hash → a duplicate (a retry, counted once); another hash → a
   ``CONFLICT`` rejection;
4. the rejections go to the dead-letter table in the same transaction.

Claim, event and rollup are in one statement, so they commit or roll back together: an id can
never be claimed for an event that was not counted (the failure mode of claiming first and
writing later). A concurrent writer inserting the same id waits on the claim's unique index
until the first commits, then sees the claim: exact under concurrency, no read-then-write race.
Claims and rollup buckets are written in a fixed order, so two writers never deadlock.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.models.usage import UsageRejection
from aforo.services import outbox
from aforo.services.usage.events import COLUMNS, VALUES, WIRE_FIELDS, Event, Rejection
from aforo.services.usage.mapping import map_consumers

# Domain events of usage (batch accepted). Not aforo.usage.events: that topic is the ingestion
# queue itself (ingest/consumer.py), read by the writer group.
TOPIC = "aforo.usage.batches"
RECORD_KEEP = 4096  # characters of a refused record kept in the dead-letter table
MAX_ERRORS = 50  # bad fields kept per refused record

# Months whose partition is known to exist (the ensure function said so): skips a round trip.
_known_months: set[date] = set()

# Each event column's SQL type in the staging table. properties travels as JSON text.
_TYPES = {
    "event_id": 'text collate "C"',
    "occurred_at": "timestamptz",
    "quantity": "numeric",
    "subscription_id": "uuid",
    "key_id": "uuid",
    "status": "int4",
    "error_code": "int4",
    "latency_ms": "float8",
    "request_bytes": "int8",
    "response_bytes": "int8",
    "properties": "text",
    "upload_id": "uuid",
}
STAGE = "usage_stage"
# The batch is copied (binary COPY) into a temporary table of the connection, then merged into
# the claims, the events and the rollups by one statement. No RLS on a temporary table (nothing
# of another tenant can be in it); the tenant is the statement's $1.
_CREATE_STAGE = f"""
create temp table if not exists {STAGE} (
    ord int4, content_hash bytea,
    {", ".join(f"{n} {_TYPES.get(n, 'text')}" for n in WIRE_FIELDS)}
) on commit delete rows"""
_STAGE_COLUMNS = ("ord", "content_hash", *WIRE_FIELDS)
_PROPERTIES = 2 + WIRE_FIELDS.index("properties")
_EVENT_COLS = ", ".join(COLUMNS)
_EVENT_VALUES = ", ".join(
    "$1" if c == "tenant_id" else "s.properties::jsonb" if c == "properties" else f"s.{c}"
    for c in COLUMNS
)
_ROLLUP = """
    insert into usage_rollups
        (tenant_id, hour, metric, subscription_id, key_id, tool, agent, quantity, events)
    select $1, date_trunc('hour', occurred_at, 'UTC'), metric, subscription_id, key_id,
           tool, agent, sum(quantity), count(*)
    from {src} group by 2, 3, 4, 5, 6, 7 order by 2, 3, 4, 5, 6, 7
    on conflict (tenant_id, hour, metric, subscription_id, key_id, tool, agent)
    do update set quantity = usage_rollups.quantity + excluded.quantity,
                  events = usage_rollups.events + excluded.events
"""
# Every data-modifying CTE runs to completion whether or not it is read.
_WRITE_FRESH = f"""
with claimed as (
    insert into usage_event_ids (tenant_id, event_id, content_hash, occurred_at)
    select $1, event_id, content_hash, occurred_at from {STAGE} order by event_id
), ins as (
    insert into usage_events ({_EVENT_COLS}) select {_EVENT_VALUES} from {STAGE} s
), roll as ({_ROLLUP.format(src=STAGE)})
select 1
"""
_WRITE = f"""
with claimed as (
    insert into usage_event_ids (tenant_id, event_id, content_hash, occurred_at)
    select $1, event_id, content_hash, occurred_at from {STAGE} order by event_id
    on conflict do nothing
    returning event_id
), ins as (
    insert into usage_events ({_EVENT_COLS})
    select {_EVENT_VALUES} from {STAGE} s join claimed c on c.event_id = s.event_id
    returning occurred_at, metric, subscription_id, key_id, tool, agent, quantity
), roll as ({_ROLLUP.format(src="ins")}
    returning 1
)
select s.ord, s.event_id, s.content_hash from {STAGE} s
where not exists (select 1 from claimed c where c.event_id = s.event_id)
"""

_CLAIMS = """
select event_id, content_hash from usage_event_ids where event_id = any($1::text[])
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
        basis=b"CONFLICT\x1f" + e.event_id.encode("utf-8", "surrogatepass") + e.content_hash(),
    )


async def _stage(raw: Any, session: AsyncSession, unique: list[tuple[int, Event]]) -> None:
    """The batch into the connection's staging table, by binary COPY. The table is created if
    the connection has none yet (never remembered outside the transaction: a rollback takes
    a table created in it away)."""
    if session.info.get(STAGE):
        await raw.execute(f"truncate {STAGE}")  # a second batch in the same transaction
    else:
        await raw.execute(_CREATE_STAGE)
        session.info[STAGE] = True
    records = [(i, e.content_hash(), *VALUES(e)) for i, (_, e) in enumerate(unique)]
    for i, (_, e) in enumerate(unique):
        if e.properties is not None:
            row = list(records[i])
            row[_PROPERTIES] = json.dumps(e.properties, separators=(",", ":"))
            records[i] = tuple(row)
    await raw.copy_records_to_table(STAGE, records=records, columns=_STAGE_COLUMNS)


async def _write_batch(raw: Any, tenant_id: uuid.UUID) -> list[Any]:
    """Claim, insert and roll up the staged batch; returns the rows whose ids were taken
    already.

    Savepoints of our own, on the connection the statement runs on (the session's
    begin_nested would only emit them with the session's next statement).
    """
    for attempt in range(3):
        await raw.execute("savepoint usage_fresh")
        try:
            try:
                await raw.execute(_WRITE_FRESH, tenant_id)
                taken: list[Any] = []
            except asyncpg.UniqueViolationError:  # an id is claimed already (or just now)
                await raw.execute("rollback to savepoint usage_fresh")
                taken = await raw.fetch(_WRITE, tenant_id)
        except asyncpg.DeadlockDetectedError:
            # Rollup rows shared with a concurrent batch: PostgreSQL chose us as the victim
            # and the other batch goes on, so ours can simply run again.
            await raw.execute("rollback to savepoint usage_fresh")
            if attempt == 2:
                raise
            continue
        await raw.execute("release savepoint usage_fresh")
        return taken
    raise AssertionError("unreachable")


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
        # One lock order for every writer: concurrent batches sharing ids wait, not deadlock.
        unique.sort(key=lambda pair: pair[1].event_id)
        await _stage(raw, session, unique)
        taken = await _write_batch(raw, tenant_id)
        result.accepted += len(unique) - len(taken)
        if taken:
            rows = await raw.fetch(_CLAIMS, [t["event_id"] for t in taken])
            claims = {r["event_id"]: r["content_hash"] for r in rows}
            for t in taken:
                if claims.get(t["event_id"]) == t["content_hash"]:
                    result.duplicates += 1
                else:
                    i, e = unique[t["ord"]]
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


async def dead_letter(
    session: AsyncSession,
    rejected: Sequence[Rejection],
    *,
    source: str,
    upload_id: uuid.UUID | None = None,
) -> None:
    """Keep each refused record with its reasons, once. The key is the record itself (its
    full content) and its occurrence among identical refused records of the same payload: a
    retried batch finds its dead letters already there; two identical bad records in one batch
    are two. An upload's rows are keyed within that upload (each job reports its own errors)."""
    tenant_id = session.info["tenant_id"]
    scope = f"{source}\x1f{upload_id or ''}\x1f".encode()
    seen: dict[bytes, int] = {}
    rows = []
    for r in rejected:
        digest = hashlib.sha256(scope + (r.basis or _basis(r))).digest()
        n = seen.get(digest, 0)
        seen[digest] = n + 1
        rows.append(
            {
                "tenant_id": tenant_id,
                "source": source,
                # Refused input is stored as the client sent it, NUL and lone surrogates aside.
                "event_id": _safe((r.event_id or "")[:200]) or None,
                "upload_id": upload_id,
                "row_number": r.row,
                "record_index": r.index,
                "code": r.code,
                "field": _safe((r.field or "")[:200]) or None,
                "message": _safe(r.message),
                "record": _safe(r.record[:RECORD_KEEP]) if r.record else None,
                "errors": [
                    {"code": c, "field": _safe(f[:200]) if f else None, "message": _safe(m)}
                    for c, f, m in r.all_errors()[:MAX_ERRORS]
                ],
                "dedupe_key": digest if n == 0 else hashlib.sha256(digest + b"%d" % n).digest(),
            }
        )
    await session.execute(
        pg_insert(UsageRejection).on_conflict_do_nothing(
            index_elements=["tenant_id", "dedupe_key"]
        ),
        rows,
    )


def _basis(r: Rejection) -> bytes:
    """What identifies a refused record when its parser gave nothing better."""
    parts = (r.code, r.field or "", r.event_id or "", r.record or "", str(r.index))
    return "\x1f".join(parts).encode("utf-8", "surrogatepass")


def _safe(s: str) -> str:
    """Text PostgreSQL accepts: no NUL, no lone surrogates (from undecodable input)."""
    return s.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
