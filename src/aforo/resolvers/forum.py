from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.db import tenant_session
from aforo.errors import DomainError, NotFound
from aforo.models.forum import Reply as ReplyRow
from aforo.schema.base import (
    STAFF_ADMIN,
    AppInfo,
    HasTenant,
    IsAuthenticated,
    graphql_error,
    guarded,
    page_size,
    parse_id,
    read,
)
from aforo.schema.forum import (
    CategoryInput,
    CategoryResult,
    CommunityProfile,
    CreateThreadInput,
    EditThreadInput,
    ForumCategory,
    ForumPageInfo,
    ForumSearchHit,
    ForumTargetType,
    Reply,
    ReplyResult,
    Thread,
    ThreadActivity,
    ThreadConnection,
    ThreadEdge,
    ThreadOrder,
    ThreadResult,
    ThreadStatus,
    VoteCast,
    VoteResult,
    is_moderator,
    loaders,
)
from aforo.schema.throttling import Throttled
from aforo.services import forum, forum_search, outbox, reputation
from aforo.tenancy.context import Role

# Events a thread page shows live; the rest of the topic (reports, badges…) is not for it.
ACTIVITY = {
    "reply.created",
    "reply.edited",
    "reply.deleted",
    "reply.restored",
    "thread.edited",
    "thread.deleted",
    "thread.restored",
    "vote.cast",
    "answer.accepted",
    "answer.unaccepted",
    "moderation.action",
}


def _actor(info: AppInfo) -> forum.Actor:
    user_id = info.context.require_user()
    return forum.Actor(user_id, is_moderator(info))


def _optional_id(value: strawberry.ID | None, field: str) -> uuid.UUID | None:
    return parse_id(value, field) if value is not None else None


async def _reply_view(s: AsyncSession, reply: ReplyRow, actor: forum.Actor) -> Reply:
    thread = await forum.get_thread(s, reply.thread_id)
    return Reply.of(reply, actor.moderator, thread.accepted_reply_id)


@strawberry.type
class Query:
    @strawberry.field(permission_classes=[HasTenant], description="All categories, in order.")
    async def categories(self, info: AppInfo) -> list[ForumCategory]:
        return [ForumCategory.of(c) for c in await read(info, forum.list_categories)]

    @strawberry.field(
        permission_classes=[HasTenant],
        description="A page of threads; a category includes its sub-categories. "
        "includeRemoved is honoured for moderators only.",
    )
    async def threads(
        self,
        info: AppInfo,
        category_id: strawberry.ID | None = None,
        status: ThreadStatus | None = None,  # type: ignore[valid-type]
        tag: str | None = None,
        order_by: ThreadOrder = forum.ThreadOrder.LATEST_ACTIVITY,  # type: ignore[valid-type]
        first: int | None = None,
        after: str | None = None,
        include_removed: bool = False,
    ) -> ThreadConnection:
        limit = page_size(first)
        moderator = is_moderator(info)
        order = forum.ThreadOrder(order_by)

        async def go(s: AsyncSession) -> tuple[list[Any], bool]:
            return await forum.list_threads(
                s,
                category_id=_optional_id(category_id, "categoryId"),
                status=forum.ThreadStatus(status) if status is not None else None,
                tag=tag,
                order=order,
                limit=limit,
                after=after,
                include_deleted=include_removed and moderator,
            )

        rows, more = await read(info, go)
        edges = [ThreadEdge(node=Thread.of(t, moderator), _row=t, _order=order) for t in rows]
        return ThreadConnection(
            edges=edges,
            page_info=ForumPageInfo(
                has_next_page=more,
                end_cursor=forum.encode_cursor(rows[-1], order) if rows else None,
            ),
        )

    @strawberry.field(permission_classes=[HasTenant], description="A thread; counts a view.")
    async def thread(self, info: AppInfo, id: strawberry.ID) -> Thread | None:
        async def go(s: AsyncSession) -> Any:
            thread_id = parse_id(id)
            found = (await forum.threads_by_ids(s, [thread_id]))[0]
            if found is not None:
                found.view_count = await forum.record_view(s, thread_id)
            return found

        row = await read(info, go)
        return Thread.of(row, is_moderator(info)) if row is not None else None

    @strawberry.field(
        permission_classes=[HasTenant],
        description='Full-text search in web-search syntax ("quoted phrase", or, -word): '
        "exact title matches first, then title matches, then by rank; at most 50.",
    )
    async def search_forum(
        self, info: AppInfo, query: str, first: int | None = None
    ) -> list[ForumSearchHit]:
        limit = min(page_size(first), forum_search.MAX_RESULTS)
        hits = await read(info, lambda s: forum_search.search(s, query, limit=limit))
        moderator = is_moderator(info)
        return [ForumSearchHit.of(h, moderator) for h in hits]

    @strawberry.field(
        permission_classes=[HasTenant],
        description='The 3 threads most like a draft question, for a "did you mean" box.',
    )
    async def similar_threads(self, info: AppInfo, title: str, body: str = "") -> list[Thread]:
        found = await read(info, lambda s: forum_search.similar_threads(s, title, body))
        moderator = is_moderator(info)
        return [Thread.of(f.thread, moderator) for f in found]

    @strawberry.field(
        permission_classes=[HasTenant],
        description="A member's reputation and badges; the signed-in member's without userId.",
    )
    async def community_profile(
        self, info: AppInfo, user_id: strawberry.ID | None = None
    ) -> CommunityProfile:
        try:
            uid = parse_id(user_id, "userId") if user_id else info.context.require_user()
        except DomainError as e:
            raise graphql_error(e) from e
        # No member of this tenant under that id (another tenant's member, say): not found,
        # rather than an empty profile echoing the id back.
        if user_id and await info.context.loaders.user_by_id.load(uid) is None:
            raise graphql_error(NotFound("no member with that id", field="userId"))
        profile = await loaders(info).profile_by_user.load(uid)
        return CommunityProfile.of(profile, uid)


