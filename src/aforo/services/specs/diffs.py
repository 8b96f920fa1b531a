"""specDiff: two versions of one spec compared in the import worker (off the event loop)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Text, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.errors import ValidationFailed
from aforo.models.specs import SpecComponent, SpecOperation
from aforo.services.spec_import import jobs, worker
from aforo.services.spec_import.diff import Change
from aforo.services.specs.reads import spec_by_id, version_by_id


async def _operations(session: AsyncSession, version_id: uuid.UUID) -> list[dict[str, Any]]:
    """Operations with their JSON columns as text: the worker parses them."""
    o = SpecOperation
    rows = await session.execute(
        select(
            o.key,
            o.kind,
            o.parent_key.label("parent"),
            o.method,
            o.path,
            o.operation_id.label("operationId"),
            o.summary,
            o.tags,
            o.deprecated,
            cast(o.parameters, Text).label("parameters"),
            cast(o.request_body, Text).label("requestBody"),
            cast(o.responses, Text).label("responses"),
            cast(o.security, Text).label("security"),
            cast(o.extra, Text).label("extra"),
        )
        .where(o.version_id == version_id)
        .order_by(o.position)
    )
    return [dict(r._mapping) for r in rows]


async def _components(session: AsyncSession, version_id: uuid.UUID) -> list[tuple[str, str]]:
    rows = await session.execute(
        select(SpecComponent.ref, cast(SpecComponent.body, Text)).where(
            SpecComponent.version_id == version_id
        )
    )
    return [(ref, body) for ref, body in rows]


async def spec_diff(
    session: AsyncSession,
    from_id: uuid.UUID,
    to_id: uuid.UUID,
    *,
    limits: worker.Limits | None = None,
) -> list[Change]:
    old = await version_by_id(session, from_id, "from")
    new = await version_by_id(session, to_id, "to")
    if old.spec_id != new.spec_id:
        raise ValidationFailed("both versions must belong to the same spec", field="to")
    spec = await spec_by_id(session, old.spec_id)
    if spec.format == "GRAPHQL":
        found: list[Change] = await worker.run(
            jobs.graphql_changes, old.source, new.source, limits=limits
        )
        return found
    material = [
        await _operations(session, old.id),
        await _operations(session, new.id),
        await _components(session, old.id),
        await _components(session, new.id),
    ]
    result: list[Change] = await worker.run(jobs.openapi_diff, *material, limits=limits)
    return result
