"""Who may see and do what with a subscription, its keys, usage and try-it runs: the one rule.

A resource is owned by a person (``team_id`` null: its ``user_id``) or by a team (``team_id``):
then the team's current members reach it as far as their team role allows (the matrix below).
Membership is read live in every query, so removing a member ends their access at once.
Tenant admins are not filtered (callers pass no user for them).
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.errors import Forbidden
from aforo.models.teams import Team, TeamMember


class TeamRole(StrEnum):
    OWNER = "OWNER"
    ADMIN = "ADMIN"
    BILLING = "BILLING"
    MEMBER = "MEMBER"


class Capability(StrEnum):
    VIEW_TEAM = "VIEW_TEAM"  # the team, its members
    VIEW_SUBSCRIPTIONS = "VIEW_SUBSCRIPTIONS"
    VIEW_USAGE = "VIEW_USAGE"
    VIEW_INVOICES = "VIEW_INVOICES"  # invoices, upcoming invoices, their PDFs
    VIEW_KEYS = "VIEW_KEYS"  # never a secret
    VIEW_RUNS = "VIEW_RUNS"  # try-it runs made with the team's keys
    USE_KEYS = "USE_KEYS"  # try-it with a team key (the server injects it)
    MANAGE_SUBSCRIPTIONS = "MANAGE_SUBSCRIPTIONS"  # subscribe, cancel
    MANAGE_KEYS = "MANAGE_KEYS"  # create, rotate, revoke
    MANAGE_MEMBERS = "MANAGE_MEMBERS"  # invite, remove, change roles (not the owner's)
    TRANSFER = "TRANSFER"  # hand ownership to another member
    DELETE = "DELETE"


_READ = {Capability.VIEW_TEAM, Capability.VIEW_SUBSCRIPTIONS, Capability.VIEW_USAGE}
MATRIX: dict[TeamRole, frozenset[Capability]] = {
    TeamRole.OWNER: frozenset(Capability),
    TeamRole.ADMIN: frozenset(Capability) - {Capability.TRANSFER, Capability.DELETE},
    TeamRole.BILLING: frozenset(
        _READ | {Capability.VIEW_INVOICES, Capability.MANAGE_SUBSCRIPTIONS}
    ),
    TeamRole.MEMBER: frozenset(
        _READ | {Capability.VIEW_KEYS, Capability.VIEW_RUNS, Capability.USE_KEYS}
    ),
}


def roles_with(cap: Capability) -> list[str]:
    return sorted(r.value for r, caps in MATRIX.items() if cap in caps)


def teams_of(user_id: uuid.UUID | ColumnElement[uuid.UUID], cap: Capability) -> Any:
    """The live teams in which ``user_id`` holds ``cap`` (a subquery of team ids)."""
    return (
        select(TeamMember.team_id)
        .join(Team, and_(Team.tenant_id == TeamMember.tenant_id, Team.id == TeamMember.team_id))
        .where(
            TeamMember.user_id == user_id,
            TeamMember.role.in_(roles_with(cap)),
            Team.deleted_at.is_(None),
        )
    )


def visible(
    team_col: Any, user_col: Any, user_id: uuid.UUID | ColumnElement[uuid.UUID], cap: Capability
) -> ColumnElement[bool]:
    """THE visibility rule, as a condition on a row with an owning team and person column
    (``user_id``: a value, or a bind parameter of a statement compiled once)."""
    return or_(
        and_(team_col.is_(None), user_col == user_id),
        team_col.in_(teams_of(user_id, cap)),
    )


async def team_role(
    session: AsyncSession, user_id: uuid.UUID, team_id: uuid.UUID
) -> TeamRole | None:
    role = await session.scalar(
        select(TeamMember.role)
        .join(Team, and_(Team.tenant_id == TeamMember.tenant_id, Team.id == TeamMember.team_id))
        .where(
            TeamMember.team_id == team_id,
            TeamMember.user_id == user_id,
            Team.deleted_at.is_(None),
        )
    )
    return TeamRole(role) if role else None


async def allows(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    team_id: uuid.UUID | None,
    owner_id: uuid.UUID,
    cap: Capability,
) -> bool:
    """The same rule for one row: its owner, or a member of its team holding ``cap``."""
    if team_id is None:
        return owner_id == user_id
    role = await team_role(session, user_id, team_id)
    return role is not None and cap in MATRIX[role]


async def require(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    team_id: uuid.UUID | None,
    owner_id: uuid.UUID,
    cap: Capability,
    missing: Exception,
) -> None:
    """Raise ``missing`` (a NotFound: no tell) for outsiders, FORBIDDEN for members whose
    team role lacks ``cap``."""
    if await allows(session, user_id, team_id=team_id, owner_id=owner_id, cap=cap):
        return
    if team_id is not None and await team_role(session, user_id, team_id) is not None:
        raise Forbidden(
            f"your team role does not allow this ({cap.value.lower().replace('_', ' ')})",
            code="TEAM_ROLE_FORBIDS",
        )
    raise missing
