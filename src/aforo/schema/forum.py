"""GraphQL types of the community forum and its per-request dataloaders.

Removed (soft-deleted) threads and replies stay in their place with ``removed: true``; their
title and body are null for everyone but moderators.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.dataloader import DataLoader

from aforo.models import forum as m
from aforo.schema.accounts import User
from aforo.schema.base import AppInfo, UserError, page_size
from aforo.schema.loaders import loaded
from aforo.services import forum, forum_search, reputation
from aforo.services.forum_records import CategoryRow, ReplyRow, ThreadRow
from aforo.tenancy.context import Role

if TYPE_CHECKING:
    from aforo.schema.context import Context

ThreadStatus = strawberry.enum(forum.ThreadStatus, name="ThreadStatus")
ThreadOrder = strawberry.enum(
    forum.ThreadOrder, name="ThreadOrder", description="Pinned threads always come first."
)
ForumTargetType = strawberry.enum(reputation.TargetType, name="ForumTargetType")
BadgeKind = strawberry.enum(reputation.BadgeKind, name="BadgeKind")


class ForumLoaders:
    """Per-request batch loaders for the forum; one statement per kind per resolver tick."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        viewer = ctx.tenant.user_id if ctx.tenant is not None else None

        async def categories(ids: list[uuid.UUID]) -> list[CategoryRow | None]:
            async with ctx.db() as s:
                return await forum.categories_by_ids(s, ids)

        async def threads(ids: list[uuid.UUID]) -> list[m.Thread | None]:
            async with ctx.db() as s:
                return await forum.threads_by_ids(s, ids)

        async def replies(ids: list[uuid.UUID]) -> list[m.Reply | None]:
            async with ctx.db() as s:
                return await forum.replies_by_ids(s, ids)

        async def last_replies(ids: list[uuid.UUID]) -> list[m.Reply | None]:
            async with ctx.db() as s:
                return await forum.last_replies_by_threads(s, ids)

        async def votes(ids: list[uuid.UUID]) -> list[int]:
            if viewer is None:
                return [0] * len(ids)
            async with ctx.db() as s:
                return await reputation.my_votes(s, viewer, ids)

        async def profiles(ids: list[uuid.UUID]) -> list[m.Profile | None]:
            async with ctx.db() as s:
                return await reputation.profiles_by_users(s, ids)

        async def badges(ids: list[uuid.UUID]) -> list[list[m.Badge]]:
            async with ctx.db() as s:
                return await reputation.badges_by_users(s, ids)

        self.category_by_id = DataLoader(categories)
        self.thread_by_id = DataLoader(threads)
        self.reply_by_id = DataLoader(replies)
        self.last_reply_by_thread = DataLoader(last_replies)
        self.my_vote_by_target = DataLoader(votes)
        self.profile_by_user = DataLoader(profiles)
        self.badges_by_user = DataLoader(badges)


def loaders_of(ctx: Context) -> ForumLoaders:
    """The forum's loaders ride on the request's ``Loaders``, so they live exactly as long."""
    base = ctx.loaders
    found = getattr(base, "_forum", None)
    if found is None:
        found = ForumLoaders(ctx)
        base._forum = found  # type: ignore[attr-defined]
    assert isinstance(found, ForumLoaders)
    return found


def loaders(info: AppInfo) -> ForumLoaders:
    return loaders_of(info.context)


def moderates(ctx: Context) -> bool:
    t = ctx.tenant
    return t is not None and t.has(Role.MODERATOR)


def is_moderator(info: AppInfo) -> bool:
    return moderates(info.context)


async def _user(info: AppInfo, user_id: uuid.UUID) -> User | None:
    u = await info.context.loaders.user_by_id.load(user_id)
    return User.of(u) if u is not None else None


def _user_view(_: Context, u: Any) -> User | None:
    return User.of(u) if u is not None else None


def _author(**kw: Any) -> Any:
    """The member who wrote ``parent._row``, through the request's user loader."""
    return loaded(lambda ctx: ctx.loaders.user_by_id, lambda p: p._row.author_id, _user_view, **kw)


@strawberry.type(description="A forum category; categories nest through parentId.")
class ForumCategory:
    id: strawberry.ID
    name: str
    slug: str
    description: str
    position: int
    parent_id: strawberry.ID | None
    created_at: datetime

    @classmethod
    def of(cls, c: m.Category | CategoryRow) -> ForumCategory:
        return cls(
            id=strawberry.ID(str(c.id)),
            name=c.name,
            slug=c.slug,
            description=c.description,
            position=c.position,
            parent_id=strawberry.ID(str(c.parent_id)) if c.parent_id else None,
            created_at=c.created_at,
        )


