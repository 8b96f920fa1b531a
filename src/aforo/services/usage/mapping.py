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
from typing import Any

from sqlalchemy import Text, Uuid, and_, any_, literal, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

from aforo.models.api_keys import ApiKey, KeySubscriptionBinding
from aforo.models.billing import Subscription
from aforo.services.usage.events import Event, Rejection


def _array(values: set[Any], item: TypeEngine[Any]) -> Any:
    """One array parameter, not one parameter per value (``IN`` would be recompiled for every
    batch size, and a batch names hundreds of consumers)."""
    return literal(list(values), ARRAY(item))


def _uuid(s: str | None) -> uuid.UUID | None:
    if s is None or len(s) != 36:
        return None
    try:
        return uuid.UUID(s)
    except ValueError:
        return None


async def key_subscriptions(
    session: AsyncSession, key_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """key id → the subscription its usage counts against (active first, then oldest)."""
    if not key_ids:
        return {}
    rows = await session.execute(
        select(KeySubscriptionBinding.key_id, Subscription.id)
        .join(
            Subscription,
            and_(
                Subscription.tenant_id == KeySubscriptionBinding.tenant_id,
                Subscription.id == KeySubscriptionBinding.subscription_id,
            ),
        )
        .where(KeySubscriptionBinding.key_id.in_(key_ids))
        .order_by(
            KeySubscriptionBinding.key_id,
            (Subscription.status != "ACTIVE"),
            Subscription.created_at,
        )
    )
    out: dict[uuid.UUID, uuid.UUID] = {}
    for key_id, sub_id in rows:
        out.setdefault(key_id, sub_id)
    return out


async def map_consumers(
    session: AsyncSession, events: Sequence[tuple[int, Event]]
) -> tuple[list[tuple[int, Event]], list[Rejection]]:
    """Fill subscription/key in place (at most three statements per batch); refuse events
    whose explicit ids are not ours."""
    names = {e.consumer for _, e in events if e.consumer}
    as_ids = {u for u in map(_uuid, names) if u is not None}
    explicit_keys = {e.key_id for _, e in events if e.key_id}
    explicit_subs = {e.subscription_id for _, e in events if e.subscription_id}
    if not (names or explicit_keys or explicit_subs):
        return list(events), []

    key_by_id: dict[uuid.UUID, uuid.UUID] = {}
    key_by_client: dict[str, uuid.UUID] = {}
    wanted_keys = as_ids | explicit_keys
    if wanted_keys or names:
        conds = []
        if wanted_keys:
            conds.append(ApiKey.id == any_(_array(wanted_keys, Uuid())))
        if names:
            conds.append(ApiKey.client_id == any_(_array(names, Text())))
        for kid, client_id in await session.execute(
            select(ApiKey.id, ApiKey.client_id).where(or_(*conds))
        ):
            key_by_id[kid] = kid
            if client_id:
                key_by_client[client_id] = kid
    subs: set[uuid.UUID] = set()
    wanted_subs = as_ids | explicit_subs
    if wanted_subs:
        subs = set(
            await session.scalars(
                select(Subscription.id).where(Subscription.id == any_(_array(wanted_subs, Uuid())))
            )
        )
    key_sub = await key_subscriptions(session, list(key_by_id))

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
