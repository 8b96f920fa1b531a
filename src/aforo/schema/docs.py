from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.dataloader import DataLoader

from aforo.models import docs as m
from aforo.schema.accounts import User
from aforo.schema.base import AppInfo, UserError, page_size, read
from aforo.services import docs, markdown


@strawberry.enum(description="Drafts are seen by staff only; published pages by everyone.")
class DocPageStatus(Enum):
    DRAFT = "DRAFT"
    PUBLISHED = "PUBLISHED"


@strawberry.type(description="A heading of a page, with the anchor its HTML carries.")
class TocEntry:
    level: int
    anchor: str
    _source: strawberry.Private[str]

    @strawberry.field(description="Plain text (markup removed; escape it to show it as HTML).")
    def text(self) -> str:
        return markdown.inline_text(self._source)

    @strawberry.field(description="The heading as safe HTML (raw HTML in it escaped).")
    def text_html(self) -> str:
        return markdown.inline_html(self._source)


class DocsLoaders:
    """Per-request batch loaders of this domain (kept here so the shared module stays small)."""

    def __init__(self, info: AppInfo) -> None:
        ctx = info.context

        async def current(keys: list[tuple[uuid.UUID, int]]) -> list[m.DocPageVersion | None]:
            async with ctx.db() as s:
                return await docs.current_versions(s, keys)

        self.version_by_page: DataLoader[tuple[uuid.UUID, int], m.DocPageVersion | None] = (
            DataLoader(current)
        )

    @staticmethod
    def of(info: AppInfo) -> DocsLoaders:
        # Stored on the request's Context instance: one set per request, gone with it.
        found: DocsLoaders = info.context.__dict__.setdefault("_docs_loaders", DocsLoaders(info))
        return found


@strawberry.type(description="One saved revision of a page.")
class DocPageVersion:
    number: int
    title: str
    markdown: str
    html: str
    created_at: datetime
    _author_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field
    async def author(self, info: AppInfo) -> User | None:
        if self._author_id is None:
            return None
        u = await info.context.loaders.user_by_id.load(self._author_id)
        return User.of(u) if u else None

    @classmethod
    def of(cls, v: m.DocPageVersion) -> DocPageVersion:
        return cls(
            number=v.number,
            title=v.title,
            markdown=v.markdown,
            html=v.html,
            created_at=v.created_at,
            _author_id=v.author_id,
        )


@strawberry.type(description="A guide page. `children` is filled in `docTree`.")
class DocPage:
    id: strawberry.ID
    product_id: strawberry.ID
    parent_id: strawberry.ID | None
    title: str
    slug: str
    status: DocPageStatus
    depth: int
    sort_order: int
    version: int
    markdown: str
    created_at: datetime
    updated_at: datetime
    children: list[DocPage]
    _model: strawberry.Private[m.DocPage]

    async def _current(self, info: AppInfo) -> m.DocPageVersion | None:
        key = (self._model.id, self._model.current_version)
        return await DocsLoaders.of(info).version_by_page.load(key)

    @strawberry.field(description="Rendered once per version (CommonMark, raw HTML off).")
    async def html(self, info: AppInfo) -> str:
        v = await self._current(info)
        return v.html if v else ""

    @strawberry.field
    async def toc(self, info: AppInfo) -> list[TocEntry]:
        v = await self._current(info)
        entries = v.toc if v else []
        return [TocEntry(level=e["level"], anchor=e["anchor"], _source=e["text"]) for e in entries]

    @strawberry.field(description="Root first, this page last.")
    async def breadcrumbs(self, info: AppInfo) -> list[DocPageRef]:
        pages = await read(info, lambda s: docs.breadcrumbs(s, self._model))
        return [DocPageRef(id=strawberry.ID(str(p.id)), title=p.title, slug=p.slug) for p in pages]

    @strawberry.field(description="Every saved revision, newest first, a page at a time (staff).")
    async def versions(
        self, info: AppInfo, first: int | None = None, offset: int = 0
    ) -> list[DocPageVersion]:
        t = info.context.tenant
        if t is None or not t.is_staff:
            return []
        n, start = page_size(first), max(0, offset)
        rows = await read(info, lambda s: docs.versions(s, self._model.id, first=n, offset=start))
        return [DocPageVersion.of(v) for v in rows]

    @classmethod
    def of(cls, p: m.DocPage, children: list[DocPage] | None = None) -> DocPage:
        return cls(
            id=strawberry.ID(str(p.id)),
            product_id=strawberry.ID(str(p.product_id)),
            parent_id=strawberry.ID(str(p.parent_id)) if p.parent_id else None,
            title=p.title,
            slug=p.slug,
            status=DocPageStatus(p.status),
            depth=p.depth,
            sort_order=p.sort_order,
            version=p.current_version,
            markdown=p.markdown,
            created_at=p.created_at,
            updated_at=p.updated_at,
            children=children or [],
            _model=p,
        )


@strawberry.type
class DocPageRef:
    id: strawberry.ID
    title: str
    slug: str


@strawberry.type
class DocSearchHit:
    page: DocPage
    rank: float
    snippet: str = strawberry.field(
        description="Plain text around the matches (escape it to show it as HTML)."
    )
    snippet_html: str = strawberry.field(description="Escaped, the matches in <mark>.")


@strawberry.type
class DocPageDeleted:
    id: strawberry.ID


@strawberry.input
class CreateDocPageInput:
    product_id: strawberry.ID
    title: str
    markdown: str = ""
    slug: str | None = None
    parent_id: strawberry.ID | None = None
    status: DocPageStatus = DocPageStatus.DRAFT
    position: int | None = strawberry.field(
        default=None, description="Among siblings; end if unset."
    )


@strawberry.input
class UpdateDocPageInput:
    id: strawberry.ID
    title: str | None = None
    slug: str | None = None
    markdown: str | None = None
    status: DocPageStatus | None = None


def build_tree(pages: list[m.DocPage]) -> list[DocPage]:
    """Nest the flat, ordered list (parents first) without touching the database."""
    by_id: dict[uuid.UUID, DocPage] = {}
    roots: list[DocPage] = []
    for p in pages:
        node = DocPage.of(p, [])
        by_id[p.id] = node
        if p.parent_id is None:
            roots.append(node)
        elif p.parent_id in by_id:
            by_id[p.parent_id].children.append(node)
    return roots


DocPageResult = Annotated[DocPage | UserError, strawberry.union("DocPageResult")]
DocPageDeletedResult = Annotated[
    DocPageDeleted | UserError, strawberry.union("DocPageDeletedResult")
]
