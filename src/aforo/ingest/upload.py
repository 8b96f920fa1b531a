"""``POST /v1/usage/upload``: CSV, JSON array or NDJSON files, streamed and processed as a job.

The body is parsed as it arrives and written in batches (one transaction each, with the job's
counters), so a file of any size runs in constant memory and its progress is visible in GraphQL
(``usageUpload(id)``) while it streams. Rows already written stay written if the upload breaks
off: re-uploading the file is safe, the event ids make the second pass duplicates.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from aforo.errors import DomainError
from aforo.ingest import canonical, http, streaming
from aforo.ingest.fields import RecordInvalid
from aforo.rest.deps import GatewayCaller, RuntimeDep
from aforo.runtime.state import Runtime
from aforo.runtime.tasks import stop_tasks
from aforo.services.usage import quota as usage_quota
from aforo.services.usage import uploads as usage_uploads
from aforo.services.usage import writer as usage_writer
from aforo.services.usage.events import Event, Rejection
from aforo.tenancy.context import TenantContext

router = APIRouter(prefix="/v1/usage", tags=["usage"])

BATCH = 20_000  # rows per transaction: fewer per-batch round trips; still bounded memory
MAX_UPLOAD = 10 * 1024 * http.MiB  # 10 GiB decoded
SHOWN_ERRORS = 100
_TYPES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/json": "json",
    "application/x-ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "application/x-jsonlines": "ndjson",
}


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


class _Job:
    def __init__(self, rt: Runtime, caller: TenantContext, upload_id: uuid.UUID, fmt: str):
        self.rt = rt
        self.caller = caller
        self.upload_id = upload_id
        self.source = "csv" if fmt == "csv" else "jsonl"
        self.events: list[Event] = []
        self.rows: list[int] = []
        self.rejected: list[Rejection] = []
        self.count = 0
        self.nbytes = 0
        self._pending: asyncio.Task[None] | None = None
        self.now = datetime.now(UTC)
        self.build: Callable[[Any], Event] = (
            (lambda r: canonical.event_from(streaming.csv_record(r), self.source, self.now))
            if fmt == "csv"
            else (lambda r: canonical.event_from(r, self.source, self.now))
        )

    def take(self, rows: list[streaming.Row]) -> None:
        for row, value, raw in rows:
            self.count += 1
            try:
                if isinstance(value, RecordInvalid):
                    raise value
                e = self.build(value)
            except RecordInvalid as err:
                rej = canonical.rejection(err, row, value if isinstance(value, dict) else None, raw)
                rej.row = row
                self.rejected.append(rej)
                continue
            e.upload_id = self.upload_id
            self.events.append(e)
            self.rows.append(row)

    async def flush(self, force: bool = False) -> None:
        """Write the rows taken so far as one batch. One batch is written while the next is
        parsed (the database and the parser work at the same time); ``force`` waits for it."""
        if force or len(self.events) + len(self.rejected) >= BATCH:
            batch = (self.events, self.rows, self.rejected, self.count)
            self.events, self.rows, self.rejected, self.count = [], [], [], 0
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
        self, events: list[Event], rows: list[int], rejected: list[Rejection], count: int
    ) -> None:
        async with self.rt.transaction(self.caller.tenant_id) as session:
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
        self.rejected.append(Rejection(code=code, message=message, field=field, row=row))
        await self.flush(force=True)
        return f"{code}: {message}" + (f" (row {row})" if row else "")


@router.post("/upload", summary="Upload a CSV, JSON-array or NDJSON file of canonical events")
async def upload(
    request: Request,
    rt: RuntimeDep,
    caller: GatewayCaller,
    format: Annotated[str | None, Query(description="csv | json | ndjson")] = None,
    filename: Annotated[str | None, Query(max_length=300)] = None,
) -> JSONResponse:
    fmt = _format(request, format)
    async with rt.transaction(caller.tenant_id) as session:
        job_row = await usage_uploads.start(session, fmt, filename, caller.credential_id)
    job = _Job(rt, caller, job_row.id, fmt)
    parser: streaming.CsvStream | streaming.JsonArrayStream | streaming.NdjsonStream = (
        streaming.CsvStream()
        if fmt == "csv"
        else streaming.JsonArrayStream()
        if fmt == "json"
        else streaming.NdjsonStream()
    )
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
    body = {
        "id": str(done.id),
        "status": done.status,
        "rows": done.rows,
        "accepted": done.accepted,
        "duplicates": done.duplicates,
        "rejected": done.rejected,
        "error": done.error,
        "errors": [
            {"row": r.row_number, "column": r.field, "code": r.code, "message": r.message}
            for r in shown
        ],
    }
    return JSONResponse(body, status_code=200 if error is None else 422)
