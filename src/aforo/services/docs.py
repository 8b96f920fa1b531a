"""Guides: a tree of CommonMark pages per product, every save kept as a version."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from aforo.db import utcnow
from aforo.errors import Conflict, NotFound, ValidationFailed
from aforo.models.billing import Product
from aforo.models.docs import DocPage, DocPageVersion
from aforo.services import highlight, markdown

MAX_DEPTH = 3
MAX_MARKDOWN = 512 * 1024
MAX_SEARCH_RESULTS = 50
STATUSES = ("DRAFT", "PUBLISHED")
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class SearchHit:
    page: DocPage
    rank: float
    snippet: str  # plain text
    snippet_html: str  # escaped, matches in <mark>


# -- validation ------------------------------------------------------------------------------
def _title(title: str) -> str:
    title = title.strip()
    if not 1 <= len(title) <= 200:
        raise ValidationFailed("title must be 1-200 characters", field="title")
    return title


def _slug(slug: str) -> str:
    slug = slug.strip().lower()
    if not _SLUG.match(slug) or len(slug) > 100:
        raise ValidationFailed(
            "slug must be 1-100 lowercase letters, digits and single dashes", field="slug"
        )
    return slug


def _markdown(source: str) -> str:
    if len(source.encode()) > MAX_MARKDOWN:
        raise ValidationFailed(f"markdown must be at most {MAX_MARKDOWN} bytes", field="markdown")
    return source.replace("\x00", "")


def _status(status: str) -> str:
    if status not in STATUSES:
        raise ValidationFailed("status must be DRAFT or PUBLISHED", field="status")
    return status


# -- helpers ---------------------------------------------------------------------------------
async def page_by_id(session: AsyncSession, page_id: uuid.UUID, *, lock: bool = False) -> DocPage:
    q = select(DocPage).where(DocPage.id == page_id)
    page = await session.scalar(q.with_for_update() if lock else q)
    if page is None:
        raise NotFound("no page with that id", field="id")
    return page


async def _siblings(
    session: AsyncSession, product_id: uuid.UUID, parent_id: uuid.UUID | None
) -> list[DocPage]:
    parent = DocPage.parent_id.is_(None) if parent_id is None else DocPage.parent_id == parent_id
    rows = await session.scalars(
        select(DocPage)
        .where(DocPage.product_id == product_id, parent)
        .order_by(DocPage.sort_order, DocPage.created_at)
        .with_for_update()
    )
    return list(rows)


async def _check_slug_free(
    session: AsyncSession,
    product_id: uuid.UUID,
    parent_id: uuid.UUID | None,
    slug: str,
    exclude: uuid.UUID | None = None,
) -> None:
    parent = DocPage.parent_id.is_(None) if parent_id is None else DocPage.parent_id == parent_id
    q = select(DocPage.id).where(DocPage.product_id == product_id, parent, DocPage.slug == slug)
    if exclude is not None:
        q = q.where(DocPage.id != exclude)
    if await session.scalar(q) is not None:
        raise Conflict("another page here already uses that slug", field="slug")


def _place(siblings: list[DocPage], page: DocPage, position: int | None) -> None:
    """Insert ``page`` among ``siblings`` at ``position`` (end when None) and renumber."""
    ordered = [s for s in siblings if s.id != page.id]
    at = len(ordered) if position is None else max(0, min(position, len(ordered)))
    ordered.insert(at, page)
    for i, s in enumerate(ordered):
        s.sort_order = i


async def _add_version(
    session: AsyncSession, page: DocPage, author_id: uuid.UUID | None
) -> DocPageVersion:
    rendered = markdown.render(page.markdown)
    version = DocPageVersion(
        tenant_id=page.tenant_id,
        page_id=page.id,
        number=page.current_version,
        title=page.title,
        markdown=page.markdown,
        html=rendered.html,  # rendered once per version: readers never re-render
        toc=[{"level": h.level, "text": h.text, "anchor": h.anchor} for h in rendered.headings],
        author_id=author_id,
    )
    session.add(version)
    await session.flush()
    return version


# -- writes ----------------------------------------------------------------------------------
async def create_page(
    session: AsyncSession,
    *,
    product_id: uuid.UUID,
    title: str,
    markdown_source: str = "",
    slug: str | None = None,
    parent_id: uuid.UUID | None = None,
    status: str = "DRAFT",
    position: int | None = None,
    author_id: uuid.UUID | None = None,
) -> DocPage:
    title = _title(title)
    slug = _slug(slug if slug is not None else markdown.slug(title))
    body = _markdown(markdown_source)
    status = _status(status)
    if await session.scalar(select(Product.id).where(Product.id == product_id)) is None:
        raise NotFound("no product with that id", field="productId")
    depth = 1
    if parent_id is not None:
        parent = await session.scalar(select(DocPage).where(DocPage.id == parent_id))
        if parent is None or parent.product_id != product_id:
            raise NotFound("no page with that id in this product", field="parentId")
        depth = parent.depth + 1
        if depth > MAX_DEPTH:
            raise ValidationFailed(
                f"pages nest at most {MAX_DEPTH} levels deep; this parent is already at level "
                f"{parent.depth}",
                field="parentId",
                code="MAX_DEPTH",
            )
    await _check_slug_free(session, product_id, parent_id, slug)
    siblings = await _siblings(session, product_id, parent_id)
    page = DocPage(
        tenant_id=session.info["tenant_id"],
        id=uuid.uuid4(),
        product_id=product_id,
        parent_id=parent_id,
        depth=depth,
        slug=slug,
        title=title,
        status=status,
        markdown=body,
        current_version=1,
    )
    _place(siblings, page, position)
    session.add(page)
    await session.flush()
    await _add_version(session, page, author_id)
    return page


async def update_page(
    session: AsyncSession,
    page_id: uuid.UUID,
    *,
    title: str | None = None,
    slug: str | None = None,
    markdown_source: str | None = None,
    status: str | None = None,
    author_id: uuid.UUID | None = None,
) -> DocPage:
    page = await page_by_id(session, page_id, lock=True)
    if slug is not None:
        slug = _slug(slug)
        await _check_slug_free(session, page.product_id, page.parent_id, slug, exclude=page.id)
        page.slug = slug
    if title is not None:
        page.title = _title(title)
    if markdown_source is not None:
        page.markdown = _markdown(markdown_source)
    if status is not None:
        page.status = _status(status)
    page.current_version += 1
    page.updated_at = utcnow()
    await session.flush()
    await _add_version(session, page, author_id)
    return page


async def restore_version(
    session: AsyncSession, page_id: uuid.UUID, number: int, author_id: uuid.UUID | None
) -> DocPage:
    """Restoring is a new save with the old title and text: history only ever grows."""
    page = await page_by_id(session, page_id, lock=True)
    old = await session.scalar(
        select(DocPageVersion).where(
            DocPageVersion.page_id == page_id, DocPageVersion.number == number
        )
    )
    if old is None:
        raise NotFound("this page has no such version", field="version")
    page.title = old.title
    page.markdown = old.markdown
    page.current_version += 1
    page.updated_at = utcnow()
    await session.flush()
    await _add_version(session, page, author_id)
    return page


async def _subtree_height(session: AsyncSession, page: DocPage) -> int:
    """Levels below and including ``page`` (1 for a leaf)."""
    deepest = await session.scalar(
        text(
            """with recursive sub(id, d) as (
                 select id, 1 from doc_pages where id = :id
                 union all
                 select c.id, sub.d + 1 from doc_pages c join sub on c.parent_id = sub.id
                 where sub.d < 10)
               select max(d) from sub"""
        ),
        {"id": page.id},
    )
    return int(deepest or 1)


async def move_page(
    session: AsyncSession, page_id: uuid.UUID, parent_id: uuid.UUID | None, position: int
) -> DocPage:
    page = await page_by_id(session, page_id, lock=True)
    if position < 0:
        raise ValidationFailed("position must be 0 or more", field="position")
    new_depth = 1
    if parent_id is not None:
        parent = await session.scalar(select(DocPage).where(DocPage.id == parent_id))
        if parent is None or parent.product_id != page.product_id:
            raise NotFound("no page with that id in this product", field="parentId")
        ancestors = await _ancestor_ids(session, parent.id)
        if page.id in ancestors:
            raise ValidationFailed(
                "a page cannot move under itself or one of its descendants",
                field="parentId",
                code="CYCLE",
            )
        new_depth = parent.depth + 1
    height = await _subtree_height(session, page)
    if new_depth + height - 1 > MAX_DEPTH:
        raise ValidationFailed(
            f"pages nest at most {MAX_DEPTH} levels deep; this move would make "
            f"{new_depth + height - 1}",
            field="parentId",
            code="MAX_DEPTH",
        )
    if parent_id != page.parent_id:
        await _check_slug_free(session, page.product_id, parent_id, page.slug, exclude=page.id)
        old_siblings = await _siblings(session, page.product_id, page.parent_id)
        for i, s in enumerate(x for x in old_siblings if x.id != page.id):
            s.sort_order = i  # close the gap it leaves
    shift = new_depth - page.depth
    page.parent_id = parent_id
    siblings = await _siblings(session, page.product_id, parent_id)
    _place(siblings, page, position)
    page.updated_at = utcnow()
    await session.flush()
    if shift:
        await session.execute(
            text(
                """with recursive sub(id) as (
                     select id from doc_pages where parent_id = :id
                     union all
                     select c.id from doc_pages c join sub on c.parent_id = sub.id)
                   update doc_pages set depth = depth + :shift where id in (select id from sub)"""
            ),
            {"id": page.id, "shift": shift},
        )
        await session.execute(update(DocPage).where(DocPage.id == page.id).values(depth=new_depth))
        await session.refresh(page)
    return page


async def delete_page(session: AsyncSession, page_id: uuid.UUID) -> DocPage:
    """Deletes the page with its sub-pages and all their versions."""
    page = await page_by_id(session, page_id, lock=True)
    await session.delete(page)
    await session.flush()
    return page


# -- reads -----------------------------------------------------------------------------------
async def _ancestor_ids(session: AsyncSession, page_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await session.execute(
        text(
            """with recursive up(id, parent_id, n) as (
                 select id, parent_id, 0 from doc_pages where id = :id
                 union all
                 select p.id, p.parent_id, up.n + 1 from doc_pages p join up on p.id = up.parent_id
                 where up.n < 10)
               select id from up order by n"""
        ),
        {"id": page_id},
    )
    return [r[0] for r in rows]


async def breadcrumbs(session: AsyncSession, page: DocPage) -> list[DocPage]:
    """Root first, the page itself last; one statement."""
    ids = await _ancestor_ids(session, page.id)
    rows = {p.id: p for p in await session.scalars(select(DocPage).where(DocPage.id.in_(ids)))}
    return [rows[i] for i in reversed(ids) if i in rows]


async def tree(
    session: AsyncSession, product_id: uuid.UUID, *, published_only: bool
) -> list[DocPage]:
    """Every page of the product in one statement, parents before children, siblings in order.
    Published-only drops drafts and everything below a draft."""
    rows = list(
        await session.scalars(
            select(DocPage)
            .where(DocPage.product_id == product_id)
            .order_by(DocPage.depth, DocPage.sort_order, DocPage.created_at)
        )
    )
    if not published_only:
        return rows
    visible: set[uuid.UUID] = set()
    out = []
    for p in rows:
        if p.status == "PUBLISHED" and (p.parent_id is None or p.parent_id in visible):
            visible.add(p.id)
            out.append(p)
    return out


async def page_by_path(
    session: AsyncSession, product_id: uuid.UUID, path: str, *, published_only: bool
) -> DocPage:
    """``slug`` alone finds the shallowest page with that slug; ``a/b/c`` walks the tree."""
    parts = [p for p in path.strip("/").split("/") if p]
    if not parts or len(parts) > MAX_DEPTH:
        raise NotFound("no page at that path", field="slug")
    pages = await tree(session, product_id, published_only=published_only)
    if len(parts) == 1:
        for p in pages:
            if p.slug == parts[0]:
                return p
        raise NotFound("no page with that slug", field="slug")
    parent: uuid.UUID | None = None
    found: DocPage | None = None
    for part in parts:
        found = next((p for p in pages if p.parent_id == parent and p.slug == part), None)
        if found is None:
            raise NotFound("no page at that path", field="slug")
        parent = found.id
    assert found is not None
    return found


async def current_versions(
    session: AsyncSession, pages: list[tuple[uuid.UUID, int]]
) -> list[DocPageVersion | None]:
    if not pages:
        return []
    rows = await session.scalars(
        select(DocPageVersion).where(
            func.row(DocPageVersion.page_id, DocPageVersion.number).in_(
                [func.row(p, n) for p, n in pages]
            )
        )
    )
    found = {(v.page_id, v.number): v for v in rows}
    return [found.get(k) for k in pages]


async def versions(
    session: AsyncSession, page_id: uuid.UUID, *, first: int = 50, offset: int = 0
) -> list[DocPageVersion]:
    rows = await session.scalars(
        select(DocPageVersion)
        .where(DocPageVersion.page_id == page_id)
        .order_by(DocPageVersion.number.desc())
        .limit(first)
        .offset(offset)
    )
    return list(rows)


async def search(
    session: AsyncSession, product_id: uuid.UUID, query: str, *, limit: int = 20
) -> list[SearchHit]:
    query = query.strip()
    if not 1 <= len(query) <= 200:
        raise ValidationFailed("query must be 1-200 characters", field="query")
    limit = max(1, min(limit, MAX_SEARCH_RESULTS))
    tsq = func.websearch_to_tsquery("english", query)
    search_col = DocPage.search
    rank = func.ts_rank(search_col, tsq).label("rank")
    snippet = func.ts_headline(
        "english",
        func.translate(DocPage.markdown, func.chr(2).op("||")(func.chr(3)), ""),
        tsq,
        f"MaxFragments=1, MaxWords=30, MinWords=10, {highlight.OPTIONS}",
    ).label("snippet")
    # A published page under a draft is not public either: check both possible ancestors.
    parent, grandparent = aliased(DocPage), aliased(DocPage)
    rows = await session.execute(
        select(DocPage, rank, snippet)
        .outerjoin(parent, parent.id == DocPage.parent_id)
        .outerjoin(grandparent, grandparent.id == parent.parent_id)
        .where(
            DocPage.product_id == product_id,
            DocPage.status == "PUBLISHED",
            search_col.op("@@")(tsq),
            or_(parent.id.is_(None), parent.status == "PUBLISHED"),
            or_(grandparent.id.is_(None), grandparent.status == "PUBLISHED"),
        )
        .order_by(rank.desc(), DocPage.title)
        .limit(limit)
    )
    return [
        SearchHit(p, float(r), highlight.plain(s), highlight.marked_html(s)) for p, r, s in rows
    ]


def toc(version: DocPageVersion) -> list[dict[str, Any]]:
    return list(version.toc)
