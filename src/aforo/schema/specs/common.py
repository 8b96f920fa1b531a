"""Shared pieces of the specs schema: per-request loaders, the schema expander, HTML."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from enum import Enum
from typing import Any, cast

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON

from aforo.models import specs as m
from aforo.schema.base import AppInfo
from aforo.services import markdown, specs
from aforo.services.spec_import import schemas

MAX_CLOSURE = 400  # components a code sample may load


def as_json(value: Any) -> JSON:
    return cast(JSON, value)


@functools.lru_cache(maxsize=8192)
def html(source: str) -> str:
    """Markdown as safe HTML (the shared renderer: CommonMark, raw HTML off, safe links)."""
    return markdown.render(source).html if source else ""


def _html_hook(node: dict[str, Any]) -> None:
    description = node.get("description")
    if isinstance(description, str) and description:
        node["x-description-html"] = html(description)


@strawberry.type
class Described:
    """A type with a Markdown description also gives it as safe HTML."""

    description: str

    @strawberry.field(description="The description as safe HTML (the shared renderer)")
    def description_html(self) -> str:
        return html(self.description)


@strawberry.enum
class SpecFormat(Enum):
    OPENAPI_3 = "OPENAPI_3"
    GRAPHQL = "GRAPHQL"


@strawberry.enum
class CodeLanguage(Enum):
    CURL = "CURL"
    NODE = "NODE"
    PYTHON = "PYTHON"
    JAVA = "JAVA"
    GO = "GO"
    RUBY = "RUBY"
    PHP = "PHP"
    CSHARP = "CSHARP"


class SpecLoaders:
    """One set per request (stored on its Context)."""

    def __init__(self, info: AppInfo) -> None:
        ctx = info.context

        async def pages(keys: list[specs.PageKey]) -> list[list[m.SpecOperation]]:
            async with ctx.db() as s:
                return await specs.operation_pages(s, keys)

        async def versions(ids: list[uuid.UUID]) -> list[list[m.SpecVersion]]:
            async with ctx.db() as s:
                return await specs.versions_by_spec_ids(s, ids)

        async def current(keys: list[tuple[uuid.UUID, int]]) -> list[m.SpecVersion | None]:
            async with ctx.db() as s:
                return await specs.current_versions(s, keys)

        async def components(keys: list[tuple[uuid.UUID, str]]) -> list[Any]:
            async with ctx.db() as s:
                return await specs.component_bodies(s, keys)

        self.operation_page: DataLoader[specs.PageKey, list[m.SpecOperation]] = DataLoader(pages)
        self.versions_by_spec: DataLoader[uuid.UUID, list[m.SpecVersion]] = DataLoader(versions)
        self.version_by_number: DataLoader[tuple[uuid.UUID, int], m.SpecVersion | None] = (
            DataLoader(current)
        )
        self.component: DataLoader[tuple[uuid.UUID, str], Any] = DataLoader(components)
        # Every schema expanded in this request shares one node budget: no read is huge.
        self.budget = schemas.Budget()

    @staticmethod
    def of(info: AppInfo) -> SpecLoaders:
        found: SpecLoaders = info.context.__dict__.setdefault("_spec_loaders", SpecLoaders(info))
        return found

    def fetcher(self, version_id: uuid.UUID) -> schemas.Fetch:
        async def fetch(refs: list[str]) -> dict[str, Any]:
            bodies = await self.component.load_many([(version_id, r) for r in refs])
            return {r: b for r, b in zip(refs, bodies, strict=True) if b is not None}

        return fetch

    async def expand(self, version_id: uuid.UUID, roots: list[Any], depth: int) -> list[Any]:
        return await schemas.expand(
            roots, self.fetcher(version_id), depth=depth, budget=self.budget, on_node=_html_hook
        )

    async def closure(self, version_id: uuid.UUID, roots: list[Any], depth: int) -> dict[str, Any]:
        """The components ``roots`` reach within ``depth`` levels (for samples)."""
        return await schemas.closure(
            roots, self.fetcher(version_id), depth=depth, limit=MAX_CLOSURE
        )


def check_depth(depth: int) -> int:
    if not 0 <= depth <= schemas.MAX_DEPTH:
        from aforo.errors import DomainError
        from aforo.schema.base import graphql_error

        raise graphql_error(
            DomainError(f"depth must be 0-{schemas.MAX_DEPTH}", field="depth", code="INVALID")
        )
    return depth


@dataclass(frozen=True)
class SampleContext:
    """What an operation's reads need from its version and spec (no extra queries)."""

    version_id: uuid.UUID
    servers: list[dict[str, Any]]
    schemes: dict[str, Any]
    server_url: str | None
    graphql: bool