@strawberry.type
class Mutation:
    @strawberry.mutation(permission_classes=STAFF_ADMIN)
    async def save_category(self, info: AppInfo, input: CategoryInput) -> CategoryResult:
        async def go(s: AsyncSession) -> ForumCategory:
            cat = await forum.save_category(
                s,
                category_id=_optional_id(input.id, "id"),
                name=input.name,
                description=input.description,
                parent_id=_optional_id(input.parent_id, "parentId"),
                position=input.position,
            )
            return ForumCategory.of(cat)

        return await guarded(info, go)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated], extensions=[Throttled("forum.write", by="account")]
    )
    async def create_thread(self, info: AppInfo, input: CreateThreadInput) -> ThreadResult:
        async def go(s: AsyncSession) -> Thread:
            actor = _actor(info)
            t = await forum.create_thread(
                s,
                actor,
                category_id=parse_id(input.category_id, "categoryId"),
                title=input.title,
                body=input.body,
                tags=input.tags,
            )
            return Thread.of(t, actor.moderator)

        return await guarded(info, go)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated], extensions=[Throttled("forum.write", by="account")]
    )
    async def edit_thread(self, info: AppInfo, input: EditThreadInput) -> ThreadResult:
        async def go(s: AsyncSession) -> Thread:
            actor = _actor(info)
            t = await forum.edit_thread(
                s,
                actor,
                parse_id(input.id),
                title=input.title,
                body=input.body,
                tags=input.tags,
                category_id=_optional_id(input.category_id, "categoryId"),
            )
            return Thread.of(t, actor.moderator)

        return await guarded(info, go)

    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Author or moderator.")
    async def delete_thread(self, info: AppInfo, id: strawberry.ID) -> ThreadResult:
        async def go(s: AsyncSession) -> Thread:
            actor = _actor(info)
            return Thread.of(await forum.delete_thread(s, actor, parse_id(id)), actor.moderator)

        return await guarded(info, go)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        extensions=[Throttled("forum.write", by="account")],
        description="Reply to a thread, or to a reply (parentReplyId). Past the depth limit the "
        "reply attaches to the deepest allowed parent.",
    )
    async def reply(
        self,
        info: AppInfo,
        thread_id: strawberry.ID,
        body: str,
        parent_reply_id: strawberry.ID | None = None,
    ) -> ReplyResult:
        async def go(s: AsyncSession) -> Reply:
            actor = _actor(info)
            r = await forum.create_reply(
                s,
                actor,
                thread_id=parse_id(thread_id, "threadId"),
                parent_reply_id=_optional_id(parent_reply_id, "parentReplyId"),
                body=body,
            )
            return Reply.of(r, actor.moderator, None)

        return await guarded(info, go)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated], extensions=[Throttled("forum.write", by="account")]
    )
    async def edit_reply(self, info: AppInfo, id: strawberry.ID, body: str) -> ReplyResult:
        async def go(s: AsyncSession) -> Reply:
            actor = _actor(info)
            return await _reply_view(s, await forum.edit_reply(s, actor, parse_id(id), body), actor)

        return await guarded(info, go)

    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Author or moderator.")
    async def delete_reply(self, info: AppInfo, id: strawberry.ID) -> ReplyResult:
        async def go(s: AsyncSession) -> Reply:
            actor = _actor(info)
            return await _reply_view(s, await forum.delete_reply(s, actor, parse_id(id)), actor)

        return await guarded(info, go)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="value: 1 up, -1 down, 0 withdraws. One vote per member per target.",
    )
    async def vote(
        self,
        info: AppInfo,
        target_type: ForumTargetType,  # type: ignore[valid-type]
        target_id: strawberry.ID,
        value: int,
    ) -> VoteResult:
        async def go(s: AsyncSession) -> VoteCast:
            user_id = info.context.require_user()
            out = await reputation.vote(
                s,
                user_id,
                reputation.TargetType(target_type),
                parse_id(target_id, "targetId"),
                value,
            )
            return VoteCast(
                target_type=out.target_type,
                target_id=strawberry.ID(str(out.target_id)),
                thread_id=strawberry.ID(str(out.thread_id)),
                score=out.score,
                my_vote=out.my_vote,
            )

        return await guarded(info, go)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="The thread's author or a moderator; marks the thread SOLVED.",
    )
    async def accept_answer(self, info: AppInfo, reply_id: strawberry.ID) -> ThreadResult:
        async def go(s: AsyncSession) -> Thread:
            actor = _actor(info)
            t = await reputation.accept_answer(
                s, actor.user_id, parse_id(reply_id, "replyId"), moderator=actor.moderator
            )
            return Thread.of(t, actor.moderator)

        return await guarded(info, go)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def unaccept_answer(self, info: AppInfo, thread_id: strawberry.ID) -> ThreadResult:
        async def go(s: AsyncSession) -> Thread:
            actor = _actor(info)
            t = await reputation.unaccept_answer(
                s, actor.user_id, parse_id(thread_id, "threadId"), moderator=actor.moderator
            )
            return Thread.of(t, actor.moderator)

        return await guarded(info, go)


