"""Community forum content: categories, threads, nested replies, edits with history, soft deletes.

Callers pass an ``Actor`` (who is acting and whether they moderate). Every change emits an event
on ``aforo.community.events``; the payload carries ids only, never the text, and always the
``thread_id`` so live ``threadActivity`` subscribers can filter.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy import Integer, Select, bindparam, func, select, text, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.db import records_by_ids, rows_by_ids, utcnow
from aforo.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from aforo.models.forum import Category, Reply, Revision, Thread
from aforo.services import outbox, reputation
from aforo.services.forum_records import THREAD_COLUMNS, CategoryRow, ThreadRow
from aforo.services.markdown import render, slug

TOPIC = "aforo.community.events"
MAX_TITLE, MIN_TITLE = 200, 5
MAX_BODY = 20_000
MAX_TAGS, MAX_TAG = 5, 30
MAX_CATEGORY_DEPTH = 3
# Replies nest at most this deep (top-level replies are depth 0); a reply to a reply at the
# limit attaches to that reply's parent, so the conversation stays readable on a phone.
MAX_REPLY_DEPTH = 3
# A thread page loads its whole reply tree in one statement; past this it is a megatopic.
MAX_TREE_REPLIES = 2000
_TAG = re.compile(r"^[a-z0-9][a-z0-9.+#-]*$")


class ThreadStatus(StrEnum):
    OPEN = "OPEN"
    SOLVED = "SOLVED"
    LOCKED = "LOCKED"


class ThreadOrder(StrEnum):
    LATEST_ACTIVITY = "LATEST_ACTIVITY"
    NEWEST = "NEWEST"
    TOP = "TOP"


@dataclass(frozen=True)
class Actor:
    user_id: uuid.UUID
    moderator: bool = False


# -- validation ---------------------------------------------------------------------------------
def _text(value: str, field: str, *, lo: int, hi: int) -> str:
    value = value.strip()
    if not lo <= len(value) <= hi:
        raise ValidationFailed(f"{field} must be {lo}-{hi} characters", field=field)
    return value


def clean_title(title: str) -> str:
    return _text(title, "title", lo=MIN_TITLE, hi=MAX_TITLE)


def clean_body(body: str) -> str:
    return _text(body, "body", lo=1, hi=MAX_BODY)


def clean_tags(tags: Sequence[str]) -> list[str]:
    out: list[str] = []
    for raw in tags:
        tag = raw.strip().lower()
        if not tag or len(tag) > MAX_TAG or not _TAG.match(tag):
            raise ValidationFailed(
                f"tags are 1-{MAX_TAG} characters: letters, digits and . + # -", field="tags"
            )
        if tag not in out:
            out.append(tag)
    if len(out) > MAX_TAGS:
        raise ValidationFailed(f"at most {MAX_TAGS} tags", field="tags")
    return out


async def _emit(session: AsyncSession, type_: str, payload: dict[str, Any]) -> None:
    await outbox.emit(session, TOPIC, type_, payload)


# -- categories ---------------------------------------------------------------------------------
async def list_categories(session: AsyncSession) -> list[Category]:
    rows = await session.scalars(select(Category).order_by(Category.position, Category.name))
    return list(rows)


async def categories_by_ids(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> list[CategoryRow | None]:
    return await records_by_ids(session, Category.__table__, CategoryRow._make, ids)


async def _category(session: AsyncSession, category_id: uuid.UUID, field: str) -> Category:
    cat = await session.scalar(select(Category).where(Category.id == category_id))
    if cat is None:
        raise NotFound("no such category", field=field)
    return cat


async def _ancestors(session: AsyncSession, category_id: uuid.UUID) -> list[uuid.UUID]:
    """The category and its ancestors, nearest first (bounded: the tree is shallow)."""
    chain: list[uuid.UUID] = []
    current: uuid.UUID | None = category_id
    while current is not None and len(chain) <= MAX_CATEGORY_DEPTH + 1:
        chain.append(current)
        current = await session.scalar(select(Category.parent_id).where(Category.id == current))
    return chain


async def save_category(
    session: AsyncSession,
    *,
    category_id: uuid.UUID | None,
    name: str,
    description: str,
    parent_id: uuid.UUID | None,
    position: int,
) -> Category:
    """Create (no ``category_id``) or update a category; admins only (checked by the schema)."""
    name = _text(name, "name", lo=1, hi=80)
    description = description.strip()
    if len(description) > 500:
        raise ValidationFailed("description must be at most 500 characters", field="description")
    if not -10_000 <= position <= 10_000:
        raise ValidationFailed("position must be between -10000 and 10000", field="position")
    if parent_id is not None:
        await _category(session, parent_id, "parentId")
        chain = await _ancestors(session, parent_id)
        if category_id is not None and category_id in chain:
            raise ValidationFailed("a category cannot be inside itself", field="parentId")
        if len(chain) >= MAX_CATEGORY_DEPTH:
            raise ValidationFailed(
                f"categories nest at most {MAX_CATEGORY_DEPTH} levels", field="parentId"
            )
    if category_id is None:
        cat = Category(tenant_id=session.info["tenant_id"], slug=slug(name)[:80])
        session.add(cat)
        event = "category.created"
    else:
        cat = await _category(session, category_id, "id")
        event = "category.updated"
    cat.name, cat.description, cat.parent_id, cat.position = name, description, parent_id, position
    if category_id is not None:
        cat.slug = slug(name)[:80]
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as e:
        raise Conflict("a category with this name exists", field="name") from e
    await _emit(session, event, {"category_id": cat.id, "parent_id": cat.parent_id})
    return cat


# -- threads ------------------------------------------------------------------------------------
async def get_thread(session: AsyncSession, thread_id: uuid.UUID, *, field: str = "id") -> Thread:
    thread = await session.scalar(select(Thread).where(Thread.id == thread_id))
    if thread is None:
        raise NotFound("no such thread", field=field)
    return thread


async def threads_by_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[Thread | None]:
    return await rows_by_ids(session, Thread, ids)


async def create_thread(
    session: AsyncSession,
    actor: Actor,
    *,
    category_id: uuid.UUID,
    title: str,
    body: str,
    tags: Sequence[str],
) -> Thread:
    await reputation.ensure_can_participate(session, actor.user_id)
    title, body, clean = clean_title(title), clean_body(body), clean_tags(tags)
    await _category(session, category_id, "categoryId")
    thread = Thread(
        tenant_id=session.info["tenant_id"],
        category_id=category_id,
        author_id=actor.user_id,
        title=title,
        body=body,
        body_html=render(body).html,
        tags=clean,
    )
    session.add(thread)
    await session.flush()
    await session.refresh(thread)
    await _emit(
        session,
        "thread.created",
        {
            "thread_id": thread.id,
            "category_id": category_id,
            "author_id": actor.user_id,
            "tags": clean,
        },
    )
    await reputation.count_post(session, actor.user_id, thread=True)  # may award a badge
    return thread


def _may_change(actor: Actor, author_id: uuid.UUID) -> None:
    if not actor.moderator and actor.user_id != author_id:
        raise Forbidden("only the author or a moderator can do this", code="FORBIDDEN")


async def edit_thread(
    session: AsyncSession,
    actor: Actor,
    thread_id: uuid.UUID,
    *,
    title: str | None,
    body: str | None,
    tags: Sequence[str] | None,
    category_id: uuid.UUID | None,
) -> Thread:
    thread = await get_thread(session, thread_id)
    _may_change(actor, thread.author_id)
    await reputation.ensure_can_participate(session, actor.user_id)
    if thread.deleted_at is not None:
        raise DomainError("this thread was removed", field="id", code="REMOVED")
    new_title = clean_title(title) if title is not None else thread.title
    new_body = clean_body(body) if body is not None else thread.body
    if category_id is not None:
        await _category(session, category_id, "categoryId")
        thread.category_id = category_id
    if tags is not None:
        thread.tags = clean_tags(tags)
    if (new_title, new_body) != (thread.title, thread.body):
        session.add(
            Revision(
                tenant_id=thread.tenant_id,
                thread_id=thread.id,
                editor_id=actor.user_id,
                title=thread.title,
                body=thread.body,
            )
        )
        thread.title, thread.body, thread.body_html = new_title, new_body, render(new_body).html
        thread.edited_at = utcnow()
    await session.flush()
    await _emit(session, "thread.edited", {"thread_id": thread.id, "editor_id": actor.user_id})
    return thread


async def delete_thread(session: AsyncSession, actor: Actor, thread_id: uuid.UUID) -> Thread:
    thread = await get_thread(session, thread_id)
    _may_change(actor, thread.author_id)
    if thread.deleted_at is None:
        await set_thread_deleted(session, thread, actor.user_id, deleted=True)
    return thread


async def set_thread_deleted(
    session: AsyncSession, thread: Thread, by: uuid.UUID, *, deleted: bool
) -> None:
    thread.deleted_at, thread.deleted_by = (utcnow(), by) if deleted else (None, None)
    await session.flush()
    await _emit(
        session,
        "thread.deleted" if deleted else "thread.restored",
        {"thread_id": thread.id, "by": by},
    )


async def record_view(session: AsyncSession, thread_id: uuid.UUID) -> int:
    """Count a view atomically; returns the new count."""
    count = await session.scalar(
        update(Thread)
        .where(Thread.id == thread_id)
        .values(view_count=Thread.view_count + 1)
        .returning(Thread.view_count)
        .execution_options(synchronize_session=False)
    )
    return int(count or 0)


# -- listing ------------------------------------------------------------------------------------
def encode_cursor(thread: Thread | ThreadRow, order: ThreadOrder) -> str:
    key: Any
    if order is ThreadOrder.TOP:
        key = thread.score
    elif order is ThreadOrder.NEWEST:
        key = thread.created_at.isoformat()
    else:
        key = thread.last_activity_at.isoformat()
    raw = orjson.dumps([order.value, thread.pinned, key, str(thread.id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, order: ThreadOrder) -> tuple[bool, Any, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        kind, pinned, key, tid = json.loads(base64.urlsafe_b64decode(padded))
        if kind != order.value or not isinstance(pinned, bool):
            raise ValueError(kind)
        value = int(key) if order is ThreadOrder.TOP else datetime.fromisoformat(key)
        return pinned, value, uuid.UUID(tid)
    except (ValueError, TypeError, json.JSONDecodeError) as e:
        raise ValidationFailed("not a cursor of this listing", field="after") from e


@functools.cache
def _listing(
    order: ThreadOrder, by_category: bool, by_status: bool, by_tag: bool, deleted: bool, paged: bool
) -> Select[Any]:
    """The listing statement of one shape, built once: its values are bind parameters."""
    sort = {
        ThreadOrder.LATEST_ACTIVITY: Thread.last_activity_at,
        ThreadOrder.NEWEST: Thread.created_at,
        ThreadOrder.TOP: Thread.score,
    }[order]
    q: Select[Any] = select(*THREAD_COLUMNS)
    if by_category:
        tree = (
            select(Category.id.label("id"))
            .where(Category.id == bindparam("category_id", type_=Category.id.type))
            .cte("tree", recursive=True)
        )
        tree = tree.union_all(select(Category.id).where(Category.parent_id == tree.c.id))
        q = q.where(Thread.category_id.in_(select(tree.c.id)))
    if by_status:
        q = q.where(Thread.status == bindparam("status", type_=Thread.status.type))
    if by_tag:
        q = q.where(Thread.tags.contains(bindparam("tags", type_=Thread.tags.type)))
    if not deleted:
        q = q.where(Thread.deleted_at.is_(None))
    if paged:
        after = tuple_(
            bindparam("after_pinned", type_=Thread.pinned.type),
            bindparam("after_value", type_=sort.type),
            bindparam("after_id", type_=Thread.id.type),
        )
        q = q.where(tuple_(Thread.pinned, sort, Thread.id) < after)
    return q.order_by(Thread.pinned.desc(), sort.desc(), Thread.id.desc()).limit(
        bindparam("limit", type_=Integer())
    )


async def list_threads(
    session: AsyncSession,
    *,
    category_id: uuid.UUID | None,
    status: ThreadStatus | None,
    tag: str | None,
    order: ThreadOrder,
    limit: int,
    after: str | None,
    include_deleted: bool,
) -> tuple[list[ThreadRow], bool]:
    """One page in one statement, newest (or top) first, pinned threads ahead; a category
    includes its sub-categories. Returns the page (result rows) and whether there is more."""
    params: dict[str, Any] = {"limit": limit + 1}
    if category_id is not None:
        params["category_id"] = category_id
    if status is not None:
        params["status"] = status.value
    if tag is not None:
        params["tags"] = [tag.strip().lower()]
    if after is not None:
        pinned, value, tid = _decode_cursor(after, order)
        params.update(after_pinned=pinned, after_value=value, after_id=tid)
    q = _listing(
        order,
        category_id is not None,
        status is not None,
        tag is not None,
        include_deleted,
        after is not None,
    )
    rows = [ThreadRow._make(r) for r in await session.execute(q, params)]
    return rows[:limit], len(rows) > limit


_REPLY_COLUMNS = ", ".join(f"r.{c.name}" for c in Reply.__table__.columns)
# One backward index probe per thread (a LATERAL ... LIMIT 1), however long the threads are.
_LAST_REPLIES = text(
    f"""
    select {_REPLY_COLUMNS} from unnest(cast(:ids as uuid[])) as k(thread_id)
    cross join lateral (
        select * from community_replies r
        where r.thread_id = k.thread_id and r.deleted_at is null
        order by r.created_at desc, r.id desc limit 1
    ) r
    """
)


async def last_replies_by_threads(
    session: AsyncSession, thread_ids: Sequence[uuid.UUID]
) -> list[Reply | None]:
    rows = await session.scalars(
        select(Reply).from_statement(_LAST_REPLIES), {"ids": list(thread_ids)}
    )
    found = {r.thread_id: r for r in rows}
    return [found.get(i) for i in thread_ids]


# -- replies ------------------------------------------------------------------------------------
async def get_reply(session: AsyncSession, reply_id: uuid.UUID, *, field: str = "id") -> Reply:
    reply = await session.scalar(select(Reply).where(Reply.id == reply_id))
    if reply is None:
        raise NotFound("no such reply", field=field)
    return reply


async def replies_by_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[Reply | None]:
    return await rows_by_ids(session, Reply, ids)


async def thread_replies(
    session: AsyncSession, thread_id: uuid.UUID, *, first: int, offset: int = 0
) -> list[Reply]:
    """A page of a thread's top-level replies with all their descendants (at most
    ``MAX_TREE_REPLIES`` in all), oldest first; removed ones included (shown as removed)."""
    page = (
        select(Reply.id)
        .where(Reply.thread_id == thread_id, Reply.parent_reply_id.is_(None))
        .order_by(Reply.created_at, Reply.id)
        .limit(first)
        .offset(offset)
        .cte("page")
    )
    tree = select(page.c.id).cte("tree", recursive=True)
    tree = tree.union_all(select(Reply.id).join(tree, Reply.parent_reply_id == tree.c.id))
    rows = await session.scalars(
        select(Reply)
        .where(Reply.id.in_(select(tree.c.id)))
        .order_by(Reply.created_at, Reply.id)
        .limit(MAX_TREE_REPLIES)
    )
    return list(rows)


async def create_reply(
    session: AsyncSession,
    actor: Actor,
    *,
    thread_id: uuid.UUID,
    parent_reply_id: uuid.UUID | None,
    body: str,
) -> Reply:
    await reputation.ensure_can_participate(session, actor.user_id)
    body = clean_body(body)
    thread = await get_thread(session, thread_id, field="threadId")
    if thread.deleted_at is not None:
        raise DomainError("this thread was removed", field="threadId", code="REMOVED")
    if thread.status == ThreadStatus.LOCKED and not actor.moderator:
        raise DomainError("this thread is locked", field="threadId", code="THREAD_LOCKED")
    depth, parent_id = 0, None
    if parent_reply_id is not None:
        parent = await get_reply(session, parent_reply_id, field="parentReplyId")
        if parent.thread_id != thread_id:
            raise ValidationFailed("that reply is in another thread", field="parentReplyId")
        if parent.deleted_at is not None:
            raise DomainError("that reply was removed", field="parentReplyId", code="REMOVED")
        parent_id, depth = parent.id, parent.depth + 1
        if parent.depth >= MAX_REPLY_DEPTH:
            parent_id, depth = parent.parent_reply_id, parent.depth
    reply = Reply(
        tenant_id=thread.tenant_id,
        thread_id=thread_id,
        parent_reply_id=parent_id,
        depth=depth,
        author_id=actor.user_id,
        body=body,
        body_html=render(body).html,
    )
    session.add(reply)
    await session.flush()
    await session.refresh(reply)
    # Atomic increments: concurrent replies never lose a count.
    await session.execute(
        update(Thread)
        .where(Thread.id == thread_id)
        .values(reply_count=Thread.reply_count + 1, last_activity_at=func.now())
    )
    await _emit(
        session,
        "reply.created",
        {
            "thread_id": thread_id,
            "reply_id": reply.id,
            "parent_reply_id": parent_id,
            "author_id": actor.user_id,
            "depth": depth,
        },
    )
    await reputation.count_post(session, actor.user_id, thread=False)
    return reply


async def edit_reply(session: AsyncSession, actor: Actor, reply_id: uuid.UUID, body: str) -> Reply:
    reply = await get_reply(session, reply_id)
    _may_change(actor, reply.author_id)
    await reputation.ensure_can_participate(session, actor.user_id)
    if reply.deleted_at is not None:
        raise DomainError("this reply was removed", field="id", code="REMOVED")
    body = clean_body(body)
    if body != reply.body:
        session.add(
            Revision(
                tenant_id=reply.tenant_id,
                thread_id=reply.thread_id,
                reply_id=reply.id,
                editor_id=actor.user_id,
                body=reply.body,
            )
        )
        reply.body, reply.body_html, reply.edited_at = body, render(body).html, utcnow()
        await session.flush()
    await _emit(
        session,
        "reply.edited",
        {"thread_id": reply.thread_id, "reply_id": reply.id, "editor_id": actor.user_id},
    )
    return reply


async def delete_reply(session: AsyncSession, actor: Actor, reply_id: uuid.UUID) -> Reply:
    reply = await get_reply(session, reply_id)
    _may_change(actor, reply.author_id)
    if reply.deleted_at is None:
        await set_reply_deleted(session, reply, actor.user_id, deleted=True)
    return reply


async def set_reply_deleted(
    session: AsyncSession, reply: Reply, by: uuid.UUID, *, deleted: bool
) -> None:
    reply.deleted_at, reply.deleted_by = (utcnow(), by) if deleted else (None, None)
    await session.flush()
    await session.execute(
        update(Thread)
        .where(Thread.id == reply.thread_id)
        .values(reply_count=Thread.reply_count + (-1 if deleted else 1))
    )
    await _emit(
        session,
        "reply.deleted" if deleted else "reply.restored",
        {"thread_id": reply.thread_id, "reply_id": reply.id, "by": by},
    )


async def revisions(
    session: AsyncSession,
    thread_id: uuid.UUID,
    reply_id: uuid.UUID | None,
    *,
    first: int = 50,
    offset: int = 0,
) -> list[Revision]:
    """Newest first, a page at a time."""
    q = select(Revision).where(Revision.thread_id == thread_id)
    q = q.where(Revision.reply_id == reply_id if reply_id else Revision.reply_id.is_(None))
    q = q.order_by(Revision.created_at.desc(), Revision.id.desc()).limit(first).offset(offset)
    return list(await session.scalars(q))
