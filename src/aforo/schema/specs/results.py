"""Inputs and payloads of spec imports, syncs and diffs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from aforo.models import specs as m
from aforo.schema.base import UserError
from aforo.schema.specs.common import SpecFormat
from aforo.schema.specs.reference import ApiSpec, SpecVersion
from aforo.services.spec_import import SpecInvalid as SpecInvalidError
from aforo.services.spec_import.diff import Change


@strawberry.type
class SpecImported:
    spec: ApiSpec
    version: SpecVersion
    created: bool = strawberry.field(description="False: this content was imported before.")


@strawberry.type
class SpecSynced:
    spec: ApiSpec
    version: SpecVersion | None = strawberry.field(description="The new version, if any.")
    changed: bool
    not_modified: bool = strawberry.field(description="The server answered 304.")


@strawberry.type
class SpecProblem:
    pointer: str = strawberry.field(description="JSON pointer into the document")
    line: int | None
    message: str
    file: str | None = strawberry.field(description="Of a multi-file spec; null: the root")


@strawberry.type(
    description="The document is not a valid spec; each problem says where. The first ones "
    "name the cause (an unresolved external $ref, say); `total` counts all."
)
class SpecInvalid:
    code: str
    message: str
    field: str | None
    problems: list[SpecProblem]
    total: int

    @classmethod
    def of(cls, e: SpecInvalidError) -> SpecInvalid:
        return cls(
            code=e.code,
            message=e.message,
            field=e.field,
            problems=[
                SpecProblem(pointer=p.pointer, line=p.line, message=p.message, file=p.file)
                for p in e.problems
            ],
            total=e.total,
        )


@strawberry.type(description="One finding; `id` is oasdiff's check id (graphql-…: graphql-core's)")
class SpecCheck:
    id: str
    level: str = strawberry.field(description="ERR (breaking), WARN (maybe) or INFO")
    message: str


@strawberry.type
class SpecChange:
    key: str
    kind: str = strawberry.field(description="ADDED, REMOVED or CHANGED")
    breaking: bool
    level: str = strawberry.field(description="The highest level of its checks")
    details: list[str]
    checks: list[SpecCheck]

    @classmethod
    def of(cls, c: Change) -> SpecChange:
        return cls(
            key=c.key,
            kind=c.kind,
            breaking=c.breaking,
            level=c.level,
            details=c.details,
            checks=[SpecCheck(id=k.id, level=k.level, message=k.text) for k in c.checks],
        )


@strawberry.type
class SpecDiff:
    changes: list[SpecChange]
    breaking: bool


@strawberry.type(description="A host or CIDR outbound fetches may reach although not public.")
class OutboundAllowEntry:
    id: strawberry.ID
    entry: str
    note: str
    created_at: datetime

    @classmethod
    def of(cls, a: m.OutboundAllow) -> OutboundAllowEntry:
        return cls(id=strawberry.ID(str(a.id)), entry=a.entry, note=a.note, created_at=a.created_at)


@strawberry.input(description="One file of a multi-file spec.")
class SpecFileInput:
    path: str = strawberry.field(description="Its relative path, as $refs name it")
    content: str


@strawberry.input
class ImportSpecInput:
    product_id: strawberry.ID
    format: SpecFormat
    source_url: str | None = None
    content: str | None = None
    files: list[SpecFileInput] | None = strawberry.field(
        default=None, description="Several files whose relative $refs point at each other"
    )
    root: str | None = strawberry.field(
        default=None, description="Which of `files` is the root (when it is not obvious)"
    )
    server_url: str | None = strawberry.field(
        default=None, description="Where samples send requests (GraphQL endpoint, or override)."
    )
    name: str | None = None
    spec_id: strawberry.ID | None = strawberry.field(
        default=None, description="Add a version to this spec instead of matching by URL/name."
    )


ImportSpecResult = Annotated[
    SpecImported | SpecInvalid | UserError, strawberry.union("ImportSpecResult")
]
SyncSpecResult = Annotated[SpecSynced | SpecInvalid | UserError, strawberry.union("SyncSpecResult")]
OutboundAllowResult = Annotated[
    OutboundAllowEntry | UserError, strawberry.union("OutboundAllowResult")
]
