"""Which of our subscriptions and keys a usage record belongs to.

A source names its caller its own way: a key id (our API key's id, as the verify endpoint gave
it to the gateway), an OAuth client id (agents using client credentials), or a subscription id.
When that name is one of ours, the event gets our subscription and key; otherwise it keeps the
name in ``consumer`` and no subscription. Explicit ``subscription_id`` / ``key_id`` on a
canonical event must be ours, or the record is refused.

A key drawing on several subscriptions is counted against its active one (the oldest, if
several are active): what the verify endpoint reports for it too.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from aforo.services.api_keys import BEARER_PREFIX, CLIENT_SECRET_PREFIX
from aforo.services.gateway_tokens import PREFIX as GATEWAY_PREFIX
from aforo.services.usage.events import Event, Rejection
from aforo.tenancy.hashing import sha256

# A raw credential given as the consumer (an export's "api_key" column): it is never stored or
# queued. It becomes "sha256:<hex>" as soon as it is parsed, and that names the key it hashes to.
SECRET_PREFIXES = (BEARER_PREFIX, CLIENT_SECRET_PREFIX, GATEWAY_PREFIX)
HASHED = "sha256:"


def scrub_secrets(events: Sequence[Event]) -> None:
    """Replace a raw key in ``consumer`` by its SHA-256 (the form keys are kept in)."""
    for e in events:
        c = e.consumer
        if c is not None and c.startswith(SECRET_PREFIXES):
            e.consumer = HASHED + sha256(c).hex()
            e._hash = None  # the content is what we keep, not the secret


def _hashed(s: str) -> bytes | None:
    if not s.startswith(HASHED) or len(s) != len(HASHED) + 64:
        return None
    try:
        return bytes.fromhex(s[len(HASHED) :])
    except ValueError:
        return None


def _uuid(s: str | None) -> uuid.UUID | None:
    if s is None or len(s) != 36:
        return None
    try:
        return uuid.UUID(s)
    except ValueError:
        return None


# Keys named by id or client id, each with the subscription its usage counts against (active
# first, then the oldest), and subscriptions named by id: one statement.
_LOOKUP = """
with k as (
    select id, client_id, key_hash from api_keys
    where id = any($1::uuid[]) or client_id = any($2::text[]) or key_hash = any($4::bytea[])
), b as (
    select distinct on (kb.key_id) kb.key_id, s.id as sub
    from key_subscription_bindings kb
    join subscriptions s on s.tenant_id = kb.tenant_id and s.id = kb.subscription_id
    where kb.key_id in (select id from k)
    order by kb.key_id, s.status <> 'ACTIVE', s.created_at
)
select 'k' as kind, k.id, k.client_id, b.sub, k.key_hash from k left join b on b.key_id = k.id
union all
select 's', s.id, null, null, null from subscriptions s where s.id = any($3::uuid[])
"""


async def map_consumers(
    session: AsyncSession, events: Sequence[tuple[int, Event]]
) -> tuple[list[tuple[int, Event]], list[Rejection]]:
    """Fill subscription/key in place (one statement per batch); refuse events whose explicit
    ids are not ours."""
    names = {e.consumer for _, e in events if e.consumer}
    as_ids = {u for u in map(_uuid, names) if u is not None}
    explicit_keys = {e.key_id for _, e in events if e.key_id}
    explicit_subs = {e.subscription_id for _, e in events if e.subscription_id}
    if not (names or explicit_keys or explicit_subs):
        return list(events), []

    key_by_id: dict[uuid.UUID, uuid.UUID] = {}
    key_by_client: dict[str, uuid.UUID] = {}
    key_sub: dict[uuid.UUID, uuid.UUID] = {}
    subs: set[uuid.UUID] = set()
    # One round trip for keys (by id or client id), their subscriptions, and subscriptions.
    conn = await session.connection()
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    hashes = {h for h in map(_hashed, names) if h is not None}
    for kind, ident, client_id, sub, key_hash in await raw.fetch(
        _LOOKUP,
        list(as_ids | explicit_keys),
        list(names),
        list(as_ids | explicit_subs),
        list(hashes),
    ):
        if kind == "k":
            key_by_id[ident] = ident
            if client_id:
                key_by_client[client_id] = ident
            if key_hash in hashes:
                key_by_client[HASHED + key_hash.hex()] = ident
            if sub is not None:
                key_sub[ident] = sub
        else:
            subs.add(ident)

    kept: list[tuple[int, Event]] = []
    refused: list[Rejection] = []
    for i, e in events:
        if e.key_id is not None and e.key_id not in key_by_id:
            refused.append(_unknown(i, e, "key_id", "UNKNOWN_KEY", "no API key with that id"))
            continue
        if e.subscription_id is not None and e.subscription_id not in subs:
            refused.append(
                _unknown(i, e, "subscription_id", "UNKNOWN_SUBSCRIPTION", "no such subscription")
            )
            continue
        if e.key_id is None and e.consumer:
            cid = _uuid(e.consumer)
            e.key_id = key_by_client.get(e.consumer) or (cid if cid in key_by_id else None)
            if e.subscription_id is None and e.key_id is None and cid in subs:
                e.subscription_id = cid
        if e.subscription_id is None and e.key_id is not None:
            e.subscription_id = key_sub.get(e.key_id)
        kept.append((i, e))
    return kept, refused


def _unknown(i: int, e: Event, field: str, code: str, message: str) -> Rejection:
    return Rejection(code=code, message=message, field=field, index=i, event_id=e.event_id)
