from __future__ import annotations

import uuid

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.db import utcnow
from aforo.runtime.state import after_commit
from aforo.schema.base import AppInfo, IsAuthenticated, guarded, parse_id, read
from aforo.schema.teams import (
    Team,
    TeamDeleted,
    TeamDeletedResult,
    TeamInvitation,
    TeamInvitationResult,
    TeamMemberRemoved,
    TeamMemberRemovedResult,
    TeamResult,
    TeamRole,
)
from aforo.schema.throttling import Throttled
from aforo.services import teams
from aforo.services.key_verify import verifier
from aforo.services.ownership import team_role


@strawberry.type
class Query:
    @strawberry.field(permission_classes=[IsAuthenticated], description="Your teams.")
    async def teams(self, info: AppInfo) -> list[Team]:
        user_id = info.context.require_user()
        rows = await read(info, lambda s: teams.my_teams(s, user_id))
        return [Team.of(t, role) for t, role in rows]

    @strawberry.field(permission_classes=[IsAuthenticated], description="One of your teams.")
    async def team(self, info: AppInfo, id: strawberry.ID) -> Team:
        user_id = info.context.require_user()

        return await read(info, lambda s: _team_of(s, user_id, parse_id(id)))


@strawberry.type
class Mutation:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated], description="Create a team; you are its owner."
    )
    async def create_team(self, info: AppInfo, name: str) -> TeamResult:
        user_id = info.context.require_user()

        async def go(s: AsyncSession) -> Team:
            return Team.of(await teams.create_team(s, user_id, name), "OWNER")

        return await guarded(info, go)

    @strawberry.mutation(
        extensions=[Throttled("invite.account", by="account")],
        permission_classes=[IsAuthenticated],
        description="Invite an address to your team (OWNER, ADMIN): a link valid 7 days is "
        "mailed. A new invitation to the same address replaces the open one.",
    )
    async def invite_team_member(
        self,
        info: AppInfo,
        team_id: strawberry.ID,
        email: str,
        role: TeamRole = TeamRole.MEMBER,  # type: ignore[valid-type]
    ) -> TeamInvitationResult:
        user_id = info.context.require_user()

        async def go(s: AsyncSession) -> TeamInvitation:
            inv = await teams.invite(
                s, user_id, parse_id(team_id, "teamId"), email=email, role=str(role)
            )
            return TeamInvitation.of(inv, utcnow())

        return await guarded(info, go)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Withdraw an open invitation: its link stops working.",
    )
    async def revoke_team_invitation(
        self, info: AppInfo, id: strawberry.ID
    ) -> TeamInvitationResult:
        user_id = info.context.require_user()

        async def go(s: AsyncSession) -> TeamInvitation:
            return TeamInvitation.of(
                await teams.revoke_invitation(s, user_id, parse_id(id)), utcnow()
            )

        return await guarded(info, go)

    @strawberry.mutation(
        extensions=[Throttled("token.ip")],
        permission_classes=[IsAuthenticated],
        description="Join a team with the invitation link's token, signed in as the invited "
        "address.",
    )
    async def accept_team_invitation(self, info: AppInfo, token: str) -> TeamResult:
        user_id = info.context.require_user()

        async def go(s: AsyncSession) -> Team:
            team = await teams.accept(s, user_id, token)
            role = await team_role(s, user_id, team.id)
            assert role is not None
            return Team.of(team, role.value)

        return await guarded(info, go)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Change a member's role (OWNER, ADMIN; not the owner's).",
    )
    async def set_team_member_role(
        self,
        info: AppInfo,
        team_id: strawberry.ID,
        user_id: strawberry.ID,
        role: TeamRole,  # type: ignore[valid-type]
    ) -> TeamResult:
        actor = info.context.require_user()

        async def go(s: AsyncSession) -> Team:
            tid = parse_id(team_id, "teamId")
            await teams.set_role(s, actor, tid, parse_id(user_id, "userId"), str(role))
            return await _team_of(s, actor, tid)

        return await guarded(info, go)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Remove a member (OWNER, ADMIN), or leave (yourself). Their access to the "
        "team's subscriptions, keys, usage and runs ends at once.",
    )
    async def remove_team_member(
        self, info: AppInfo, team_id: strawberry.ID, user_id: strawberry.ID
    ) -> TeamMemberRemovedResult:
        actor = info.context.require_user()

        async def go(s: AsyncSession) -> TeamMemberRemoved:
            await teams.remove_member(
                s, actor, parse_id(team_id, "teamId"), parse_id(user_id, "userId")
            )
            return TeamMemberRemoved(team_id=team_id, user_id=user_id)

        return await guarded(info, go)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Hand the team to another member (OWNER); you become an ADMIN.",
    )
    async def transfer_team_ownership(
        self, info: AppInfo, team_id: strawberry.ID, user_id: strawberry.ID
    ) -> TeamResult:
        actor = info.context.require_user()

        async def go(s: AsyncSession) -> Team:
            tid = parse_id(team_id, "teamId")
            await teams.transfer(s, actor, tid, parse_id(user_id, "userId"))
            return await _team_of(s, actor, tid)

        return await guarded(info, go)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Delete the team (OWNER): its subscriptions are cancelled and their keys "
        "revoked in the same transaction.",
    )
    async def delete_team(self, info: AppInfo, id: strawberry.ID) -> TeamDeletedResult:
        actor = info.context.require_user()
        v = verifier(info.context.runtime)

        async def go(s: AsyncSession) -> TeamDeleted:
            done = await teams.delete_team(s, actor, parse_id(id))
            keys = done.revoked_keys
            if keys:
                await v.invalidate_keys(keys)  # and again once committed (no race)
                after_commit(s, lambda: v.invalidate_keys(keys))
            return TeamDeleted(
                id=id,
                cancelled_subscriptions=done.cancelled,
                revoked_keys=len(keys),
            )

        return await guarded(info, go)


async def _team_of(s: AsyncSession, actor: uuid.UUID, team_id: uuid.UUID) -> Team:
    """The team as ``actor`` sees it now (after a change to their own role, too)."""
    team = await teams.get_team(s, actor, team_id)
    role = await team_role(s, actor, team_id)
    assert role is not None
    return Team.of(team, role.value)
