"""``POST /v1/usage/upload``: CSV, JSON array or NDJSON files, streamed and processed as a job;
``POST /v1/usage/upload/preview``: the first rows of such a file as events and errors, stored
nowhere.

The body is parsed as it arrives and written in batches (one transaction each, with the job's
counters), so a file of any size runs in constant memory and its progress is visible in GraphQL
(``usageUpload(id)``) while it streams. Rows already written stay written if the upload breaks
off: re-uploading the file is safe, its event ids (given, or derived from each row's content and
occurrence) make the second pass duplicates.

Columns are the customer's own: a saved mapping chosen by name (``?mapping=``), one given inline
(``?mapping_json=``), or the common names recognized without one (``ingest.columns``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import ClientDisconnect

from aforo.errors import DomainError, ValidationFailed
from aforo.ingest import canonical, columns, http, streaming
from aforo.ingest.fields import RecordInvalid
from aforo.rest.deps import GatewayCaller, RuntimeDep
from aforo.runtime.state import Runtime
from aforo.runtime.tasks import stop_tasks
from aforo.services.usage import column_mappings
from aforo.services.usage import quota as usage_quota
from aforo.services.usage import uploads as usage_uploads
from aforo.services.usage import writer as usage_writer
from aforo.services.usage.column_mappings import ColumnMapping
from aforo.services.usage.events import Event, Rejection
from aforo.services.usage.mapping import scrub_secrets
from aforo.tenancy.context import TenantContext

router = APIRouter(prefix="/v1/usage", tags=["usage"])

BATCH = 20_000  # rows per transaction: fewer per-batch round trips; still bounded memory
MAX_UPLOAD = 10 * 1024 * http.MiB  # 10 GiB decoded
MAX_PREVIEW = 8 * http.MiB  # a preview reads no further than this
SHOWN_ERRORS = 100
_TYPES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/json": "json",
    "application/x-ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "application/x-jsonlines": "ndjson",
    "application/jsonlines": "ndjson",
}
Parser = streaming.CsvStream | streaming.JsonArrayStream | streaming.NdjsonStream


class UploadFormat(DomainError):
    code = "UNSUPPORTED_FORMAT"
    status = 415


def _format(request: Request, given: str | None) -> str:
    if given:
        if given not in usage_uploads.FORMATS:
            raise UploadFormat(f"format must be one of {usage_uploads.FORMATS}", field="format")
        return given
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in _TYPES:
        return _TYPES[ctype]
    raise UploadFormat("send Content-Type text/csv, application/json or application/x-ndjson")


async def _mapping(
    session: AsyncSession, name: str | None, inline: str | None
) -> ColumnMapping | None:
    if name and inline:
        raise ValidationFailed(
            "give mapping (a saved name) or mapping_json, not both", field="mapping"
        )
    if inline:
        return column_mappings.parse_inline(inline)
    if name:
        return await column_mappings.get(session, name)
    return None


class Rows:
    """A file's parser and what turns its rows into events."""

    def __init__(self, fmt: str, mapping: ColumnMapping | None, now: datetime) -> None:
        self.source = "csv" if fmt == "csv" else "jsonl"
        self.mapping = mapping
        self.now = now
        self.reader = columns.RowReader(mapping, self.source, now, csv=fmt == "csv")
        self.canonical: Callable[[dict[str, str]], Event] | None = None  # our own columns
        self.header: list[str] | None = None
        self.parser: Parser = (
            streaming.CsvStream(on_header=self._header)
            if fmt == "csv"
            else streaming.JsonArrayStream()
            if fmt == "json"
            else streaming.NdjsonStream()
        )

    def _header(self, names: list[str]) -> None:
        self.header = names
        if (
            self.mapping is None
            and set(names) <= canonical.KNOWN
            and set(canonical.REQUIRED) <= set(names)
        ):
            self.canonical = canonical.csv_builder(names, self.source, self.now, self.reader.time)
            return
        plan = self.reader.plan(names)
        missing = [
            f"{target} from {col!r}"
            for target in column_mappings.TARGETS  # a fixed order: the same answer every time
            if (col := plan.sources.get(target)) is not None and col not in names
        ]
        if missing:
            first = plan.sources[missing[0].split(" ", 1)[0]]
            raise streaming.Fatal(
                "MISSING_COLUMN",
                f"the header lacks the mapping's columns: {', '.join(missing)}"[:1000],
                1,
                first[:200],
            )
        if plan.missing():
            raise streaming.Fatal(
                "MISSING_COLUMN",
                "the header has no time column: name one occurred_at, timestamp, time or date, "
                "or map one",
                1,
                "occurred_at",
            )

    def build(self, value: Any) -> tuple[Event, bool]:
        """The row's event, and whether its id still needs its occurrence number."""
        if self.canonical is not None:
            return self.canonical(value), False
        return self.reader.event(value)

    def describe(self) -> dict[str, Any]:
        """Which column feeds which field (the preview shows it)."""
        if self.canonical is not None and self.header is not None:
            return {"fields": {c: c for c in self.header}, "properties": [], "derived_ids": False}
        plan = self.reader.plan(self.header or [])
        return {
            "fields": dict(plan.sources),
            "properties": list(plan.extra),
            "derived_ids": plan.derived_id,
        }