@strawberry.type(description="A badge on a member's community profile.")
class Badge:
    kind: BadgeKind  # type: ignore[valid-type]
    name: str
    description: str
    awarded_at: datetime


@strawberry.type(description="A member's standing in the community.")
class CommunityProfile:
    user_id: strawberry.ID
    reputation: int
    thread_count: int
    reply_count: int
    accepted_count: int
    is_banned: bool
    _warnings: strawberry.Private[int]

    @strawberry.field(description="Moderators and the member only.")
    def warning_count(self, info: AppInfo) -> int | None:
        t = info.context.tenant
        if is_moderator(info) or (t is not None and str(t.user_id) == self.user_id):
            return self._warnings
        return None

    @strawberry.field
    async def user(self, info: AppInfo) -> User | None:
        return await _user(info, uuid.UUID(self.user_id))

    @strawberry.field
    async def badges(self, info: AppInfo) -> list[Badge]:
        rows = await loaders(info).badges_by_user.load(uuid.UUID(self.user_id))
        out = []
        for b in rows:
            spec = reputation.BADGES[reputation.BadgeKind(b.badge)]
            out.append(
                Badge(
                    kind=spec.kind,
                    name=spec.name,
                    description=spec.description,
                    awarded_at=b.awarded_at,
                )
            )
        return out

    @classmethod
    def of(cls, p: m.Profile | None, user_id: uuid.UUID) -> CommunityProfile:
        return cls(
            user_id=strawberry.ID(str(user_id)),
            reputation=p.reputation if p else 0,
            thread_count=p.thread_count if p else 0,
            reply_count=p.reply_count if p else 0,
            accepted_count=p.accepted_count if p else 0,
            is_banned=p.is_banned if p else False,
            _warnings=p.warning_count if p else 0,
        )


@strawberry.type(description="An earlier version of a thread or reply, kept on each edit.")
class Revision:
    id: strawberry.ID
    title: str | None
    body: str
    created_at: datetime
    _editor_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def editor(self, info: AppInfo) -> User | None:
        return await _user(info, self._editor_id)

    @classmethod
    def of(cls, r: m.Revision) -> Revision:
        return cls(
            id=strawberry.ID(str(r.id)),
            title=r.title,
            body=r.body,
            created_at=r.created_at,
            _editor_id=r.editor_id,
        )


async def _revisions(
    info: AppInfo,
    author_id: uuid.UUID,
    thread_id: uuid.UUID,
    reply_id: uuid.UUID | None,
    first: int | None,
    offset: int,
) -> list[Revision]:
    t = info.context.tenant
    if not (is_moderator(info) or (t is not None and t.user_id == author_id)):
        return []  # history is for the author and moderators
    n = page_size(first)
    async with info.context.db() as s:
        rows = await forum.revisions(s, thread_id, reply_id, first=n, offset=max(0, offset))
    return [Revision.of(r) for r in rows]


CHILD_PAGE = 10


def _child_page(self: Reply, first: int = CHILD_PAGE, offset: int = 0) -> list[Reply]:
    n = page_size(first)
    start = max(0, offset)
    return (self._children or [])[start : start + n]


