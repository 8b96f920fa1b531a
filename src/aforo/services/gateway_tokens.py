"""Gateway tokens: created and revoked by admins, the secret shown once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.db import utcnow
from aforo.errors import NotFound, ValidationFailed
from aforo.models.gateway_tokens import GatewayToken
from aforo.services import outbox
from aforo.tenancy.hashing import new_secret, sha256

PREFIX = "gwt_"
TOPIC = "aforo.keys.events"


@dataclass(frozen=True)
class CreatedGatewayToken:
    token: GatewayToken
    secret: str  # returned once, never stored


async def create(session: AsyncSession, name: str) -> CreatedGatewayToken:
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationFailed("name must be 1-200 characters", field="name")
    secret = new_secret(PREFIX, 32)
    token = GatewayToken(
        tenant_id=session.info["tenant_id"],
        name=name,
        token_hash=sha256(secret),
        prefix=secret[:8],
        last4=secret[-4:],
    )
    session.add(token)
    await session.flush()
    await outbox.emit(session, TOPIC, "gateway_token.created", {"token_id": token.id, "name": name})
    return CreatedGatewayToken(token, secret)


async def list_all(session: AsyncSession) -> list[GatewayToken]:
    rows = await session.scalars(select(GatewayToken).order_by(GatewayToken.created_at))
    return list(rows)


async def revoke(session: AsyncSession, token_id: uuid.UUID) -> GatewayToken:
    token: GatewayToken | None = await session.scalar(
        update(GatewayToken)
        .where(GatewayToken.id == token_id, GatewayToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(GatewayToken)
    )
    if token is None:
        raise NotFound("no active gateway token with that id", field="id")
    await outbox.emit(session, TOPIC, "gateway_token.revoked", {"token_id": token.id})
    return token