class _Job:
    def __init__(
        self, rt: Runtime, caller: TenantContext, upload_id: uuid.UUID, rows: Rows
    ) -> None:
        self.rt = rt
        self.caller = caller
        self.upload_id = upload_id
        self.rows_of = rows
        self.source = rows.source
        self.events: list[Event] = []
        self.rows: list[int] = []
        self.derived: list[int] = []  # positions in ``events`` of ids to number
        self.rejected: list[Rejection] = []
        self.count = 0
        self.nbytes = 0
        self._pending: asyncio.Task[None] | None = None

    def take(self, rows: list[streaming.Row]) -> None:
        build = self.rows_of.build
        for row, value, raw in rows:
            self.count += 1
            try:
                if isinstance(value, RecordInvalid):
                    raise value
                e, derived = build(value)
            except RecordInvalid as err:
                rej = canonical.rejection(err, row, value if isinstance(value, dict) else None, raw)
                rej.row = row
                self.rejected.append(rej)
                continue
            e.upload_id = self.upload_id
            if derived:
                self.derived.append(len(self.events))
            self.events.append(e)
            self.rows.append(row)

    async def flush(self, force: bool = False) -> None:
        """Write the rows taken so far as one batch. One batch is written while the next is
        parsed (the database and the parser work at the same time); ``force`` waits for it."""
        if force or len(self.events) + len(self.rejected) >= BATCH:
            batch = (self.events, self.rows, self.derived, self.rejected, self.count)
            self.events, self.rows, self.derived, self.rejected, self.count = [], [], [], [], 0
            await self._settle()
            self._pending = asyncio.create_task(self._write(*batch))
        if force:
            await self._settle()

    async def _settle(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            await pending

    async def abandon(self) -> None:
        """On an unexpected error: a batch still being written must not outlive the request."""
        pending, self._pending = self._pending, None
        if pending is not None:
            await stop_tasks([pending])

    async def _write(
        self,
        events: list[Event],
        rows: list[int],
        derived: list[int],
        rejected: list[Rejection],
        count: int,
    ) -> None:
        scrub_secrets(events)
        async with self.rt.transaction(self.caller.tenant_id) as session:
            if derived:
                digests = [events[i].event_id.removeprefix(columns.DERIVED) for i in derived]
                numbers = await usage_uploads.number_rows(session, self.upload_id, digests)
                for i, n in zip(derived, numbers, strict=True):
                    events[i].event_id = f"{events[i].event_id}:{n}"
            result = await usage_writer.write(
                session,
                events,
                rejected,
                source=self.source,
                upload_id=self.upload_id,
                indexes=rows,
            )
            await usage_uploads.progress(session, self.upload_id, count, result, self.nbytes)
        usage_quota.forget(self.rt, self.caller.tenant_id, result.subscriptions)

    async def fail(self, code: str, message: str, row: int | None, field: str | None) -> str:
        self.rejected.append(Rejection(code=code, message=message, field=field, row=row, index=row))
        await self.flush(force=True)
        return f"{code}: {message}" + (f" (row {row})" if row else "")


def _errors(rejections: list[Any]) -> list[dict[str, Any]]:
    """One entry per bad field of each refused row (as a spreadsheet user fixes them)."""
    out: list[dict[str, Any]] = []
    for r in rejections:
        for e in r.errors or [{"code": r.code, "field": r.field, "message": r.message}]:
            out.append(
                {
                    "row": r.row_number,
                    "column": e["field"],
                    "code": e["code"],
                    "message": e["message"],
                }
            )
    return out


@router.post("/upload", summary="Upload a CSV, JSON-array or NDJSON file of usage rows")
async def upload(
    request: Request,
    rt: RuntimeDep,
    caller: GatewayCaller,
    format: Annotated[str | None, Query(description="csv | json | ndjson")] = None,
    filename: Annotated[str | None, Query(max_length=300)] = None,
    mapping: Annotated[str | None, Query(max_length=100, description="a saved mapping")] = None,
    mapping_json: Annotated[
        str | None,
        Query(max_length=4096, description="an inline mapping (JSON); save longer ones"),
    ] = None,
) -> JSONResponse:
    fmt = _format(request, format)
    async with rt.transaction(caller.tenant_id) as session:
        column_map = await _mapping(session, mapping, mapping_json)
        job_row = await usage_uploads.start(session, fmt, filename, caller.credential_id)
    job = _Job(rt, caller, job_row.id, Rows(fmt, column_map, datetime.now(UTC)))
    parser = job.rows_of.parser
    error: str | None = None
    try:
        async for chunk in http.stream(request, MAX_UPLOAD):
            job.nbytes += len(chunk)
            with canonical.gc_paused():  # a chunk's rows are all kept: nothing to collect
                job.take(parser.feed(chunk))
            await job.flush()
        job.take(parser.close())
        await job.flush(force=True)
    except streaming.Fatal as e:
        error = await job.fail(e.code, e.message, e.row, e.field)
    except DomainError as e:  # too large, bad gzip
        error = await job.fail(e.code, e.message, None, None)
    except ClientDisconnect:
        error = await job.fail("INTERRUPTED", "the upload was interrupted", None, None)
    finally:
        await job.abandon()
    async with rt.transaction(caller.tenant_id) as session:
        done = await usage_uploads.finish(session, job_row.id, error=error)
        shown = await usage_uploads.errors(session, job_row.id, limit=SHOWN_ERRORS)
    result = usage_uploads.outcome(done.status, done.accepted, done.duplicates, done.rejected)
    body = {
        "id": str(done.id),
        "status": done.status.upper(),  # spelled as GraphQL's UploadStatus
        "outcome": result,
        "rows": done.rows,
        "accepted": done.accepted,
        "duplicates": done.duplicates,
        "rejected": done.rejected,
        "error": done.error,
        "errors": _errors(shown),
    }
    return JSONResponse(body, status_code=422 if error or result == usage_uploads.REJECTED else 200)


@router.post(
    "/upload/preview",
    summary="The first rows of a usage file as parsed events and errors; nothing is stored",
)
async def preview(
    request: Request,
    rt: RuntimeDep,
    caller: GatewayCaller,
    format: Annotated[str | None, Query(description="csv | json | ndjson")] = None,
    mapping: Annotated[str | None, Query(max_length=100)] = None,
    mapping_json: Annotated[str | None, Query(max_length=4096)] = None,
    rows: Annotated[int, Query(ge=1, le=500, description="rows to show")] = 20,
) -> JSONResponse:
    fmt = _format(request, format)
    async with rt.transaction(caller.tenant_id) as session:
        column_map = await _mapping(session, mapping, mapping_json)
    reader = Rows(fmt, column_map, datetime.now(UTC))
    events: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    seen: Counter[str] = Counter()
    read = 0
    fatal: dict[str, Any] | None = None

    def take(parsed: list[streaming.Row]) -> bool:
        nonlocal read
        for row, value, _ in parsed:
            read += 1
            if reader.header is None and isinstance(value, dict):
                reader.header = [str(k) for k in value]  # JSON: the first record's keys
            try:
                if isinstance(value, RecordInvalid):
                    raise value
                e, derived = reader.build(value)
            except RecordInvalid as err:
                for code, field, message in err.errors:
                    errors.append({"row": row, "column": field, "code": code, "message": message})
            else:
                if derived:
                    seen[e.event_id] += 1
                    e.event_id = f"{e.event_id}:{seen[e.event_id]}"
                scrub_secrets([e])
                wire = e.to_wire()
                wire.pop("source", None)
                events.append({"row": row, **wire})
            if read >= rows:
                return True
        return False

    try:
        done = False
        nbytes = 0
        async for chunk in http.stream(request, None):
            nbytes += len(chunk)
            if take(reader.parser.feed(chunk)) or nbytes > MAX_PREVIEW:
                done = True
                break
        if not done:
            take(reader.parser.close())
    except streaming.Fatal as e:
        fatal = {"row": e.row, "column": e.field, "code": e.code, "message": e.message}
    except ClientDisconnect:
        fatal = {"row": None, "column": None, "code": "INTERRUPTED", "message": "interrupted"}
    described = reader.describe() if reader.header is not None else {}
    body = {
        "format": fmt,
        "columns": reader.header,
        **described,
        "rows": read,
        "events": events,
        "errors": errors,
        "error": fatal,
    }
    return JSONResponse(body, status_code=422 if fatal else 200)