@strawberry.type(description="A reply; nested under its parent up to a depth limit.")
class Reply:
    id: strawberry.ID
    thread_id: strawberry.ID
    parent_reply_id: strawberry.ID | None
    depth: int
    score: int
    created_at: datetime
    edited_at: datetime | None
    removed: bool
    is_accepted: bool
    body: str | None = strawberry.field(description="Markdown source; null when removed.")
    body_html: str | None = strawberry.field(description="Rendered; null when removed.")
    children: list[Reply] = strawberry.field(
        resolver=_child_page,
        description="Direct replies to this one, oldest first, a page at a time.",
    )
    author: User | None = _author()
    _row: strawberry.Private[m.Reply | ReplyRow | None] = None
    _children: strawberry.Private[list[Reply] | None] = None

    @strawberry.field(description="The signed-in member's vote: 1, -1 or 0.")
    async def my_vote(self, info: AppInfo) -> int:
        return await loaders(info).my_vote_by_target.load(uuid.UUID(self.id))

    @strawberry.field(description="Edit history, newest first: the author and moderators only.")
    async def revisions(
        self, info: AppInfo, first: int | None = None, offset: int = 0
    ) -> list[Revision]:
        assert self._row is not None
        row = self._row
        return await _revisions(info, row.author_id, row.thread_id, row.id, first, offset)

    @classmethod
    def of(cls, r: m.Reply | ReplyRow, moderator: bool, accepted: uuid.UUID | None) -> Reply:
        hidden = r.deleted_at is not None and not moderator
        return cls(
            id=strawberry.ID(str(r.id)),
            thread_id=strawberry.ID(str(r.thread_id)),
            parent_reply_id=strawberry.ID(str(r.parent_reply_id)) if r.parent_reply_id else None,
            depth=r.depth,
            score=r.score,
            created_at=r.created_at,
            edited_at=r.edited_at,
            removed=r.deleted_at is not None,
            is_accepted=accepted == r.id,
            body=None if hidden else r.body,
            body_html=None if hidden else r.body_html,
            _row=r,
        )


def reply_tree(rows: list[m.Reply], moderator: bool, accepted: uuid.UUID | None) -> list[Reply]:
    """Top-level replies with their children nested, oldest first at every level."""
    nodes = {r.id: Reply.of(r, moderator, accepted) for r in rows}
    roots: list[Reply] = []
    for r in rows:
        parent = nodes.get(r.parent_reply_id) if r.parent_reply_id else None
        if parent is None:
            roots.append(nodes[r.id])
        else:
            if parent._children is None:
                parent._children = []
            parent._children.append(nodes[r.id])
    return roots


@strawberry.type(description="A question or discussion in the community forum.")
class Thread:
    id: strawberry.ID
    category_id: strawberry.ID
    status: ThreadStatus  # type: ignore[valid-type]
    pinned: bool
    tags: list[str]
    view_count: int
    reply_count: int
    score: int
    created_at: datetime
    last_activity_at: datetime
    edited_at: datetime | None
    removed: bool
    title: str | None = strawberry.field(description="Null when removed (except to moderators).")
    body: str | None
    body_html: str | None
    accepted_reply_id: strawberry.ID | None
    author: User | None = _author()
    category: ForumCategory | None = loaded(
        lambda ctx: loaders_of(ctx).category_by_id,
        lambda t: t._row.category_id,
        lambda _, c: ForumCategory.of(c) if c else None,
    )
    _row: strawberry.Private[m.Thread | ThreadRow | None] = None
    _moderator: strawberry.Private[bool] = False

    @property
    def _accepted(self) -> uuid.UUID | None:
        return self._row.accepted_reply_id if self._row is not None else None

    @strawberry.field(description="The most recent reply that is not removed.")
    async def last_reply(self, info: AppInfo) -> Reply | None:
        r = await loaders(info).last_reply_by_thread.load(uuid.UUID(self.id))
        return Reply.of(r, self._moderator, self._accepted) if r else None

    @strawberry.field
    async def accepted_reply(self, info: AppInfo) -> Reply | None:
        if self.accepted_reply_id is None:
            return None
        r = await loaders(info).reply_by_id.load(uuid.UUID(self.accepted_reply_id))
        return Reply.of(r, self._moderator, self._accepted) if r else None

    @strawberry.field(description="The signed-in member's vote: 1, -1 or 0.")
    async def my_vote(self, info: AppInfo) -> int:
        return await loaders(info).my_vote_by_target.load(uuid.UUID(self.id))

    @strawberry.field(
        description="The reply tree, a page of top-level replies at a time (oldest first), "
        "each with its children (paged too)."
    )
    async def replies(
        self, info: AppInfo, first: int | None = None, offset: int = 0
    ) -> list[Reply]:
        n = page_size(first)
        async with info.context.db() as s:
            rows = await forum.thread_replies(s, uuid.UUID(self.id), first=n, offset=max(0, offset))
        return reply_tree(rows, self._moderator, self._accepted)

    @strawberry.field(description="Edit history, newest first: the author and moderators only.")
    async def revisions(
        self, info: AppInfo, first: int | None = None, offset: int = 0
    ) -> list[Revision]:
        assert self._row is not None
        return await _revisions(info, self._row.author_id, self._row.id, None, first, offset)

    @classmethod
    def of(cls, t: m.Thread | ThreadRow, moderator: bool) -> Thread:
        hidden = t.deleted_at is not None and not moderator
        return cls(
            id=strawberry.ID(str(t.id)),
            category_id=strawberry.ID(str(t.category_id)),
            status=forum.ThreadStatus(t.status),
            pinned=t.pinned,
            tags=list(t.tags),
            view_count=t.view_count,
            reply_count=t.reply_count,
            score=t.score,
            created_at=t.created_at,
            last_activity_at=t.last_activity_at,
            edited_at=t.edited_at,
            removed=t.deleted_at is not None,
            title=None if hidden else t.title,
            body=None if hidden else t.body,
            body_html=None if hidden else t.body_html,
            accepted_reply_id=strawberry.ID(str(t.accepted_reply_id))
            if t.accepted_reply_id
            else None,
            _row=t,
            _moderator=moderator,
        )


