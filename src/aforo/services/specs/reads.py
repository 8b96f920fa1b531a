"""Reading specs: versions, pages of operations, components by name, batched for loaders."""

from __future__ import annotations

import base64
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text, true, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.errors import NotFound, ValidationFailed
from aforo.models.specs import ApiSpec, SpecComponent, SpecOperation, SpecVersion

KINDS = ("operation", "webhook", "callback")


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


async def operation_by_id(session: AsyncSession, op_id: uuid.UUID) -> SpecOperation:
    op = await session.scalar(select(SpecOperation).where(SpecOperation.id == op_id))
    if op is None:
        raise NotFound("no operation with that id", field="id")
    return op


# -- pages of operations ---------------------------------------------------------------------
def cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"op:{position}".encode()).decode()


def after_position(after: str | None) -> int:
    """The position a cursor stands for (-1: from the start)."""
    if after is None:
        return -1
    try:
        kind, _, n = base64.urlsafe_b64decode(after.encode()).decode().partition(":")
        if kind == "op" and n.isdigit():
            return int(n)
    except (ValueError, UnicodeDecodeError):
        pass
    raise ValidationFailed("not a cursor of this list", field="after")


@dataclass(frozen=True)
class PageKey:
    """One page of one version's operations: of a ``kind``, with a ``tag`` (``default``:
    untagged) or any, after a position, at most ``first`` (one more is read, to know whether
    a next page exists)."""

    version_id: uuid.UUID
    kind: str = "operation"
    tag: str | None = None
    after: int = -1
    first: int = 50
    parent: str | None = None  # callbacks of one operation


async def operation_pages(session: AsyncSession, keys: list[PageKey]) -> list[list[SpecOperation]]:
    """Each key's page, in one statement per distinct (kind, after, first, parent) shape:
    however many versions or tags are listed."""
    shapes: dict[tuple[Any, ...], list[PageKey]] = defaultdict(list)
    for k in keys:
        shapes[(k.kind, k.after, k.first, k.parent, k.tag is None)].append(k)
    found: dict[PageKey, list[SpecOperation]] = {}
    for (kind, after, first, parent, untagged), group in shapes.items():
        ids = list({k.version_id for k in group})
        limit = first + 1
        base = [
            SpecOperation.version_id.in_(ids),
            SpecOperation.kind == kind,
            SpecOperation.position > after,
        ]
        if parent is not None:
            base.append(SpecOperation.parent_key == parent)
        if untagged:
            ranked = (
                select(
                    SpecOperation.id,
                    func.row_number()
                    .over(partition_by=SpecOperation.version_id, order_by=SpecOperation.position)
                    .label("rn"),
                )
                .where(*base)
                .subquery()
            )
            rows = await session.scalars(
                select(SpecOperation)
                .join(ranked, ranked.c.id == SpecOperation.id)
                .where(ranked.c.rn <= limit, SpecOperation.version_id.in_(ids))
                .order_by(SpecOperation.version_id, SpecOperation.position)
            )
            by_version: dict[uuid.UUID, list[SpecOperation]] = defaultdict(list)
            for op in rows:
                by_version[op.version_id].append(op)
            for k in group:
                found[k] = by_version.get(k.version_id, [])
            continue
        tags = list({k.tag for k in group if k.tag is not None})
        # an operation without tags is listed under "default"
        tags_or_default = func.coalesce(
            func.nullif(SpecOperation.tags, text("'{}'::varchar[]")),
            text("array['default']::varchar[]"),
        )
        tag_col = (
            func.unnest(tags_or_default).table_valued("tag").render_derived(name="t").lateral()
        )
        ranked = (
            select(
                SpecOperation.id,
                tag_col.c.tag,
                func.row_number()
                .over(
                    partition_by=(SpecOperation.version_id, tag_col.c.tag),
                    order_by=SpecOperation.position,
                )
                .label("rn"),
            )
            .select_from(SpecOperation)
            .join(tag_col, true())
            .where(*base, tag_col.c.tag.in_(tags))
            .subquery()
        )
        rows_tagged = await session.execute(
            select(SpecOperation, ranked.c.tag)
            .join(ranked, ranked.c.id == SpecOperation.id)
            .where(ranked.c.rn <= limit, SpecOperation.version_id.in_(ids))
            .order_by(SpecOperation.version_id, SpecOperation.position)
        )
        by_tag: dict[tuple[uuid.UUID, str], list[SpecOperation]] = defaultdict(list)
        for op, tag in rows_tagged:
            by_tag[(op.version_id, tag)].append(op)
        for k in group:
            found[k] = by_tag.get((k.version_id, k.tag or ""), [])
    return [found[k] for k in keys]


async def all_operations(session: AsyncSession, version_id: uuid.UUID) -> list[SpecOperation]:
    rows = await session.scalars(
        select(SpecOperation)
        .where(SpecOperation.version_id == version_id)
        .order_by(SpecOperation.position)
    )
    return list(rows)


# -- components ------------------------------------------------------------------------------
async def component_bodies(session: AsyncSession, keys: list[tuple[uuid.UUID, str]]) -> list[Any]:
    """The body of each (version id, ref) component (None when there is none)."""
    if not keys:
        return []
    rows = await session.execute(
        select(SpecComponent.version_id, SpecComponent.ref, SpecComponent.body).where(
            tuple_(SpecComponent.version_id, SpecComponent.ref).in_(keys)
        )
    )
    found = {(v, r): b for v, r, b in rows}
    return [found.get(k) for k in keys]


async def all_components(session: AsyncSession, version_id: uuid.UUID) -> dict[str, Any]:
    """Every component of a version by ref (for the diff: both versions, whole)."""
    rows = await session.execute(
        select(SpecComponent.ref, SpecComponent.body).where(SpecComponent.version_id == version_id)
    )
    return {ref: body for ref, body in rows}


async def components_page(
    session: AsyncSession,
    version_id: uuid.UUID,
    *,
    kind: str | None,
    after: int,
    first: int,
) -> list[SpecComponent]:
    q = select(SpecComponent).where(
        SpecComponent.version_id == version_id, SpecComponent.position > after
    )
    if kind is not None:
        q = q.where(SpecComponent.kind == kind)
    rows = await session.scalars(q.order_by(SpecComponent.position).limit(first + 1))
    return list(rows)


async def component_counts(session: AsyncSession, version_id: uuid.UUID) -> dict[str, int]:
    rows = await session.execute(
        select(SpecComponent.kind, func.count())
        .where(SpecComponent.version_id == version_id)
        .group_by(SpecComponent.kind)
    )
    return {kind: int(n) for kind, n in rows}


async def component_by_name(
    session: AsyncSession, version_id: uuid.UUID, name: str, kind: str
) -> SpecComponent:
    row = await session.scalar(
        select(SpecComponent).where(
            SpecComponent.version_id == version_id,
            SpecComponent.kind == kind,
            SpecComponent.name == name,
        )
    )
    if row is None:
        raise NotFound(f"no {kind} component named {name!r}", field="name")
    return row


def as_dict(op: SpecOperation) -> dict[str, Any]:
    """The stored operation in the shape the importer produced (for diff and samples)."""
    security = [s for s in op.security if "scheme" in s]
    servers = [s["server"] for s in op.security if "server" in s]
    return {
        "key": op.key,
        "kind": op.kind,
        "parent": op.parent_key,
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
        **(op.extra or {}),
    }
