from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, cast

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON

from aforo.models import specs as m
from aforo.schema.base import AppInfo, UserError, page_size
from aforo.services import codesamples, specs
from aforo.services.spec_import import SpecInvalid as SpecInvalidError
from aforo.services.spec_import.diff import Change


def _json(value: Any) -> JSON:
    return cast(JSON, value)


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
    def __init__(self, info: AppInfo) -> None:
        ctx = info.context

        async def ops(ids: list[uuid.UUID]) -> list[list[m.SpecOperation]]:
            async with ctx.db() as s:
                return await specs.operations_by_version_ids(s, ids)

        async def versions(ids: list[uuid.UUID]) -> list[list[m.SpecVersion]]:
            async with ctx.db() as s:
                return await specs.versions_by_spec_ids(s, ids)

        async def current(keys: list[tuple[uuid.UUID, int]]) -> list[m.SpecVersion | None]:
            async with ctx.db() as s:
                return await specs.current_versions(s, keys)

        self.operations_by_version: DataLoader[uuid.UUID, list[m.SpecOperation]] = DataLoader(ops)
        self.versions_by_spec: DataLoader[uuid.UUID, list[m.SpecVersion]] = DataLoader(versions)
        self.version_by_number: DataLoader[tuple[uuid.UUID, int], m.SpecVersion | None] = (
            DataLoader(current)
        )

    @staticmethod
    def of(info: AppInfo) -> SpecLoaders:
        # Stored on the request's Context instance: one set per request, gone with it.
        found: SpecLoaders = info.context.__dict__.setdefault("_spec_loaders", SpecLoaders(info))
        return found


@dataclass(frozen=True)
class SampleContext:
    """What samples of an operation need from its version and spec (no extra queries)."""

    servers: list[dict[str, Any]]
    schemes: dict[str, Any]
    server_url: str | None
    graphql: bool


@strawberry.type
class ApiMedia:
    media_type: str
    schema: JSON
    example: JSON | None


@strawberry.type
class ApiParameter:
    name: str
    location: str = strawberry.field(description="path, query, header, cookie or argument")
    required: bool
    deprecated: bool
    description: str
    schema: JSON
    example: JSON | None = strawberry.field(description="From the spec, or synthesised")


@strawberry.type
class ApiRequestBody:
    required: bool
    description: str
    content: list[ApiMedia]


@strawberry.type
class ApiResponse:
    status: str
    description: str
    content: list[ApiMedia]


@strawberry.type
class CodeSample:
    language: CodeLanguage
    code: str


@strawberry.type
class HeaderPair:
    name: str
    value: str


@strawberry.type(description="The request every code sample of an operation makes.")
class SampleRequest:
    method: str
    url: str
    headers: list[HeaderPair]
    auth_header: str | None
    auth_env_var: str | None
    body: str | None


def _media(items: list[dict[str, Any]]) -> list[ApiMedia]:
    from aforo.services.spec_import import examples

    return [
        ApiMedia(media_type=c["mediaType"], schema=c["schema"], example=examples.for_media(c))
        for c in items
    ]


@strawberry.type(description="An HTTP operation, or a GraphQL query/mutation/subscription field.")
class ApiOperation:
    id: strawberry.ID
    key: str
    method: str
    path: str
    operation_id: str | None
    summary: str
    description: str
    tags: list[str]
    deprecated: bool
    security: JSON
    _op: strawberry.Private[m.SpecOperation]
    _ctx: strawberry.Private[SampleContext]

    @strawberry.field
    def parameters(self) -> list[ApiParameter]:
        from aforo.services.spec_import import examples

        return [
            ApiParameter(
                name=p["name"],
                location=p["in"],
                required=p["required"],
                deprecated=p.get("deprecated", False),
                description=p.get("description", ""),
                schema=_json(p.get("schema") or {}),
                example=examples.for_parameter(p),
            )
            for p in self._op.parameters
        ]

    @strawberry.field
    def request_body(self) -> ApiRequestBody | None:
        b = self._op.request_body
        if not b:
            return None
        return ApiRequestBody(
            required=b["required"], description=b["description"], content=_media(b["content"])
        )

    @strawberry.field
    def responses(self) -> list[ApiResponse]:
        return [
            ApiResponse(
                status=r["status"], description=r["description"], content=_media(r["content"])
            )
            for r in self._op.responses
        ]

    def _request(self) -> codesamples.SampleRequest:
        return codesamples.build_request(
            specs.as_dict(self._op),
            servers=self._ctx.servers,
            schemes=self._ctx.schemes,
            server_url=self._ctx.server_url,
            graphql=self._ctx.graphql,
        )

    @strawberry.field
    def sample_request(self) -> SampleRequest:
        r = self._request()
        return SampleRequest(
            method=r.method,
            url=r.url,
            headers=[HeaderPair(name=h.name, value=h.value) for h in r.headers],
            auth_header=r.auth.name if r.auth else None,
            auth_env_var=r.auth.env if r.auth else None,
            body=r.body,
        )

    @strawberry.field(description="Runnable samples; the credential comes from $API_KEY.")
    def code_samples(self, languages: list[CodeLanguage] | None = None) -> list[CodeSample]:
        r = self._request()
        wanted = languages or list(CodeLanguage)
        return [
            CodeSample(language=lang, code=codesamples.render(lang.value, r)) for lang in wanted
        ]

    @classmethod
    def of(cls, op: m.SpecOperation, ctx: SampleContext) -> ApiOperation:
        return cls(
            id=strawberry.ID(str(op.id)),
            key=op.key,
            method=op.method,
            path=op.path,
            operation_id=op.operation_id,
            summary=op.summary,
            description=op.description,
            tags=list(op.tags),
            deprecated=op.deprecated,
            security=_json([s for s in op.security if "scheme" in s]),
            _op=op,
            _ctx=ctx,
        )


