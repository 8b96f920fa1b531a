"""Importing a spec (content, files, a zip or a URL) and re-syncing one imported from a URL.

Parsing runs in the import worker (``spec_import.worker``), off the event loop and under a
CPU-time budget; here only the inputs are checked, the files gathered and the result stored:
one version row, the operations and the components, each in one multi-row statement.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.config import Settings
from aforo.db import utcnow
from aforo.errors import NotFound, ValidationFailed
from aforo.models.billing import Product
from aforo.models.specs import ApiSpec, SpecVersion
from aforo.runtime.outbound import OutboundError
from aforo.services import outbox
from aforo.services.spec_import import FORMATS, SpecFiles, SpecInvalid, jobs, worker
from aforo.services.specs import sources
from aforo.text import check_text

TOPIC = "aforo.docs.events"
MAX_NAME = 200

# The worker sends rows as a few long values per statement (``jobs.Rows``): the small
# columns as a JSON array of rows; each JSON column as the rows' JSON texts (UTF-8 bytes)
# joined by a character JSON text never holds raw, split here by ``string_to_array`` and
# parsed once by the ``::json`` cast (as one text per row was before). ``rows from`` zips
# them by position.
_INSERT_OPERATIONS = text(
    """insert into spec_operations (tenant_id, version_id, position, key, kind, parent_key,
        method, path, operation_id, summary, description, tags, deprecated, parameters,
        request_body, responses, security, extra)
    select :tenant_id, :version_id, (cast(:start as int) + u.n - 1)::int, u.m->>0, u.m->>1,
        u.m->>2, u.m->>3, u.m->>4, u.m->>5, u.m->>6, u.m->>7,
        array(select json_array_elements_text(u.m->8))::varchar[], (u.m->>9)::boolean,
        u.parameters::json, u.request_body::json, u.responses::json, u.security::json,
        u.extra::json
    from rows from (json_array_elements(cast(:meta as json)),
        unnest(string_to_array(convert_from(:parameters, 'UTF8'), :sep)),
        -- an empty field is an operation without a request body (and a single such
        -- operation gives no field at all: rows from pads with null)
        unnest(string_to_array(convert_from(:request_bodies, 'UTF8'), :sep, '')),
        unnest(string_to_array(convert_from(:responses, 'UTF8'), :sep)),
        unnest(string_to_array(convert_from(:security, 'UTF8'), :sep)),
        unnest(string_to_array(convert_from(:extra, 'UTF8'), :sep)))
        with ordinality as u(m, parameters, request_body, responses, security, extra, n)"""
)
_INSERT_COMPONENTS = text(
    """insert into spec_components (tenant_id, version_id, position, kind, name, ref, body)
    select :tenant_id, :version_id, (cast(:start as int) + u.n - 1)::int, u.m->>0, u.m->>1,
        u.m->>2, u.body::json
    from rows from (json_array_elements(cast(:meta as json)),
        unnest(string_to_array(convert_from(:bodies, 'UTF8'), :sep)))
        with ordinality as u(m, body, n)"""
)


@dataclass(frozen=True)
class Imported:
    spec: ApiSpec
    version: SpecVersion
    created: bool  # False: the same content was imported before


@dataclass(frozen=True)
class Synced:
    spec: ApiSpec
    version: SpecVersion | None  # the new version, None when nothing changed
    not_modified: bool


def limits(settings: Settings) -> worker.Limits:
    return worker.Limits(settings.spec_import_cpu_s, settings.spec_import_memory_mb)


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


async def import_spec(
    session: AsyncSession,
    *,
    product_id: uuid.UUID,
    format: str,
    content: bytes | str | None = None,
    files: dict[str, bytes] | None = None,
    root: str | None = None,
    source_url: str | None = None,
    server_url: str | None = None,
    name: str | None = None,
    spec_id: uuid.UUID | None = None,
    limits: worker.Limits | None = None,
) -> Imported:
    """Import from ``content`` (one document), ``files`` (several, or one zip; ``root``
    names the root document when it is not obvious) or ``source_url``."""
    if format not in FORMATS:
        raise ValidationFailed(f"format must be one of {', '.join(FORMATS)}", field="format")
    given = [x for x in (content, files, source_url) if x is not None]
    if len(given) != 1:
        raise ValidationFailed("give exactly one of content, files or sourceUrl", field="content")
    if name is not None and not 1 <= len(check_text(name, "name").strip()) <= MAX_NAME:
        raise ValidationFailed(f"name must be 1-{MAX_NAME} characters", field="name")
    if server_url is not None:
        server_url = _check_url(check_text(server_url, "serverUrl"), "serverUrl")
    await _product(session, product_id)
    headers: dict[str, str] = {}
    if source_url is not None:
        source_url = _check_url(source_url, "sourceUrl")
        fetched = await sources.fetch(session, source_url, limits=limits)
        spec_files, headers = fetched.files, fetched.headers
    elif files is not None:
        if not files:
            raise ValidationFailed("give at least one file", field="files")
        spec_files = await sources.uploaded(files, root, limits, format=format)
    else:
        assert content is not None
        spec_files = SpecFiles.single(content.encode() if isinstance(content, str) else content)
    digest = sources.digest(spec_files)
    # Same content as a version already imported into this product: nothing to parse or write.
    seen = await _version_by_hash(session, product_id, format, digest)
    if seen is not None and (spec_id is None or seen[0].id == spec_id):
        known_spec, known_version = seen
        if source_url is None or known_spec.source_url == source_url:
            return Imported(known_spec, known_version, False)
    prepared: jobs.Prepared = await worker.run(
        jobs.prepare, format, spec_files, source_url, limits=limits
    )
    spec = await _find_spec(
        session, product_id, format, source_url, name or prepared.title, spec_id
    )
    if spec is None:
        spec = ApiSpec(
            tenant_id=session.info["tenant_id"],
            product_id=product_id,
            name=(name or prepared.title).strip()[:MAX_NAME] or "API",
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
    text_given = content if isinstance(content, str) else None
    version, created = await _add_version(session, spec, spec_files, digest, prepared, text_given)
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
        q = q.where(ApiSpec.source_url.is_(None), ApiSpec.name == name.strip()[:MAX_NAME])
    found: ApiSpec | None = await session.scalar(q.with_for_update().limit(1))
    return found


def _source(spec_files: SpecFiles, format: str, given: str | None = None) -> str:
    """What ``SpecVersion.source`` shows: the root document as received (all SDL files of a
    multi-file GraphQL schema, as they were read). ``given``: the one document, when it
    arrived as text (the bytes are its encoding: decoding them would copy it again)."""
    if given is not None and len(spec_files.files) == 1:
        return given.replace("\x00", "") if "\x00" in given else given
    names = [spec_files.root]
    if format == "GRAPHQL" and len(spec_files.files) > 1:
        names += sorted(n for n in spec_files.files if n != spec_files.root)
    text_ = "\n".join(spec_files.files[n].decode("utf-8", "replace") for n in names)
    # (a search for NUL is a memchr; ``replace`` alone scans several times slower)
    return text_.replace("\x00", "") if "\x00" in text_ else text_


async def _add_version(
    session: AsyncSession,
    spec: ApiSpec,
    spec_files: SpecFiles,
    digest: bytes,
    prepared: jobs.Prepared,
    given: str | None = None,
) -> tuple[SpecVersion, bool]:
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
        source=_source(spec_files, spec.format, given),
        title=prepared.title[:500],
        api_version=prepared.version[:100],
        description=prepared.description,
        servers=json.loads(prepared.servers),
        security_schemes=json.loads(prepared.security_schemes),
        tags=json.loads(prepared.tags),
        info=json.loads(prepared.info),
        external_docs=json.loads(prepared.external_docs) if prepared.external_docs else None,
        tag_groups=json.loads(prepared.tag_groups),
        conversions=json.loads(prepared.conversions),
        source_version=prepared.source_version[:40],
        files=[f[:2048] for f in prepared.files] if len(prepared.files) > 1 else [],
        operation_count=prepared.operation_count,
    )
    session.add(version)
    await session.flush()
    base = {"tenant_id": spec.tenant_id, "version_id": version.id, "sep": jobs.SEPARATOR}
    for rows in prepared.operations:
        parameters, request_bodies, responses, security, extra = rows.json
        await session.execute(
            _INSERT_OPERATIONS,
            {
                **base,
                "start": rows.start,
                "meta": rows.meta,
                "parameters": parameters,
                "request_bodies": request_bodies,
                "responses": responses,
                "security": security,
                "extra": extra,
            },
        )
    for rows in prepared.components:
        (bodies,) = rows.json
        await session.execute(
            _INSERT_COMPONENTS, {**base, "start": rows.start, "meta": rows.meta, "bodies": bodies}
        )
    await outbox.emit(
        session,
        TOPIC,
        "spec.published",
        {
            "spec_id": spec.id,
            "product_id": spec.product_id,
            "version_id": version.id,
            "version": version.number,
            "operations": version.operation_count,
        },
    )
    return version, True


async def sync_spec(
    session: AsyncSession, spec_id: uuid.UUID, *, limits: worker.Limits | None = None
) -> Synced:
    spec = await session.scalar(select(ApiSpec).where(ApiSpec.id == spec_id).with_for_update())
    if spec is None:
        raise NotFound("no spec with that id", field="id")
    if spec.source_url is None:
        raise ValidationFailed("this spec was uploaded, not imported from a URL", field="id")
    spec.last_checked_at = utcnow()
    current = await session.scalar(
        select(SpecVersion).where(
            SpecVersion.spec_id == spec.id, SpecVersion.number == spec.current_version
        )
    )
    multi_file = current is not None and len(current.files) > 1
    try:
        fetched = await sources.fetch(
            session,
            spec.source_url,
            etag=spec.etag,
            last_modified=spec.last_modified,
            # the files a root references may change while the root does not
            cached_root=current.source.encode() if multi_file and current is not None else None,
            limits=limits,
        )
        if fetched.not_modified and (
            not multi_file
            or (current is not None and sources.digest(fetched.files) == current.content_hash)
        ):
            spec.last_error = None
            return Synced(spec, None, True)
        digest = sources.digest(fetched.files)
        prepared: jobs.Prepared = await worker.run(
            jobs.prepare, spec.format, fetched.files, spec.source_url, limits=limits
        )
    except (OutboundError, SpecInvalid) as e:
        # Kept on the spec for the console; the previous version stays current.
        spec.last_error = f"{e.code}: {e.message}"[:2000]
        await session.flush()
        raise
    if fetched.headers or not fetched.not_modified:
        spec.etag = fetched.headers.get("etag")
        spec.last_modified = fetched.headers.get("last-modified")
    spec.last_error = None
    version, created = await _add_version(session, spec, fetched.files, digest, prepared)
    return Synced(spec, version if created else None, False)
