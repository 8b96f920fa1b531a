"""The bulk write path: events in, counted exactly once, refused ones dead-lettered.

One batch costs a handful of statements whatever its size. The batch travels as one array per
column (asyncpg encodes them in binary, in C) and is read with ``unnest``: no staging table to
create, fill and empty, no type lookup before a ``COPY``.

1. The usual case, no id of the batch claimed before: one statement claims every id in
   ``usage_event_ids``, inserts every event into ``usage_events`` and upserts the hourly rollups,
   all straight from the arrays. A plain insert of the claims, not ``ON CONFLICT``: half the cost
   of speculative insertion, and no anti-join against the tenant's claims (whose plan, on a
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

# Each event column's SQL type, for its array parameter. properties travels as JSON text.
_TYPES = {
    "event_id": "text",
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


def _batch_sql() -> str:
    """``s``: the batch as rows. $1 is the tenant, $2 the content hashes; then each column is an
    array, except a column with one value for the whole batch (the source, the metric, the
    upload, often the quantity), sent once as a scalar beside a NULL array (see ``_columns``).
    The ids are always an array: they are what makes the rows."""
    arrays, values, n = [], [], 3
    for name in WIRE_FIELDS:
        sql_type = _TYPES.get(name, "text")
        arrays.append(f"${n}::{sql_type}[]")
        if name == "event_id":
            values.append('u.event_id collate "C" as event_id')
            n += 1
        else:
            values.append(f"coalesce(u.{name}, ${n + 1}::{sql_type}) as {name}")
            n += 2
    return f"""
s as materialized (
    select (u.ord - 1)::int as ord, u.content_hash, {", ".join(values)}
    from unnest($2::bytea[], {", ".join(arrays)})
         with ordinality as u(content_hash, {", ".join(WIRE_FIELDS)}, ord)
)"""


_BATCH = _batch_sql()
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
with {_BATCH}, claimed as (
    insert into usage_event_ids (tenant_id, event_id, content_hash, occurred_at)
    select $1, event_id, content_hash, occurred_at from s order by event_id collate "C"
), ins as (
    insert into usage_events ({_EVENT_COLS}) select {_EVENT_VALUES} from s
), roll as ({_ROLLUP.format(src="s")})
select 1
"""
_WRITE = f"""
with {_BATCH}, claimed as (
    insert into usage_event_ids (tenant_id, event_id, content_hash, occurred_at)
    select $1, event_id, content_hash, occurred_at from s order by event_id collate "C"
    on conflict do nothing
    returning event_id
), ins as (
    insert into usage_events ({_EVENT_COLS})
    select {_EVENT_VALUES} from s join claimed c on c.event_id = s.event_id collate "C"
    returning occurred_at, metric, subscription_id, key_id, tool, agent, quantity
), roll as ({_ROLLUP.format(src="ins")}
    returning 1
)
select s.ord, s.event_id, s.content_hash from s
where not exists (select 1 from claimed c where c.event_id = s.event_id collate "C")
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


async def _write_batch(raw: Any, args: tuple[Any, ...]) -> list[Any]:
    """Claim, insert and roll up one batch; returns the rows whose ids were taken already.

    Savepoints of our own, on the connection the statement runs on (the session's
    begin_nested would only emit them with the session's next statement).
    """
    for attempt in range(3):
        await raw.execute("savepoint usage_fresh")
        try:
            try:
                await raw.execute(_WRITE_FRESH, *args)
                taken: list[Any] = []
            except asyncpg.UniqueViolationError:  # an id is claimed already (or just now)
                await raw.execute("rollback to savepoint usage_fresh")
                taken = await raw.fetch(_WRITE, *args)
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
        taken = await _write_batch(raw, (tenant_id, *_columns(unique)))
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


def _columns(unique: list[tuple[int, Event]]) -> list[Any]:
    """The query's parameters after the tenant: the content hashes, then for each of
    ``WIRE_FIELDS`` its values as an array and, but for the id, a scalar.

    asyncpg inspects every element of an array it encodes, which costs more than the rest of
    the write in Python. So a column with the same value throughout the batch (an HTTP call has
    no tool, an MCP call no status; a batch has one source and usually one metric) is sent as
    a NULL array and the value once: ``unnest`` of several arrays pads the shorter ones, a NULL
    one included, with NULLs, which ``coalesce`` turns into that value. A column that varies is
    sent whole, with a NULL scalar, so its own NULLs stay NULL.
    """
    n = len(unique)
    params: list[Any] = [[e.content_hash() for _, e in unique]]
    for name, col in zip(
        WIRE_FIELDS, zip(*(VALUES(e) for _, e in unique), strict=True), strict=True
    ):
        if name == "properties" and col.count(None) != n:
            col = tuple(None if p is None else json.dumps(p, separators=(",", ":")) for p in col)
        if name == "event_id":
            params.append(col)
        elif col.count(col[0]) == n and _identical(name, col):
            params += [None, col[0]]
        else:
            params += [col, None]
    return params


def _identical(name: str, col: Sequence[Any]) -> bool:
    """Equal values that would be stored differently: 1 and 1.0 as numeric, 0.0 and -0.0."""
    if name == "quantity":
        return len({str(q) for q in col}) == 1
    return name != "latency_ms"


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