@strawberry.type
class SpecTag:
    name: str
    description: str
    operations: list[ApiOperation]


@strawberry.type(description="One imported content of a spec (identified by its SHA-256).")
class SpecVersion:
    id: strawberry.ID
    number: int
    title: str
    api_version: str
    description: str
    servers: JSON
    security_schemes: JSON
    content_hash: str
    created_at: datetime
    _v: strawberry.Private[m.SpecVersion]
    _server_url: strawberry.Private[str | None]
    _graphql: strawberry.Private[bool]

    async def _ops(self, info: AppInfo) -> list[ApiOperation]:
        rows = await SpecLoaders.of(info).operations_by_version.load(self._v.id)
        ctx = SampleContext(
            self._v.servers, self._v.security_schemes, self._server_url, self._graphql
        )
        return [ApiOperation.of(op, ctx) for op in rows]

    @strawberry.field
    async def operations(self, info: AppInfo, tag: str | None = None) -> list[ApiOperation]:
        ops = await self._ops(info)
        return [o for o in ops if tag is None or tag in o.tags]

    @strawberry.field(description="Declared tags first, then any other tag operations use.")
    async def tags(self, info: AppInfo) -> list[SpecTag]:
        ops = await self._ops(info)
        names = [t["name"] for t in self._v.tags]
        descriptions = {t["name"]: t.get("description", "") for t in self._v.tags}
        for o in ops:
            for t in o.tags or ["default"]:
                if t not in names:
                    names.append(t)
        return [
            SpecTag(
                name=n,
                description=descriptions.get(n, ""),
                operations=[o for o in ops if n in (o.tags or ["default"])],
            )
            for n in names
        ]

    @strawberry.field(description="The imported document, as it was received.")
    def source(self) -> str:
        return self._v.source

    @classmethod
    def of(cls, v: m.SpecVersion, spec: m.ApiSpec) -> SpecVersion:
        return cls(
            id=strawberry.ID(str(v.id)),
            number=v.number,
            title=v.title,
            api_version=v.api_version,
            description=v.description,
            servers=_json(v.servers),
            security_schemes=_json(v.security_schemes),
            content_hash=v.content_hash.hex(),
            created_at=v.created_at,
            _v=v,
            _server_url=spec.server_url,
            _graphql=spec.format == "GRAPHQL",
        )


@strawberry.type
class ApiSpec:
    id: strawberry.ID
    product_id: strawberry.ID
    name: str
    format: SpecFormat
    source_url: str | None
    server_url: str | None
    last_checked_at: datetime | None
    last_error: str | None
    created_at: datetime
    _spec: strawberry.Private[m.ApiSpec]

    @strawberry.field
    async def current_version(self, info: AppInfo) -> SpecVersion | None:
        key = (self._spec.id, self._spec.current_version)
        v = await SpecLoaders.of(info).version_by_number.load(key)
        return SpecVersion.of(v, self._spec) if v else None

    @strawberry.field(description="Newest first, a page at a time.")
    async def versions(
        self, info: AppInfo, first: int | None = None, offset: int = 0
    ) -> list[SpecVersion]:
        n, start = page_size(first), max(0, offset)
        rows = await SpecLoaders.of(info).versions_by_spec.load(self._spec.id)
        return [SpecVersion.of(v, self._spec) for v in rows[start : start + n]]

    @classmethod
    def of(cls, s: m.ApiSpec) -> ApiSpec:
        return cls(
            id=strawberry.ID(str(s.id)),
            product_id=strawberry.ID(str(s.product_id)),
            name=s.name,
            format=SpecFormat(s.format),
            source_url=s.source_url,
            server_url=s.server_url,
            last_checked_at=s.last_checked_at,
            last_error=s.last_error,
            created_at=s.created_at,
            _spec=s,
        )


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


@strawberry.type(description="The document is not a valid spec; each problem says where.")
class SpecInvalid:
    code: str
    message: str
    field: str | None
    problems: list[SpecProblem]

    @classmethod
    def of(cls, e: SpecInvalidError) -> SpecInvalid:
        return cls(
            code=e.code,
            message=e.message,
            field=e.field,
            problems=[
                SpecProblem(pointer=p.pointer, line=p.line, message=p.message) for p in e.problems
            ],
        )


@strawberry.type
class SpecChange:
    key: str
    kind: str = strawberry.field(description="ADDED, REMOVED or CHANGED")
    breaking: bool
    details: list[str]

    @classmethod
    def of(cls, c: Change) -> SpecChange:
        return cls(key=c.key, kind=c.kind, breaking=c.breaking, details=c.details)


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


@strawberry.input
class ImportSpecInput:
    product_id: strawberry.ID
    format: SpecFormat
    source_url: str | None = None
    content: str | None = None
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
