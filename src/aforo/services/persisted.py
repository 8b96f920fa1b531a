"""Persisted documents by SHA-256: Apollo's automatic persisted queries (registered by any
client that sends the query with its hash, kept per tenant for a day) and the admin's trusted
documents (in the database, cached the same way). Both are kept in ``Runtime.shared``, which
every worker process sees alike: one registered or removed on one worker is so on all."""

from __future__ import annotations

import uuid

from aforo.db import tenant_session
from aforo.runtime.state import Runtime
from aforo.services import edge

APQ_TTL_S = 24 * 3600.0
TRUSTED_TTL_S = 3600.0
MISS_TTL_S = 5.0
_ABSENT = b"\x00"


def cache_key(kind: str, tenant_id: uuid.UUID | None, sha256_hex: str) -> str:
    return f"aforo:t:{tenant_id or 'none'}:{kind}:{sha256_hex}"


async def trusted(runtime: Runtime, tenant_id: uuid.UUID | None, sha256_hex: str) -> str | None:
    """A trusted document of the tenant by hash (only what an admin registered)."""
    if tenant_id is None:
        return None
    name = cache_key("td", tenant_id, sha256_hex)
    cached = await runtime.shared.get(name)
    if cached is not None:
        return None if cached == _ABSENT else cached.decode()
    async with tenant_session(runtime.maker, tenant_id) as s:
        body = await edge.trusted_document(s, sha256_hex)
    await runtime.shared.set(
        name, body.encode() if body else _ABSENT, TRUSTED_TTL_S if body else MISS_TTL_S
    )
    return body


async def lookup(runtime: Runtime, tenant_id: uuid.UUID | None, sha256_hex: str) -> str | None:
    """Any persisted document by hash: an automatically persisted one, or a trusted one."""
    cached = await runtime.shared.get(cache_key("pq", tenant_id, sha256_hex))
    if cached is not None:
        return cached.decode()
    return await trusted(runtime, tenant_id, sha256_hex)


async def remember(runtime: Runtime, tenant_id: uuid.UUID, sha256_hex: str, body: str) -> None:
    await runtime.shared.set(cache_key("pq", tenant_id, sha256_hex), body.encode(), APQ_TTL_S)


async def forget(runtime: Runtime, tenant_id: uuid.UUID, sha256_hex: str) -> None:
    """A trusted document was removed: drop its cached copies."""
    await runtime.shared.delete(
        cache_key("td", tenant_id, sha256_hex), cache_key("pq", tenant_id, sha256_hex)
    )
