from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import strawberry

from aforo.db import utcnow
from aforo.models import teams as m
from aforo.schema.api_keys import ApiKey
from aforo.schema.base import AppInfo, UserError
from aforo.schema.billing import Subscription
from aforo.services.ownership import MATRIX, Capability
from aforo.services.ownership import TeamRole as TeamRoleValue

TeamRole = strawberry.enum(
    TeamRoleValue,
    name="TeamRole",
    description="OWNER (one per team: everything), ADMIN (members and keys), BILLING "
    "(subscriptions and usage), MEMBER (sees subscriptions, keys without secrets, usage and "
    "try-it runs; tries keys out).",
)


@strawberry.type
class TeamMember:
    user_id: strawberry.ID
    name: str
    role: TeamRole  # type: ignore[valid-type]
    joined_at: datetime
    email: str | None = strawberry.field(
        description="Shown to members who manage the team (OWNER, ADMIN)."
    )


@strawberry.type
class TeamInvitation:
    id: strawberry.ID
    email: str
    role: TeamRole  # type: ignore[valid-type]
    created_at: datetime
    expires_at: datetime
    status: str = strawberry.field(description="OPEN, ACCEPTED, REVOKED or EXPIRED.")

    @classmethod
    def of(cls, i: m.TeamInvitation, now: datetime) -> TeamInvitation:
        status = (
            "ACCEPTED"
            if i.accepted_at
            else "REVOKED"
            if i.revoked_at
            else "EXPIRED"
            if i.expires_at <= now
            else "OPEN"
        )
        return cls(
            id=strawberry.ID(str(i.id)),
            email=i.email,
            role=TeamRoleValue(i.role),
            created_at=i.created_at,
            expires_at=i.expires_at,
            status=status,
        )


@strawberry.type(description="A team you belong to.")
class Team:
    id: strawberry.ID
    name: str
    created_at: datetime
    my_role: TeamRole  # type: ignore[valid-type]
    _id: strawberry.Private[uuid.UUID]

    def _can(self, cap: Capability) -> bool:
        return cap in MATRIX[TeamRoleValue(self.my_role)]

    @strawberry.field
    async def members(self, info: AppInfo) -> list[TeamMember]:
        rows = await info.context.loaders.members_by_team_id.load(self._id)
        manage = self._can(Capability.MANAGE_MEMBERS)
        return [
            TeamMember(
                user_id=strawberry.ID(str(r.user.id)),
                name=r.user.name,
                role=TeamRoleValue(r.role),
                joined_at=r.joined_at,
                email=r.user.email if manage else None,
            )
            for r in rows
        ]

    @strawberry.field(
        description="Invitations, newest first (latest 200; empty unless you manage members)."
    )
    async def invitations(self, info: AppInfo) -> list[TeamInvitation]:
        if not self._can(Capability.MANAGE_MEMBERS):
            return []
        rows = await info.context.loaders.invitations_by_team_id.load(self._id)
        now = utcnow()
        return [TeamInvitation.of(i, now) for i in rows]

    @strawberry.field(description="The team's subscriptions, newest first (latest 200).")
    async def subscriptions(self, info: AppInfo) -> list[Subscription]:
        rows = await info.context.loaders.subscriptions_by_team_id.load(self._id)
        return [Subscription.of(x) for x in rows]

    @strawberry.field(
        description="The team's keys, newest first (latest 200; never secrets; empty for BILLING)."
    )
    async def api_keys(self, info: AppInfo) -> list[ApiKey]:
        if not self._can(Capability.VIEW_KEYS):
            return []
        rows = await info.context.loaders.keys_by_team_id.load(self._id)
        return [ApiKey.of(k) for k in rows]

    @classmethod
    def of(cls, t: m.Team, role: str) -> Team:
        return cls(
            id=strawberry.ID(str(t.id)),
            name=t.name,
            created_at=t.created_at,
            my_role=TeamRoleValue(role),
            _id=t.id,
        )


@strawberry.type
class TeamDeleted:
    id: strawberry.ID
    cancelled_subscriptions: int
    revoked_keys: int


@strawberry.type
class TeamMemberRemoved:
    team_id: strawberry.ID
    user_id: strawberry.ID


TeamResult = Annotated[Team | UserError, strawberry.union("TeamResult")]
TeamInvitationResult = Annotated[
    TeamInvitation | UserError, strawberry.union("TeamInvitationResult")
]
TeamDeletedResult = Annotated[TeamDeleted | UserError, strawberry.union("TeamDeletedResult")]
TeamMemberRemovedResult = Annotated[
    TeamMemberRemoved | UserError, strawberry.union("TeamMemberRemovedResult")
]
