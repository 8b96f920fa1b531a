from __future__ import annotations

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.schema.base import AppInfo, IsAuthenticated, guarded, parse_id, read
from aforo.schema.sessions import AccountSession, SessionRevoked, SessionRevokedResult
from aforo.services import sessions


@strawberry.type
class Query:
    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Your signed-in sessions, most recently refreshed first.",
    )
    async def sessions(self, info: AppInfo) -> list[AccountSession]:
        user_id = info.context.require_user()
        current = info.context.require_tenant().session_id
        rows = await read(info, lambda s: sessions.list_sessions(s, user_id))
        return [AccountSession.of(r, current=r.id == current) for r in rows]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Sign one of your sessions out: its refresh token stops working.",
    )
    async def revoke_session(self, info: AppInfo, id: strawberry.ID) -> SessionRevokedResult:
        user_id = info.context.require_user()

        async def go(s: AsyncSession) -> SessionRevoked:
            session_id = parse_id(id)
            await sessions.revoke(s, user_id, session_id)
            return SessionRevoked(id=id)

        return await guarded(info, go)
