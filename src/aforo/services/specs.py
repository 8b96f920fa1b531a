"""API specs: import (content or URL), versions by content hash, diff, live sync, allow-list."""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.db import utcnow
from aforo.errors import Conflict, NotFound, ValidationFailed
from aforo.models.billing import Product
from aforo.models.specs import ApiSpec, OutboundAllow, SpecOperation, SpecVersion
from aforo.runtime.outbound import Allowlist, Guard, OutboundError, policy_of, validate_entry
from aforo.services import outbox
from aforo.services.spec_import import FORMATS, ParsedSpec, SpecInvalid, parse
from aforo.services.spec_import.diff import Change, diff
from aforo.services.spec_import.loader import MAX_SPEC_BYTES
from aforo.text import check_text

TOPIC = "aforo.docs.events"
MAX_ALLOWLIST = 100


@dataclass(frozen=True)
class Imported:
    spec: ApiSpec
    version: SpecVersion
    created: bool  # False: the same content was imported before


# -- outbound allow-list ---------------------------------------------------------------------
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
    """The outbound guard for fetching specs: the operator's policy narrowed by this tenant's
    allow-list (the try-it playground builds its own from the same list, read with the
    operation it calls)."""
    entries = [a.entry for a in await allowlist(session)]
    return Guard(Allowlist.parse(entries), max_bytes=MAX_SPEC_BYTES, policy=policy_of(session.info))


# -- import ----------------------------------------------------------------------------------
def _check_url(url: str, field: str) -> str:
    url = url.strip()
    if not url.lower().startswith(("http://", "https://")) or len(url) > 2048:
        raise ValidationFailed("must be an http(s) URL of at most 2048 characters", field=field)
    return url


async def _product(session: AsyncSession, product_id: uuid.UUID) -> Product:
    product = await session.scalar(select(Product).where(Product.id == product_id))
    if product is None:
        raise NotFound("no product with that id", field="productId")
    return product


