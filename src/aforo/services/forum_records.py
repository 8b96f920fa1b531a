"""The forum's rows as shown: plain named tuples of a table's columns, read by attribute like
the ORM objects they stand for. A page of them costs a fraction of ORM instances (identity map,
instrumentation) and of result rows (whose attribute access goes through a failed lookup);
each is checked against its table at import."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple

from aforo.models.forum import Category, Reply, Thread


class CategoryRow(NamedTuple):
    """A category as shown (the table's columns, by attribute like the ORM object)."""

    tenant_id: uuid.UUID
    id: uuid.UUID
    parent_id: uuid.UUID | None
    name: str
    slug: str
    description: str
    position: int
    created_at: datetime


assert CategoryRow._fields == tuple(c.key for c in Category.__table__.columns)


class ThreadRow(NamedTuple):
    """A listed thread: the table's columns, read by attribute like the ORM object it stands
    for. A page of 100 costs a fraction of ORM instances (identity map, instrumentation) and
    of result rows (whose attribute access goes through a failed lookup first)."""

    tenant_id: uuid.UUID
    id: uuid.UUID
    category_id: uuid.UUID
    author_id: uuid.UUID
    title: str
    body: str
    body_html: str
    tags: list[str]
    status: str
    accepted_reply_id: uuid.UUID | None
    pinned: bool
    view_count: int
    reply_count: int
    score: int
    last_activity_at: datetime
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None
    deleted_by: uuid.UUID | None


class ReplyRow(NamedTuple):
    """A reply as shown (the table's columns, by attribute like the ORM object)."""

    tenant_id: uuid.UUID
    id: uuid.UUID
    thread_id: uuid.UUID
    parent_reply_id: uuid.UUID | None
    depth: int
    author_id: uuid.UUID
    body: str
    body_html: str
    score: int
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None
    deleted_by: uuid.UUID | None


THREAD_COLUMNS = tuple(Thread.__table__.columns)
assert ThreadRow._fields == tuple(c.key for c in THREAD_COLUMNS), "ThreadRow != the table"
assert ReplyRow._fields == tuple(c.key for c in Reply.__table__.columns), "ReplyRow != the table"


def columns_sql(alias: str, row: type[ThreadRow] | type[ReplyRow]) -> str:
    """``row``'s columns of table ``alias`` for a SELECT list, in ``row``'s order (a query
    that returns them after its own columns builds the row from a slice of each result)."""
    return ", ".join(f"{alias}.{name}" for name in row._fields)
