"""An operation as a reference shows it: parameters, body, responses (with headers, named
examples and links), callbacks, security, and its runnable code samples."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.scalars import JSON

from aforo.models import specs as m
from aforo.schema.base import AppInfo, page_size
from aforo.schema.specs.common import (
    CodeLanguage,
    Described,
    SampleContext,
    SpecLoaders,
    as_json,
    check_depth,
)
from aforo.services import codesamples, specs
from aforo.services.spec_import import examples, schemas

SAMPLE_DEPTH = codesamples.SAMPLE_DEPTH


@strawberry.type(description="A link to documentation elsewhere.")
class ExternalDocs(Described):
    url: str

    @classmethod
    def of(cls, d: dict[str, Any] | None) -> ExternalDocs | None:
        return cls(url=d["url"], description=d.get("description", "")) if d else None


@strawberry.type(description="A named example (OpenAPI `examples`), with its summary.")
class ApiExample(Described):
    name: str
    summary: str
    value: JSON | None
    external_value: str | None

    @classmethod
    def many(cls, items: list[dict[str, Any]] | None) -> list[ApiExample]:
        return [
            cls(
                name=e["name"],
                summary=e.get("summary", ""),
                description=e.get("description", ""),
                value=as_json(e.get("value")),
                external_value=e.get("externalValue"),
            )
            for e in items or []
        ]


@strawberry.type
class ApiMedia:
    media_type: str
    schema: JSON = strawberry.field(description="Expanded to the depth asked for.")
    example: JSON | None = strawberry.field(description="From the spec, or synthesised")
    examples: list[ApiExample]
    encoding: JSON | None = strawberry.field(
        description="Per property: contentType, headers, style, explode (form and multipart)"
    )


@strawberry.type
class ApiParameter(Described):
    name: str
    location: str = strawberry.field(description="path, query, header, cookie or argument")
    required: bool
    deprecated: bool
    style: str | None = strawberry.field(description="simple, label, matrix, form, …")
    explode: bool | None
    allow_reserved: bool
    schema: JSON
    example: JSON | None = strawberry.field(description="From the spec, or synthesised")
    examples: list[ApiExample]
    default_value: str | None = strawberry.field(
        description="A GraphQL argument's default, as GraphQL spells it"
    )


@strawberry.type
class ApiHeader(Described):
    name: str
    required: bool
    deprecated: bool
    schema: JSON
    example: JSON | None
    examples: list[ApiExample]


@strawberry.type(description="An OpenAPI link: how a response's values feed another operation.")
class ApiLink(Described):
    name: str
    operation_id: str | None
    operation_ref: str | None
    parameters: JSON | None
    request_body: JSON | None
    server: JSON | None


@strawberry.type
class ApiRequestBody(Described):
    required: bool
    content: list[ApiMedia]


@strawberry.type
class ApiResponse(Described):
    status: str
    headers: list[ApiHeader]
    content: list[ApiMedia]
    links: list[ApiLink]


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
    auth_kind: str | None = strawberry.field(
        description="header, query (the key in the URL) or basic ($API_USERNAME/$API_PASSWORD)"
    )
    body: str | None
    values: JSON = strawberry.field(description="The values chosen, by location (and body)")


def _media(items: list[dict[str, Any]], expanded: list[Any]) -> list[ApiMedia]:
    out = []
    for c, schema in zip(items, expanded, strict=True):
        out.append(
            ApiMedia(
                media_type=c["mediaType"],
                schema=as_json(schema),
                example=as_json(examples.for_media({**c, "schema": schema})),
                examples=ApiExample.many(c.get("examples")),
                encoding=as_json(c.get("encoding")),
            )
        )
    return out


def _header(h: dict[str, Any], schema: Any) -> ApiHeader:
    return ApiHeader(
        name=h["name"],
        description=h.get("description", ""),
        required=h.get("required", False),
        deprecated=h.get("deprecated", False),
        schema=as_json(schema),
        example=as_json(h.get("example")),
        examples=ApiExample.many(h.get("examples")),
    )


@strawberry.type(
    description="An HTTP operation, a webhook, a callback, or a GraphQL query/mutation/"
    "subscription field."
)
class ApiOperation(Described):
    id: strawberry.ID
    key: str
    kind: str = strawberry.field(description="operation, webhook or callback")
    method: str
    path: str = strawberry.field(description="The path template (a callback: its expression)")
    operation_id: str | None
    summary: str
    tags: list[str]
    deprecated: bool
    security: JSON = strawberry.field(
        description="[{scheme, scopes, alt}]: any one alternative (alt) suffices"
    )
    servers: JSON = strawberry.field(description="Servers of this operation (or its path)")
    callback_name: str | None
    parent_key: str | None = strawberry.field(description="A callback's operation")
    cursor: str = strawberry.field(description="For `operations(after:)`")
    _op: strawberry.Private[m.SpecOperation]
    _ctx: strawberry.Private[SampleContext]

    @strawberry.field
    def external_docs(self) -> ExternalDocs | None:
        return ExternalDocs.of((self._op.extra or {}).get("externalDocs"))

    async def _expand(self, info: AppInfo, roots: list[Any], depth: int) -> list[Any]:
        return await SpecLoaders.of(info).expand(self._ctx.version_id, roots, check_depth(depth))

    @strawberry.field(description="Schemas' references expanded `depth` levels deep.")
    async def parameters(
        self, info: AppInfo, depth: int = schemas.DEFAULT_DEPTH
    ) -> list[ApiParameter]:
        params = self._op.parameters
        expanded = await self._expand(info, [p.get("schema") or {} for p in params], depth)
        return [
            ApiParameter(
                name=p["name"],
                location=p["in"],
                required=p["required"],
                deprecated=p.get("deprecated", False),
                description=p.get("description", ""),
                style=p.get("style"),
                explode=p.get("explode"),
                allow_reserved=p.get("allowReserved", False),
                schema=as_json(schema),
                example=as_json(examples.for_parameter({**p, "schema": schema})),
                examples=ApiExample.many(p.get("examples")),
                default_value=p.get("defaultValue"),
            )
            for p, schema in zip(params, expanded, strict=True)
        ]

    @strawberry.field
    async def request_body(
        self, info: AppInfo, depth: int = schemas.DEFAULT_DEPTH
    ) -> ApiRequestBody | None:
        b = self._op.request_body
        if not b:
            return None
        content = b.get("content") or []
        expanded = await self._expand(info, [c.get("schema") or {} for c in content], depth)
        return ApiRequestBody(
            required=b["required"], description=b["description"], content=_media(content, expanded)
        )

    @strawberry.field
    async def responses(
        self, info: AppInfo, depth: int = schemas.DEFAULT_DEPTH
    ) -> list[ApiResponse]:
        roots: list[Any] = []
        for r in self._op.responses:
            roots += [c.get("schema") or {} for c in r.get("content") or []]
            roots += [h.get("schema") or {} for h in r.get("headers") or []]
        expanded = iter(await self._expand(info, roots, depth))
        out = []
        for r in self._op.responses:
            content = r.get("content") or []
            media = _media(content, [next(expanded) for _ in content])
            headers = [_header(h, next(expanded)) for h in r.get("headers") or []]
            out.append(
                ApiResponse(
                    status=r["status"],
                    description=r.get("description", ""),
                    headers=headers,
                    content=media,
                    links=[
                        ApiLink(
                            name=link["name"],
                            description=link.get("description", ""),
                            operation_id=link.get("operationId"),
                            operation_ref=link.get("operationRef"),
                            parameters=as_json(link.get("parameters")),
                            request_body=as_json(link.get("requestBody")),
                            server=as_json(link.get("server")),
                        )
                        for link in r.get("links") or []
                    ],
                )
            )
        return out

    @strawberry.field(description="Callbacks this operation makes (OpenAPI `callbacks`).")
    async def callbacks(self, info: AppInfo, first: int | None = None) -> list[ApiOperation]:
        if self._op.kind != "operation":
            return []
        key = specs.PageKey(
            self._ctx.version_id, kind="callback", first=page_size(first), parent=self._op.key
        )
        rows = await SpecLoaders.of(info).operation_page.load(key)
        return [ApiOperation.of(op, self._ctx) for op in rows[: key.first]]

    async def _request(self, info: AppInfo) -> codesamples.SampleRequest:
        op = specs.as_dict(self._op)
        roots: list[Any] = [p.get("schema") for p in op["parameters"]]
        body = op.get("requestBody") or {}
        roots += [c.get("schema") for c in body.get("content") or []]
        if self._ctx.graphql:
            roots += [c.get("schema") for r in op["responses"] for c in r.get("content") or []]
        components = await SpecLoaders.of(info).closure(self._ctx.version_id, roots, SAMPLE_DEPTH)
        return codesamples.build_request(
            op,
            servers=self._ctx.servers,
            schemes=self._ctx.schemes,
            server_url=self._ctx.server_url,
            graphql=self._ctx.graphql,
            components=components,
        )

    @strawberry.field
    async def sample_request(self, info: AppInfo) -> SampleRequest:
        r = await self._request(info)
        return SampleRequest(
            method=r.method,
            url=r.url,
            headers=[HeaderPair(name=h.name, value=h.value) for h in r.headers],
            auth_header=r.auth.name if r.auth and r.auth.kind != "query" else None,
            auth_env_var=r.auth.env if r.auth and r.auth.kind != "basic" else None,
            auth_kind=r.auth.kind if r.auth else None,
            body=r.body,
            values=as_json(r.values),
        )

    @strawberry.field(
        description="Runnable samples; the credential comes from $API_KEY (HTTP Basic: "
        "$API_USERNAME and $API_PASSWORD)."
    )
    async def code_samples(
        self, info: AppInfo, languages: list[CodeLanguage] | None = None
    ) -> list[CodeSample]:
        r = await self._request(info)
        wanted = languages or list(CodeLanguage)
        return [
            CodeSample(language=lang, code=codesamples.render(lang.value, r)) for lang in wanted
        ]

    @classmethod
    def of(cls, op: m.SpecOperation, ctx: SampleContext) -> ApiOperation:
        extra = op.extra or {}
        return cls(
            id=strawberry.ID(str(op.id)),
            key=op.key,
            kind=op.kind,
            method=op.method,
            path=op.path,
            operation_id=op.operation_id,
            summary=op.summary,
            description=op.description,
            tags=list(op.tags),
            deprecated=op.deprecated,
            security=as_json([s for s in op.security if "scheme" in s]),
            servers=as_json([s["server"] for s in op.security if "server" in s]),
            callback_name=extra.get("callback"),
            parent_key=op.parent_key,
            cursor=specs.cursor(op.position),
            _op=op,
            _ctx=ctx,
        )
