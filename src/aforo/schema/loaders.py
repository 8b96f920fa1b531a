"""Dataloaders, built per request, named ``<thing>_by_<key>``, batching through services."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from strawberry.dataloader import DataLoader

from aforo.models.accounts import User
from aforo.services import accounts

if TYPE_CHECKING:
    from aforo.schema.context import Context


class Loaders:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

        async def users(ids: list[uuid.UUID]) -> list[User | None]:
            async with ctx.db() as s:
                return await accounts.users_by_ids(s, ids)

        self.user_by_id: DataLoader[uuid.UUID, User | None] = DataLoader(users)