def _uuid_or_none(value: Any) -> strawberry.ID | None:
    return strawberry.ID(str(value)) if value else None


@strawberry.type
class Subscription:
    @strawberry.subscription(
        permission_classes=[HasTenant],
        description="New replies, edits, votes and accepted answers in one thread, live.",
    )
    async def thread_activity(
        self, info: AppInfo, thread_id: strawberry.ID
    ) -> AsyncGenerator[ThreadActivity, None]:
        # A subscription outlives any request transaction: it never touches ctx.db(), and
        # loads what it needs in short sessions of its own.
        tenant = info.context.require_tenant()
        runtime = info.context.runtime
        moderator = tenant.has(Role.MODERATOR)
        try:
            tid = parse_id(thread_id, "threadId")
            async with tenant_session(runtime.maker, tenant.tenant_id) as s:
                await forum.get_thread(s, tid, field="threadId")
        except DomainError as e:
            raise graphql_error(e) from e
        channel = outbox.channel(tenant.tenant_id, forum.TOPIC)
        async with runtime.bus.subscribe(channel) as messages:
            async for raw in messages:
                event = json.loads(raw)
                payload: dict[str, Any] = event.get("payload", {})
                if event.get("type") not in ACTIVITY or payload.get("thread_id") != str(tid):
                    continue
                body_html = await _visible_html(runtime.maker, tenant.tenant_id, event, moderator)
                yield ThreadActivity(
                    event_id=strawberry.ID(event["id"]),
                    type=event["type"],
                    thread_id=strawberry.ID(str(tid)),
                    reply_id=_uuid_or_none(
                        payload.get("reply_id")
                        or (
                            payload.get("target_id")
                            if payload.get("target_type") == "REPLY"
                            else None
                        )
                    ),
                    actor_id=_uuid_or_none(
                        payload.get("author_id")
                        or payload.get("editor_id")
                        or payload.get("voter_id")
                        or payload.get("by")
                        or payload.get("moderator_id")
                    ),
                    value=payload.get("value"),
                    score=payload.get("score"),
                    body_html=body_html,
                    occurred_at=datetime.fromisoformat(event["occurred_at"]),
                )


async def _visible_html(
    maker: Any, tenant_id: uuid.UUID, event: dict[str, Any], moderator: bool
) -> str | None:
    kind, payload = event["type"], event["payload"]
    if kind not in ("reply.created", "reply.edited", "thread.edited"):
        return None
    async with tenant_session(maker, tenant_id) as s:
        if kind == "thread.edited":
            rows: list[Any] = await forum.threads_by_ids(s, [uuid.UUID(payload["thread_id"])])
        else:
            rows = await forum.replies_by_ids(s, [uuid.UUID(payload["reply_id"])])
    row = rows[0]
    if row is None or (row.deleted_at is not None and not moderator):
        return None
    html: str = row.body_html
    return html
