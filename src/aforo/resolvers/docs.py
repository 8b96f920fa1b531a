from __future__ import annotations

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.errors import DomainError
from aforo.schema.base import (
    STAFF_ADMIN,
    AppInfo,
    HasTenant,
    graphql_error,
    guarded,
    parse_id,
    read,
)
from aforo.schema.docs import (
    CreateDocPageInput,
    DocPage,
    DocPageDeleted,
    DocPageDeletedResult,
    DocPageResult,
    DocSearchHit,
    DocsLoaders,
    UpdateDocPageInput,
    build_tree,
)
from aforo.services import docs
from aforo.tenancy.context import Role


def _published_only(info: AppInfo) -> bool:
    """Storefront visitors and developers see published pages; admins see drafts too."""
    t = info.context.tenant
    return t is None or not t.has(Role.ADMIN)


@strawberry.type
class Query:
    @strawberry.field(
        permission_classes=[HasTenant],
        description="A product's whole guide tree in one statement; roots in order.",
    )
    async def doc_tree(self, info: AppInfo, product_id: strawberry.ID) -> list[DocPage]:
        pid = parse_id(product_id, "productId")
        pages = await read(info, lambda s: docs.tree(s, pid, published_only=_published_only(info)))
        # Every page's current version in one more statement, primed into the loader, so html
        # and toc cost nothing per page or per level.
        keys = [(p.id, p.current_version) for p in pages]
        versions = await read(info, lambda s: docs.current_versions(s, keys))
        DocsLoaders.of(info).version_by_page.prime_many(dict(zip(keys, versions, strict=True)))
        return build_tree(pages)

    @strawberry.field(
        permission_classes=[HasTenant],
        description="A page by slug, or by slug path such as `guides/auth/tokens`.",
    )
    async def doc_page(self, info: AppInfo, product_id: strawberry.ID, slug: str) -> DocPage:
        pid = parse_id(product_id, "productId")
        page = await read(
            info,
            lambda s: docs.page_by_path(s, pid, slug, published_only=_published_only(info)),
        )
        return DocPage.of(page)

    @strawberry.field(
        permission_classes=[HasTenant],
        description="Full-text search over a product's published pages (title above body).",
    )
    async def search_docs(
        self, info: AppInfo, product_id: strawberry.ID, query: str, first: int = 20
    ) -> list[DocSearchHit]:
        if not 1 <= first <= docs.MAX_SEARCH_RESULTS:  # refused, not silently clamped
            raise graphql_error(
                DomainError(f"first must be between 1 and {docs.MAX_SEARCH_RESULTS}", field="first")
            )
        pid = parse_id(product_id, "productId")
        hits = await read(info, lambda s: docs.search(s, pid, query, limit=first))
        return [
            DocSearchHit(
                page=DocPage.of(h.page), rank=h.rank, snippet=h.snippet, snippet_html=h.snippet_html
            )
            for h in hits
        ]


@strawberry.type
class Mutation:
    @strawberry.mutation(permission_classes=STAFF_ADMIN)
    async def create_doc_page(self, info: AppInfo, input: CreateDocPageInput) -> DocPageResult:
        async def go(s: AsyncSession) -> DocPage:
            page = await docs.create_page(
                s,
                product_id=parse_id(input.product_id, "productId"),
                parent_id=parse_id(input.parent_id, "parentId") if input.parent_id else None,
                title=input.title,
                slug=input.slug,
                markdown_source=input.markdown,
                status=input.status.value,
                position=input.position,
                author_id=info.context.tenant.user_id if info.context.tenant else None,
            )
            return DocPage.of(page)

        return await guarded(info, go)

    @strawberry.mutation(
        permission_classes=STAFF_ADMIN, description="Every save becomes a new version."
    )
    async def update_doc_page(self, info: AppInfo, input: UpdateDocPageInput) -> DocPageResult:
        async def go(s: AsyncSession) -> DocPage:
            page = await docs.update_page(
                s,
                parse_id(input.id),
                title=input.title,
                slug=input.slug,
                markdown_source=input.markdown,
                status=input.status.value if input.status else None,
                author_id=info.context.tenant.user_id if info.context.tenant else None,
            )
            return DocPage.of(page)

        return await guarded(info, go)

    @strawberry.mutation(
        permission_classes=STAFF_ADMIN,
        description="Re-parent (parentId null: top level) and/or reorder among siblings.",
    )
    async def move_doc_page(
        self,
        info: AppInfo,
        id: strawberry.ID,
        *,
        parent_id: strawberry.ID | None = None,  # optional in the schema: may be omitted
        position: int,
    ) -> DocPageResult:
        async def go(s: AsyncSession) -> DocPage:
            parent = parse_id(parent_id, "parentId") if parent_id else None
            return DocPage.of(await docs.move_page(s, parse_id(id), parent, position))

        return await guarded(info, go)

    @strawberry.mutation(
        permission_classes=STAFF_ADMIN, description="Deletes the page and its sub-pages."
    )
    async def delete_doc_page(self, info: AppInfo, id: strawberry.ID) -> DocPageDeletedResult:
        async def go(s: AsyncSession) -> DocPageDeleted:
            page = await docs.delete_page(s, parse_id(id))
            return DocPageDeleted(id=strawberry.ID(str(page.id)))

        return await guarded(info, go)

    @strawberry.mutation(
        permission_classes=STAFF_ADMIN,
        description="Saves an old version's title and text as the newest version.",
    )
    async def restore_doc_page_version(
        self, info: AppInfo, id: strawberry.ID, version: int
    ) -> DocPageResult:
        async def go(s: AsyncSession) -> DocPage:
            author = info.context.tenant.user_id if info.context.tenant else None
            return DocPage.of(await docs.restore_version(s, parse_id(id), version, author))

        return await guarded(info, go)
