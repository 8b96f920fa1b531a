"""Teams: a developer creates one, invites members by email (an expiring, revocable link),
gives them roles (OWNER, ADMIN, BILLING, MEMBER; what each may do is ``ownership.MATRIX``),
removes them, hands ownership over, deletes it (cancelling its subscriptions, which revokes
their keys, in the same transaction)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.db import utcnow
from aforo.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from aforo.models.accounts import User
from aforo.models.api_keys import ApiKey
from aforo.models.billing import Subscription
from aforo.models.teams import Team, TeamInvitation, TeamMember
from aforo.services import account_settings, accounts, billing, mail, outbox, verification
from aforo.services.mail import Kind
from aforo.services.ownership import MATRIX, Capability, TeamRole, team_role

TOPIC = "aforo.accounts.events"
INVITATION_LIFETIME = timedelta(days=7)
MAX_PENDING_INVITATIONS = 100
MAX_TEAMS_PER_USER = 50
ROLE_LABELS = {"ADMIN": "an admin", "BILLING": "a billing manager", "MEMBER": "a member"}


def _name(value: str) -> str:
    value = value.strip()
    if not value or len(value) > 200 or any(ord(c) < 32 for c in value):
        raise ValidationFailed("1-200 characters, no control characters", field="name")
    return value


def _missing() -> NotFound:
    return NotFound("no team with that id", field="teamId")


async def _team(
    session: AsyncSession, actor: uuid.UUID, team_id: uuid.UUID, cap: Capability
) -> tuple[Team, TeamRole]:
    """The live team, if ``actor`` is a member holding ``cap`` (outsiders: NOT_FOUND)."""
    team = await session.scalar(
        select(Team).where(Team.id == team_id, Team.deleted_at.is_(None)).with_for_update()
    )
    role = await team_role(session, actor, team_id) if team else None
    if team is None or role is None:
        raise _missing()
    if cap not in MATRIX[role]:
        raise Forbidden(
            f"your team role ({role.value}) does not allow this", code="TEAM_ROLE_FORBIDS"
        )
    return team, role


async def create_team(session: AsyncSession, actor: uuid.UUID, name: str) -> Team:
    await account_settings.require_verified(session, actor)
    name = _name(name)
    owned = await session.scalar(
        select(TeamMember.team_id)
        .join(Team, Team.id == TeamMember.team_id)
        .where(TeamMember.user_id == actor, Team.deleted_at.is_(None))
        .offset(MAX_TEAMS_PER_USER - 1)
        .limit(1)
    )
    if owned is not None:
        raise Conflict(f"at most {MAX_TEAMS_PER_USER} teams per account", field="name")
    team = Team(tenant_id=session.info["tenant_id"], id=uuid.uuid4(), name=name, created_by=actor)
    session.add(team)
    await session.flush()
    session.add(TeamMember(tenant_id=team.tenant_id, team_id=team.id, user_id=actor, role="OWNER"))
    await session.flush()
    await session.refresh(team)
    await outbox.emit(session, TOPIC, "team.created", {"team_id": team.id, "owner_id": actor})
    return team


async def my_teams(session: AsyncSession, actor: uuid.UUID) -> list[tuple[Team, str]]:
    rows = await session.execute(
        select(Team, TeamMember.role)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.user_id == actor, Team.deleted_at.is_(None))
        .order_by(Team.created_at, Team.id)
    )
    return [(t, r) for t, r in rows]


async def get_team(session: AsyncSession, actor: uuid.UUID, team_id: uuid.UUID) -> Team:
    team = await session.scalar(select(Team).where(Team.id == team_id, Team.deleted_at.is_(None)))
    if team is None or await team_role(session, actor, team_id) is None:
        raise NotFound("no team with that id", field="id")
    return team


@dataclass(frozen=True)
class Member:
    user: User
    role: str
    joined_at: datetime


PER_TEAM = 200  # nested lists of a team are capped (newest first)


async def _newest_by_team(session: AsyncSession, model: Any, ids: list[uuid.UUID]) -> Any:
    """``model`` rows of the teams ``ids``, newest first, at most ``PER_TEAM`` per team,
    grouped in key order (one statement)."""
    order = (model.created_at.desc(), model.id)
    rank = func.row_number().over(partition_by=model.team_id, order_by=order).label("rank")
    inner = select(model.id, rank).where(model.team_id.in_(ids)).subquery()
    rows = await session.scalars(
        select(model)
        .join(inner, inner.c.id == model.id)
        .where(inner.c.rank <= PER_TEAM)
        .order_by(*order)
    )
    out: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for row in rows:
        out[row.team_id].append(row)
    return [out.get(i, []) for i in ids]


async def members_by_team_ids(session: AsyncSession, ids: list[uuid.UUID]) -> list[list[Member]]:
    """Batch for the ``members_by_team_id`` dataloader, in key order."""
    rows = await session.execute(
        select(TeamMember.team_id, User, TeamMember.role, TeamMember.created_at)
        .join(User, User.id == TeamMember.user_id)
        .where(TeamMember.team_id.in_(ids))
        .order_by(TeamMember.created_at, User.id)
    )
    out: dict[uuid.UUID, list[Member]] = defaultdict(list)
    for team_id, user, role, joined in rows:
        out[team_id].append(Member(user, role, joined))
    return [out.get(i, []) for i in ids]


async def invitations_by_team_ids(
    session: AsyncSession, ids: list[uuid.UUID]
) -> list[list[TeamInvitation]]:
    result: list[list[TeamInvitation]] = await _newest_by_team(session, TeamInvitation, ids)
    return result


async def subscriptions_by_team_ids(
    session: AsyncSession, ids: list[uuid.UUID]
) -> list[list[Subscription]]:
    result: list[list[Subscription]] = await _newest_by_team(session, Subscription, ids)
    return result


async def keys_by_team_ids(session: AsyncSession, ids: list[uuid.UUID]) -> list[list[ApiKey]]:
    result: list[list[ApiKey]] = await _newest_by_team(session, ApiKey, ids)
    return result


def _assignable(actor_role: TeamRole, role: str) -> TeamRole:
    try:
        wanted = TeamRole(role)
    except ValueError as e:
        raise ValidationFailed("ADMIN, BILLING or MEMBER", field="role") from e
    if wanted is TeamRole.OWNER:
        raise ValidationFailed(
            "there is one owner; use transferTeamOwnership to change it", field="role"
        )
    return wanted


async def invite(
    session: AsyncSession, actor: uuid.UUID, team_id: uuid.UUID, *, email: str, role: str
) -> TeamInvitation:
    await account_settings.require_verified(session, actor)
    team, actor_role = await _team(session, actor, team_id, Capability.MANAGE_MEMBERS)
    wanted = _assignable(actor_role, role)
    email = accounts.normalize_email(email)
    accounts.validate_email(email)
    already = await session.scalar(
        select(TeamMember.user_id)
        .join(User, User.id == TeamMember.user_id)
        .where(TeamMember.team_id == team.id, User.email == email)
    )
    if already is not None:
        raise Conflict("that address is a member already", field="email")
    now = utcnow()
    open_ = (TeamInvitation.accepted_at.is_(None)) & (TeamInvitation.revoked_at.is_(None))
    pending = list(
        await session.scalars(
            select(TeamInvitation.id).where(
                TeamInvitation.team_id == team.id, open_, TeamInvitation.expires_at > now
            )
        )
    )
    if len(pending) >= MAX_PENDING_INVITATIONS:
        raise Conflict(f"at most {MAX_PENDING_INVITATIONS} open invitations", field="email")
    # A new invitation to the same address replaces the open one (its link stops working).
    await session.execute(
        update(TeamInvitation)
        .where(TeamInvitation.team_id == team.id, TeamInvitation.email == email, open_)
        .values(revoked_at=now)
    )
    inv = TeamInvitation(
        tenant_id=team.tenant_id,
        id=uuid.uuid4(),
        team_id=team.id,
        email=email,
        role=wanted.value,
        invited_by=actor,
        created_at=now,
        expires_at=now + INVITATION_LIFETIME,
    )
    session.add(inv)
    await session.flush()
    inviter = await session.scalar(select(User.name).where(User.id == actor))
    await mail.queue(
        session,
        Kind.TEAM_INVITATION,
        to=email,
        user_id=None,
        params={
            "invitation_id": str(inv.id),
            "team_name": team.name,
            "inviter_name": inviter or "A teammate",
            "role_label": ROLE_LABELS[wanted.value],
        },
    )
    await outbox.emit(session, TOPIC, "team.invited", {"team_id": team.id, "invitation_id": inv.id})
    return inv


async def revoke_invitation(
    session: AsyncSession, actor: uuid.UUID, invitation_id: uuid.UUID
) -> TeamInvitation:
    inv = await session.scalar(select(TeamInvitation).where(TeamInvitation.id == invitation_id))
    if inv is None:
        raise NotFound("no invitation with that id", field="id")
    try:
        await _team(session, actor, inv.team_id, Capability.MANAGE_MEMBERS)
    except NotFound as e:
        raise NotFound("no invitation with that id", field="id") from e
    if inv.accepted_at or inv.revoked_at:
        raise Conflict("this invitation is no longer open", field="id")
    inv.revoked_at = utcnow()
    await session.flush()
    return inv


async def accept(session: AsyncSession, actor: uuid.UUID, raw: str) -> Team:
    """Join with the mailed link, signed in as the account of the invited address."""
    token = await verification.consume(session, raw, verification.TEAM_INVITATION)
    inv = await session.scalar(
        select(TeamInvitation).where(TeamInvitation.id == token.invitation_id).with_for_update()
    )
    now = utcnow()
    if inv is None or inv.revoked_at or inv.accepted_at or inv.expires_at <= now:
        raise DomainError(
            "this invitation was revoked, used or has expired", field="token", code="INVALID_TOKEN"
        )
    user = await session.scalar(select(User).where(User.id == actor).with_for_update())
    assert user is not None
    if user.email != inv.email:
        raise Forbidden(
            "this invitation is for another address: sign in with the invited one",
            field="token",
            code="INVITATION_FOR_ANOTHER_ADDRESS",
        )
    team = await session.scalar(select(Team).where(Team.id == inv.team_id))
    if team is None or team.deleted_at is not None:
        raise DomainError("this team was deleted", field="token", code="INVALID_TOKEN")
    if await team_role(session, actor, team.id) is not None:
        raise Conflict("you are a member already", field="token")
    user.email_verified_at = user.email_verified_at or now  # the link reached this mailbox
    inv.accepted_at, inv.accepted_by = now, actor
    session.add(TeamMember(tenant_id=team.tenant_id, team_id=team.id, user_id=actor, role=inv.role))
    await session.flush()
    await outbox.emit(
        session,
        TOPIC,
        "team.member_added",
        {"team_id": team.id, "user_id": actor, "role": inv.role},
    )
    return team


async def _member_row(session: AsyncSession, team_id: uuid.UUID, user_id: uuid.UUID) -> TeamMember:
    row = await session.scalar(
        select(TeamMember).where(TeamMember.team_id == team_id, TeamMember.user_id == user_id)
    )
    if row is None:
        raise NotFound("no such member of this team", field="userId")
    return row


async def set_role(
    session: AsyncSession, actor: uuid.UUID, team_id: uuid.UUID, user_id: uuid.UUID, role: str
) -> TeamMember:
    _, actor_role = await _team(session, actor, team_id, Capability.MANAGE_MEMBERS)
    wanted = _assignable(actor_role, role)
    row = await _member_row(session, team_id, user_id)
    if row.role == TeamRole.OWNER.value:
        raise Forbidden("the owner's role changes only by a transfer", code="TEAM_ROLE_FORBIDS")
    row.role = wanted.value
    await session.flush()
    await outbox.emit(
        session, TOPIC, "team.role_changed", {"team_id": team_id, "user_id": user_id, "role": role}
    )
    return row


async def remove_member(
    session: AsyncSession, actor: uuid.UUID, team_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """Remove a member (or leave, for oneself). Access ends with this transaction: every
    read of team resources checks membership as it runs."""
    cap = Capability.VIEW_TEAM if actor == user_id else Capability.MANAGE_MEMBERS
    await _team(session, actor, team_id, cap)
    row = await _member_row(session, team_id, user_id)
    if row.role == TeamRole.OWNER.value:
        raise Conflict(
            "the owner cannot leave or be removed: transfer ownership or delete the team",
            field="userId",
        )
    await session.execute(
        delete(TeamMember).where(TeamMember.team_id == team_id, TeamMember.user_id == user_id)
    )
    await outbox.emit(
        session, TOPIC, "team.member_removed", {"team_id": team_id, "user_id": user_id}
    )


async def transfer(
    session: AsyncSession, actor: uuid.UUID, team_id: uuid.UUID, user_id: uuid.UUID
) -> Team:
    team, _ = await _team(session, actor, team_id, Capability.TRANSFER)
    if user_id == actor:
        raise ValidationFailed("you own this team already", field="userId")
    target = await _member_row(session, team_id, user_id)
    me = await _member_row(session, team_id, actor)
    # The old owner steps down first: one owner at any moment (a unique index says so).
    me.role = TeamRole.ADMIN.value
    await session.flush()
    target.role = TeamRole.OWNER.value
    await session.flush()
    await outbox.emit(
        session, TOPIC, "team.ownership_transferred", {"team_id": team_id, "owner_id": user_id}
    )
    return team


@dataclass(frozen=True)
class Deleted:
    team: Team
    cancelled: int  # subscriptions
    revoked_keys: list[ApiKey]  # for cache invalidation once committed


async def delete_team(session: AsyncSession, actor: uuid.UUID, team_id: uuid.UUID) -> Deleted:
    """Cancel every active subscription of the team (revoking its keys), end memberships and
    open invitations, and mark the team deleted: one transaction."""
    team, _ = await _team(session, actor, team_id, Capability.DELETE)
    revoked: list[ApiKey] = []
    active_ids = list(
        await session.scalars(
            select(Subscription.id).where(
                Subscription.team_id == team.id, Subscription.status == "ACTIVE"
            )
        )
    )
    for sub_id in active_ids:
        done = await billing.cancel_subscription(session, sub_id, actor_id=actor, as_admin=True)
        revoked += done.revoked_keys
    now = utcnow()
    await session.execute(
        update(TeamInvitation)
        .where(
            TeamInvitation.team_id == team.id,
            TeamInvitation.accepted_at.is_(None),
            TeamInvitation.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    await session.execute(delete(TeamMember).where(TeamMember.team_id == team.id))
    team.deleted_at = now
    await session.flush()
    await outbox.emit(
        session,
        TOPIC,
        "team.deleted",
        {"team_id": team.id, "revoked_key_ids": [k.id for k in revoked]},
    )
    return Deleted(team, len(active_ids), revoked)