async def fetch(
    session: AsyncSession, url: str, *, etag: str | None = None, last_modified: str | None = None
) -> tuple[int, bytes, dict[str, str]]:
    headers = {"Accept": "application/json, application/yaml, text/yaml, */*;q=0.5"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    g = await guard(session)
    try:
        response = await g.fetch(url, headers=headers)
    except OutboundError as e:
        e.field = e.field or "sourceUrl"
        raise
    if response.status not in (200, 304):
        raise OutboundError(
            f"fetching the spec answered HTTP {response.status}",
            code="SPEC_FETCH_FAILED",
            field="sourceUrl",
        )
    kept = {k: response.headers[k] for k in ("etag", "last-modified") if k in response.headers}
    return response.status, response.content, kept


async def import_spec(
    session: AsyncSession,
    *,
    product_id: uuid.UUID,
    format: str,
    content: bytes | str | None = None,
    source_url: str | None = None,
    server_url: str | None = None,
    name: str | None = None,
    spec_id: uuid.UUID | None = None,
) -> Imported:
    if format not in FORMATS:
        raise ValidationFailed(f"format must be one of {', '.join(FORMATS)}", field="format")
    if (content is None) == (source_url is None):
        raise ValidationFailed("give either content or sourceUrl", field="content")
    if name is not None and not 1 <= len(check_text(name, "name").strip()) <= 200:
        raise ValidationFailed("name must be 1-200 characters", field="name")
    if server_url is not None:
        server_url = _check_url(check_text(server_url, "serverUrl"), "serverUrl")
    await _product(session, product_id)
    headers: dict[str, str] = {}
    if source_url is not None:
        source_url = _check_url(source_url, "sourceUrl")
        _, content, headers = await fetch(session, source_url)
    assert content is not None
    raw = content.encode() if isinstance(content, str) else content
    # Same bytes as a version already imported into this product: nothing to parse or write.
    seen = await _version_by_hash(session, product_id, format, hashlib.sha256(raw).digest())
    if seen is not None and (spec_id is None or seen[0].id == spec_id):
        known_spec, known_version = seen
        if source_url is None or known_spec.source_url == source_url:
            return Imported(known_spec, known_version, False)
    parsed = parse(format, raw)
    spec = await _find_spec(session, product_id, format, source_url, name or parsed.title, spec_id)
    if spec is None:
        spec = ApiSpec(
            tenant_id=session.info["tenant_id"],
            product_id=product_id,
            name=(name or parsed.title).strip()[:200],
            format=format,
            source_url=source_url,
        )
        session.add(spec)
        await session.flush()
    if server_url is not None:
        spec.server_url = server_url
    if source_url is not None:
        spec.etag = headers.get("etag")
        spec.last_modified = headers.get("last-modified")
        spec.last_checked_at = utcnow()
        spec.last_error = None
    version, created = await _add_version(session, spec, raw, parsed)
    return Imported(spec, version, created)


async def _version_by_hash(
    session: AsyncSession, product_id: uuid.UUID, format: str, digest: bytes
) -> tuple[ApiSpec, SpecVersion] | None:
    row = (
        await session.execute(
            select(ApiSpec, SpecVersion)
            .join(SpecVersion, SpecVersion.spec_id == ApiSpec.id)
            .where(
                ApiSpec.product_id == product_id,
                ApiSpec.format == format,
                SpecVersion.content_hash == digest,
            )
            .order_by(SpecVersion.created_at)
            .limit(1)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def _find_spec(
    session: AsyncSession,
    product_id: uuid.UUID,
    format: str,
    source_url: str | None,
    name: str,
    spec_id: uuid.UUID | None,
) -> ApiSpec | None:
    if spec_id is not None:
        spec = await session.scalar(select(ApiSpec).where(ApiSpec.id == spec_id).with_for_update())
        if spec is None or spec.product_id != product_id:
            raise NotFound("no spec with that id in this product", field="specId")
        if spec.format != format:
            raise ValidationFailed(f"that spec is {spec.format}", field="format")
        return spec
    q = select(ApiSpec).where(ApiSpec.product_id == product_id, ApiSpec.format == format)
    if source_url is not None:
        q = q.where(ApiSpec.source_url == source_url)
    else:
        q = q.where(ApiSpec.source_url.is_(None), ApiSpec.name == name.strip()[:200])
    found: ApiSpec | None = await session.scalar(q.with_for_update().limit(1))
    return found


async def _add_version(
    session: AsyncSession, spec: ApiSpec, raw: bytes, parsed: ParsedSpec
) -> tuple[SpecVersion, bool]:
    digest = hashlib.sha256(raw).digest()
    existing = await session.scalar(
        select(SpecVersion).where(
            SpecVersion.spec_id == spec.id, SpecVersion.content_hash == digest
        )
    )
    if existing is not None:
        return existing, False
    spec.current_version += 1
    version = SpecVersion(
        tenant_id=spec.tenant_id,
        id=uuid.uuid4(),
        spec_id=spec.id,
        number=spec.current_version,
        content_hash=digest,
        source=raw.decode("utf-8", "replace").replace("\x00", ""),
        title=parsed.title[:500],
        api_version=parsed.version[:100],
        description=parsed.description,
        servers=parsed.servers,
        security_schemes=parsed.security_schemes,
        tags=parsed.tags,
    )
    session.add(version)
    await session.flush()
    rows = [
        {
            "tenant_id": spec.tenant_id,
            "version_id": version.id,
            "position": i,
            "key": op["key"][:2100],
            "method": op["method"],
            "path": op["path"][:2048],
            "operation_id": (op["operationId"] or None) and str(op["operationId"])[:300],
            "summary": op["summary"],
            "description": op["description"],
            "tags": [t[:200] for t in op["tags"]],
            "deprecated": op["deprecated"],
            "parameters": op["parameters"],
            "request_body": op["requestBody"],
            "responses": op["responses"],
            # servers of an operation ride along with its security requirements
            "security": [*op["security"], *({"server": s} for s in op.get("servers") or [])],
        }
        for i, op in enumerate(parsed.operations)
    ]
    for start in range(0, len(rows), 1000):
        await session.execute(insert(SpecOperation), rows[start : start + 1000])
    await outbox.emit(
        session,
        TOPIC,
        "spec.published",
        {
            "spec_id": spec.id,
            "product_id": spec.product_id,
            "version_id": version.id,
            "version": version.number,
            "operations": len(rows),
        },
    )
    return version, True


# -- sync ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Synced:
    spec: ApiSpec
    version: SpecVersion | None  # the new version, None when nothing changed
    not_modified: bool


async def sync_spec(session: AsyncSession, spec_id: uuid.UUID) -> Synced:
    spec = await session.scalar(select(ApiSpec).where(ApiSpec.id == spec_id).with_for_update())
    if spec is None:
        raise NotFound("no spec with that id", field="id")
    if spec.source_url is None:
        raise ValidationFailed("this spec was uploaded, not imported from a URL", field="id")
    spec.last_checked_at = utcnow()
    try:
        status, content, headers = await fetch(
            session, spec.source_url, etag=spec.etag, last_modified=spec.last_modified
        )
        if status == 304:
            spec.last_error = None
            return Synced(spec, None, True)
        parsed = parse(spec.format, content)
    except (OutboundError, SpecInvalid) as e:
        # Kept on the spec for the console; the previous version stays current.
        spec.last_error = f"{e.code}: {e.message}"[:2000]
        await session.flush()
        raise
    spec.etag = headers.get("etag")
    spec.last_modified = headers.get("last-modified")
    spec.last_error = None
    version, created = await _add_version(session, spec, content, parsed)
    return Synced(spec, version if created else None, False)


# -- reads -----------------------------------------------------------------------------------
async def spec_by_id(session: AsyncSession, spec_id: uuid.UUID) -> ApiSpec:
    spec = await session.scalar(select(ApiSpec).where(ApiSpec.id == spec_id))
    if spec is None:
        raise NotFound("no spec with that id", field="id")
    return spec


async def specs_of_product(session: AsyncSession, product_id: uuid.UUID) -> list[ApiSpec]:
    rows = await session.scalars(
        select(ApiSpec).where(ApiSpec.product_id == product_id).order_by(ApiSpec.created_at)
    )
    return list(rows)


async def versions_by_spec_ids(
    session: AsyncSession, ids: list[uuid.UUID]
) -> list[list[SpecVersion]]:
    rows = await session.scalars(
        select(SpecVersion)
        .where(SpecVersion.spec_id.in_(ids))
        .order_by(SpecVersion.spec_id, SpecVersion.number.desc())
    )
    grouped: dict[uuid.UUID, list[SpecVersion]] = defaultdict(list)
    for v in rows:
        grouped[v.spec_id].append(v)
    return [grouped.get(i, []) for i in ids]


async def current_versions(
    session: AsyncSession, specs: list[tuple[uuid.UUID, int]]
) -> list[SpecVersion | None]:
    """The current version of each (spec id, number) pair, in one statement."""
    if not specs:
        return []
    rows = await session.scalars(
        select(SpecVersion).where(
            func.row(SpecVersion.spec_id, SpecVersion.number).in_(
                [func.row(s, n) for s, n in specs]
            )
        )
    )
    found = {(v.spec_id, v.number): v for v in rows}
    return [found.get(k) for k in specs]


async def version_by_id(session: AsyncSession, version_id: uuid.UUID, field: str) -> SpecVersion:
    v = await session.scalar(select(SpecVersion).where(SpecVersion.id == version_id))
    if v is None:
        raise NotFound("no spec version with that id", field=field)
    return v


async def operations_by_version_ids(
    session: AsyncSession, ids: list[uuid.UUID]
) -> list[list[SpecOperation]]:
    rows = await session.scalars(
        select(SpecOperation)
        .where(SpecOperation.version_id.in_(ids))
        .order_by(SpecOperation.version_id, SpecOperation.position)
    )
    grouped: dict[uuid.UUID, list[SpecOperation]] = defaultdict(list)
    for op in rows:
        grouped[op.version_id].append(op)
    return [grouped.get(i, []) for i in ids]


async def operation_by_id(session: AsyncSession, op_id: uuid.UUID) -> SpecOperation:
    op = await session.scalar(select(SpecOperation).where(SpecOperation.id == op_id))
    if op is None:
        raise NotFound("no operation with that id", field="id")
    return op


def as_dict(op: SpecOperation) -> dict[str, Any]:
    """The stored operation in the shape the importer produced (for diff and samples)."""
    security = [s for s in op.security if "scheme" in s]
    servers = [s["server"] for s in op.security if "server" in s]
    return {
        "key": op.key,
        "method": op.method,
        "path": op.path,
        "operationId": op.operation_id,
        "summary": op.summary,
        "description": op.description,
        "tags": list(op.tags),
        "deprecated": op.deprecated,
        "parameters": op.parameters,
        "requestBody": op.request_body,
        "responses": op.responses,
        "security": security,
        "servers": servers,
    }


async def spec_diff(session: AsyncSession, from_id: uuid.UUID, to_id: uuid.UUID) -> list[Change]:
    old = await version_by_id(session, from_id, "from")
    new = await version_by_id(session, to_id, "to")
    if old.spec_id != new.spec_id:
        raise ValidationFailed("both versions must belong to the same spec", field="to")
    old_ops, new_ops = await operations_by_version_ids(session, [old.id, new.id])
    return diff([as_dict(o) for o in old_ops], [as_dict(o) for o in new_ops])
