"""REST spec import: ``POST /api/v1/docs/api-specs`` (JSON with a URL, or a multipart upload
of one file, several files or a zip), and the live-sync background task."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from aforo.errors import ValidationFailed, snake_field
from aforo.rest.deps import JwtAdmin, RuntimeDep
from aforo.runtime.state import Runtime
from aforo.runtime.tasks import stop_tasks
from aforo.runtime.throttle import throttle
from aforo.services import specs
from aforo.services.spec_import import FORMATS, SpecInvalid
from aforo.services.spec_import.bundle import MAX_FILES, MAX_TOTAL_BYTES
from aforo.services.spec_import.loader import MAX_SPEC_BYTES
from aforo.services.specs import sync as spec_sync

router = APIRouter(prefix="/api/v1/docs", tags=["docs"])


def _uuid(value: Any, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as e:
        raise ValidationFailed("not a valid id", field=field) from e


def _format(value: Any) -> str:
    if value not in FORMATS:
        raise ValidationFailed(
            f"spec_format must be one of {', '.join(FORMATS)}", field="spec_format"
        )
    return str(value)


async def _read_form(request: Request) -> dict[str, Any]:
    """One ``file`` part, or several (their file names are their paths, as the spec's
    ``$ref``s name them), or one zip archive."""
    form = await request.form(max_files=MAX_FILES, max_fields=10, max_part_size=MAX_SPEC_BYTES + 1)
    uploads = [u for u in form.getlist("file") if not isinstance(u, str)]
    if not uploads:
        raise ValidationFailed("attach the spec as the 'file' part", field="file")
    files: dict[str, bytes] = {}
    total = 0
    for i, upload in enumerate(uploads):
        content = await upload.read(MAX_SPEC_BYTES + 1)
        total += len(content)
        if len(content) > MAX_SPEC_BYTES:
            raise ValidationFailed(f"the file is larger than {MAX_SPEC_BYTES} bytes", field="file")
        if total > MAX_TOTAL_BYTES:
            raise ValidationFailed(
                f"the files are larger than {MAX_TOTAL_BYTES} bytes", field="file"
            )
        name = (upload.filename or f"file{i}").replace("\\", "/").lstrip("./") or f"file{i}"
        if name in files:
            raise ValidationFailed(f"the file {name!r} is uploaded twice", field="file")
        files[name] = content
    return {
        "product_id": form.get("product_id"),
        "spec_format": form.get("spec_format"),
        "server_url": form.get("server_url"),
        "name": form.get("name"),
        "root": form.get("root"),
        "files": files,
    }


async def _read_json(request: Request) -> dict[str, Any]:
    if int(request.headers.get("content-length") or 0) > 64 * 1024:
        raise ValidationFailed("the JSON body is larger than 64 KiB", field="body")
    try:
        body = await request.json()
    except (ValueError, RecursionError) as e:  # RecursionError: nested thousands deep
        raise ValidationFailed("the body is not valid JSON", field="body") from e
    if not isinstance(body, dict):
        raise ValidationFailed("the body must be a JSON object", field="body")
    return body


@router.post("/api-specs", status_code=201)
async def import_spec(request: Request, rt: RuntimeDep, user: JwtAdmin) -> JSONResponse:
    """Import a spec: JSON ``{product_id, spec_format, source_url, server_url?, name?}`` or
    ``multipart/form-data`` with ``product_id``, ``spec_format`` and a ``file``."""
    await throttle(rt).hit("spec.import", str(user.tenant_id), str(user.user_id))
    ctype = request.headers.get("content-type", "")
    body = await (_read_form(request) if ctype.startswith("multipart/") else _read_json(request))
    product_id = _uuid(body.get("product_id"), "product_id")
    fmt = _format(body.get("spec_format"))
    source_url = body.get("source_url")
    files = body.get("files")
    if files is None and not isinstance(source_url, str):
        raise ValidationFailed(
            "give source_url (JSON) or upload a file (multipart)", field="source_url"
        )
    for key in ("server_url", "name", "root"):
        if body.get(key) is not None and not isinstance(body.get(key), str):
            raise ValidationFailed(f"{key} must be a string", field=key)
    try:
        async with rt.transaction(user.tenant_id) as s:
            done = await specs.import_spec(
                s,
                product_id=product_id,
                format=fmt,
                files=files,
                root=body.get("root"),
                source_url=source_url if files is None else None,
                server_url=body.get("server_url"),
                name=body.get("name"),
                limits=specs.limits(rt.settings),
            )
    except SpecInvalid as e:
        problems = [
            {"pointer": p.pointer, "line": p.line, "message": p.message, "file": p.file}
            for p in e.problems
        ]
        return JSONResponse(
            {
                "error": {
                    "code": e.code,
                    "message": e.message,
                    "field": snake_field(e.field) if e.field else None,
                    "problems": problems,
                    "total": e.total,
                }
            },
            status_code=e.status,
        )
    v = done.version
    return JSONResponse(
        {
            "spec_id": str(done.spec.id),
            "version_id": str(v.id),
            "version": v.number,
            "created": done.created,
            "operations": v.operation_count,
            "source_version": v.source_version,
            "conversions": v.conversions,
            "files": v.files,
        },
        status_code=201 if done.created else 200,
    )


@contextlib.asynccontextmanager
async def lifespan(runtime: Runtime, state: Any) -> AsyncIterator[None]:
    """Re-fetch URL specs every ``AFORO_SPEC_SYNC_INTERVAL`` seconds for the app's lifetime."""
    interval = runtime.settings.spec_sync_interval_s
    if interval <= 0:
        yield
        return
    task = asyncio.create_task(
        spec_sync.loop(
            runtime.maker, runtime.transaction, interval, limits=specs.limits(runtime.settings)
        )
    )
    state.spec_sync = task
    try:
        yield
    finally:
        await stop_tasks([task])