@strawberry.type
class ThreadEdge:
    # Encoded when asked for: most pages want the nodes, and pageInfo the last cursor only.
    cursor: str = strawberry.field(
        resolver=lambda self: forum.encode_cursor(self._row, self._order)
    )
    node: Thread
    _row: strawberry.Private[m.Thread | ThreadRow]
    _order: strawberry.Private[forum.ThreadOrder]


@strawberry.type
class ForumPageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class ThreadConnection:
    edges: list[ThreadEdge]
    page_info: ForumPageInfo


@strawberry.type(description="One search result: a thread and, when a reply matched, that reply.")
class ForumSearchHit:
    rank: float
    title_match: bool = strawberry.field(description="The thread's title matches the query.")
    exact_title: bool
    title_html: str = strawberry.field(description="Escaped title, matches in <mark>.")
    snippet: str = strawberry.field(
        description="The excerpt as plain text (escape it to show it as HTML)."
    )
    snippet_html: str = strawberry.field(description="Escaped excerpt, matches in <mark>.")
    # Read by the search statement itself: no second statement for a page of hits.
    thread: Thread | None = None
    reply: Reply | None = None

    @classmethod
    def of(cls, h: forum_search.SearchHit, moderator: bool) -> ForumSearchHit:
        accepted = h.thread.accepted_reply_id
        return cls(
            rank=h.rank,
            title_match=h.title_match,
            exact_title=h.exact_title,
            title_html=h.title_html,
            snippet=h.snippet,
            snippet_html=h.snippet_html,
            thread=Thread.of(h.thread, moderator),
            reply=Reply.of(h.reply, moderator, accepted) if h.reply is not None else None,
        )


@strawberry.type
class VoteCast:
    target_type: ForumTargetType  # type: ignore[valid-type]
    target_id: strawberry.ID
    thread_id: strawberry.ID
    score: int
    my_vote: int


@strawberry.type(description="Something that happened in a thread, as it happens.")
class ThreadActivity:
    event_id: strawberry.ID
    type: str = strawberry.field(
        description="reply.created, reply.edited, reply.deleted, thread.edited, vote.cast, "
        "answer.accepted, answer.unaccepted, …"
    )
    thread_id: strawberry.ID
    reply_id: strawberry.ID | None
    actor_id: strawberry.ID | None
    value: int | None = strawberry.field(description="vote.cast: the vote, 1, -1 or 0.")
    score: int | None = strawberry.field(description="vote.cast: the target's new score.")
    body_html: str | None = strawberry.field(description="New or edited text, when visible.")
    occurred_at: datetime


@strawberry.input
class CreateThreadInput:
    category_id: strawberry.ID
    title: str
    body: str
    tags: list[str] = strawberry.field(default_factory=list)


@strawberry.input(description="Only the fields given change.")
class EditThreadInput:
    id: strawberry.ID
    title: str | None = None
    body: str | None = None
    tags: list[str] | None = None
    category_id: strawberry.ID | None = None


@strawberry.input(description="Without an id a category is created; with one it is updated.")
class CategoryInput:
    name: str
    id: strawberry.ID | None = None
    description: str = ""
    parent_id: strawberry.ID | None = None
    position: int = 0


ThreadResult = Annotated[Thread | UserError, strawberry.union("ThreadResult")]
ReplyResult = Annotated[Reply | UserError, strawberry.union("ReplyResult")]
VoteResult = Annotated[VoteCast | UserError, strawberry.union("VoteResult")]
CategoryResult = Annotated[ForumCategory | UserError, strawberry.union("CategoryResult")]
