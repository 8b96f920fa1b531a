"""A spec version as a complete reference: info, servers with variables, security schemes in
full, tags and tag groups, pages of operations and webhooks, the named components, and for
GraphQL every type with its fields, arguments (and defaults), enum values, interfaces and
unions. Descriptions come as source (Markdown) and as safe HTML."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from aforo.models import specs as m
from aforo.schema.base import AppInfo, page_size, read
from aforo.schema.specs.common import (
    Described,
    SampleContext,
    SpecFormat,
    SpecLoaders,
    as_json,
    check_depth,
    html,
)
from aforo.schema.specs.operations import ApiOperation, ExternalDocs
from aforo.services import specs
from aforo.services.spec_import import schemas
from aforo.services.spec_import.model import obj


@strawberry.type
class ApiContact:
    name: str | None
    url: str | None
    email: str | None


@strawberry.type
class ApiLicense:
    name: str | None
    url: str | None
    identifier: str | None


@strawberry.type(description="The spec's `info`: title, version, terms, contact, license.")
class ApiInfo(Described):
    title: str
    version: str
    summary: str
    terms_of_service: str | None
    contact: ApiContact | None
    license: ApiLicense | None
    logo: JSON | None = strawberry.field(description="`x-logo`, as given")


@strawberry.type
class ApiServerVariable:
    name: str
    default: str
    enum: list[str] | None
    description: str


@strawberry.type
class ApiServer(Described):
    url: str = strawberry.field(description="With every variable at its default")
    template: str = strawberry.field(description="As written, with {variables}")
    variables: list[ApiServerVariable]


@strawberry.type
class ApiOAuthScope:
    name: str
    description: str


@strawberry.type
class ApiOAuthFlow:
    kind: str = strawberry.field(
        description="implicit, password, clientCredentials or authorizationCode"
    )
    authorization_url: str | None
    token_url: str | None
    refresh_url: str | None
    scopes: list[ApiOAuthScope]


@strawberry.type(description="A security scheme in full: OAuth2 flows and scopes, OIDC URL …")
class ApiSecurityScheme(Described):
    name: str
    type: str
    scheme: str | None = strawberry.field(description="http: basic, bearer, …")
    bearer_format: str | None
    location: str | None = strawberry.field(description="apiKey: header, query or cookie")
    parameter_name: str | None = strawberry.field(description="apiKey: the header/query name")
    open_id_connect_url: str | None
    flows: list[ApiOAuthFlow]


@strawberry.type
class SpecTagGroup:
    name: str
    tags: list[str]


@strawberry.type(description="A conversion made on import (Swagger 2.0 → OpenAPI 3.0).")
class SpecConversion:
    change: str
    count: int


@strawberry.type(description="A named component (schema, response, GraphQL type …), stored once.")
class SpecComponent:
    kind: str = strawberry.field(description="schemas, responses, parameters, …, pointer")
    name: str
    ref: str = strawberry.field(description="How the spec refers to it (#/components/…)")
    cursor: str
    _c: strawberry.Private[m.SpecComponent]

    def _description(self) -> str:
        body = self._c.body
        return str(body.get("description") or "") if isinstance(body, dict) else ""

    @strawberry.field
    def description(self) -> str:
        return self._description()

    @strawberry.field
    def description_html(self) -> str:
        return html(self._description())

    @strawberry.field(description="Its references expanded `depth` levels deep.")
    async def schema(self, info: AppInfo, depth: int = schemas.DEFAULT_DEPTH) -> JSON:
        expanded = await SpecLoaders.of(info).expand(
            self._c.version_id, [self._c.body], check_depth(depth)
        )
        return as_json(expanded[0])

    @classmethod
    def of(cls, c: m.SpecComponent) -> SpecComponent:
        return cls(kind=c.kind, name=c.name, ref=c.ref, cursor=specs.cursor(c.position), _c=c)


# -- GraphQL types ---------------------------------------------------------------------------
@strawberry.type
class GraphqlInputValue(Described):
    name: str
    type: str
    default_value: str | None = strawberry.field(description="As GraphQL spells it")
    deprecated: bool
    deprecation_reason: str | None


@strawberry.type
class GraphqlField(Described):
    name: str
    type: str
    args: list[GraphqlInputValue]
    deprecated: bool
    deprecation_reason: str | None


@strawberry.type
class GraphqlEnumValue(Described):
    name: str
    deprecated: bool
    deprecation_reason: str | None


@strawberry.type(description="A GraphQL named type, as a reference shows it.")
class GraphqlTypeDoc(Described):
    name: str
    kind: str = strawberry.field(description="OBJECT, INTERFACE, UNION, ENUM, INPUT_OBJECT, SCALAR")
    fields: list[GraphqlField] = strawberry.field(description="Objects and interfaces")
    input_fields: list[GraphqlInputValue]
    enum_values: list[GraphqlEnumValue]
    interfaces: list[str]
    possible_types: list[str] = strawberry.field(description="A union's members")
    specified_by_url: str | None
    cursor: str

    @classmethod
    def of(cls, c: m.SpecComponent) -> GraphqlTypeDoc:
        body: dict[str, Any] = c.body if isinstance(c.body, dict) else {}
        kind = str(body.get("x-graphql-kind") or "OBJECT")
        props = obj(body.get("properties"))
        fields, inputs = [], []
        for name, p in props.items():
            if kind == "INPUT_OBJECT":
                inputs.append(
                    GraphqlInputValue(
                        name=name,
                        description=str(p.get("description") or ""),
                        type=str(p.get("x-graphql-type") or ""),
                        default_value=p.get("x-graphql-default"),
                        deprecated=bool(p.get("deprecated")),
                        deprecation_reason=p.get("x-deprecation-reason"),
                    )
                )
                continue
            fields.append(
                GraphqlField(
                    name=name,
                    description=str(p.get("description") or ""),
                    type=str(p.get("x-graphql-type") or ""),
                    args=[
                        GraphqlInputValue(
                            name=a["name"],
                            description=a.get("description", ""),
                            type=a.get("type", ""),
                            default_value=a.get("defaultValue"),
                            deprecated=bool(a.get("deprecated")),
                            deprecation_reason=a.get("x-deprecation-reason"),
                        )
                        for a in p.get("x-graphql-args") or []
                    ],
                    deprecated=bool(p.get("deprecated")),
                    deprecation_reason=p.get("x-deprecation-reason"),
                )
            )
        return cls(
            name=c.name,
            kind=kind,
            description=str(body.get("description") or ""),
            fields=fields,
            input_fields=inputs,
            enum_values=[
                GraphqlEnumValue(
                    name=v["name"],
                    description=v.get("description", ""),
                    deprecated=bool(v.get("deprecated")),
                    deprecation_reason=v.get("x-deprecation-reason"),
                )
                for v in body.get("x-graphql-enum-values") or []
            ],
            interfaces=list(body.get("x-graphql-interfaces") or []),
            possible_types=[
                schemas.name_of(o["$ref"]) for o in body.get("oneOf") or [] if "$ref" in o
            ],
            specified_by_url=body.get("x-specified-by"),
            cursor=specs.cursor(c.position),
        )


# -- tags, versions, specs -------------------------------------------------------------------
@strawberry.type
class SpecTag(Described):
    name: str
    display_name: str | None = strawberry.field(description="`x-displayName`")
    operation_count: int
    _t: strawberry.Private[dict[str, Any]]
    _ctx: strawberry.Private[SampleContext]

    @strawberry.field
    def external_docs(self) -> ExternalDocs | None:
        return ExternalDocs.of(self._t.get("externalDocs"))

    @strawberry.field(description="In spec order; page with `first` and `after` (a cursor).")
    async def operations(
        self, info: AppInfo, first: int | None = None, after: str | None = None
    ) -> list[ApiOperation]:
        key = specs.PageKey(
            self._ctx.version_id,
            tag=self.name,
            after=_after(after),
            first=page_size(first),
        )
        rows = await SpecLoaders.of(info).operation_page.load(key)
        return [ApiOperation.of(op, self._ctx) for op in rows[: key.first]]


def _after(after: str | None) -> int:
    from aforo.errors import DomainError
    from aforo.schema.base import graphql_error

    try:
        return specs.after_position(after)
    except DomainError as e:
        raise graphql_error(e) from e


def _servers(raw: list[dict[str, Any]]) -> list[ApiServer]:
    return [
        ApiServer(
            url=s["url"],
            template=s.get("template", s["url"]),
            description=s.get("description", ""),
            variables=[
                ApiServerVariable(
                    name=name,
                    default=v.get("default", ""),
                    enum=v.get("enum"),
                    description=v.get("description", ""),
                )
                for name, v in (s.get("variables") or {}).items()
            ],
        )
        for s in raw
    ]


def _schemes(raw: dict[str, Any]) -> list[ApiSecurityScheme]:
    return [
        ApiSecurityScheme(
            name=name,
            type=s.get("type", ""),
            description=s.get("description", ""),
            scheme=s.get("scheme"),
            bearer_format=s.get("bearerFormat"),
            location=s.get("in"),
            parameter_name=s.get("name"),
            open_id_connect_url=s.get("openIdConnectUrl"),
            flows=[
                ApiOAuthFlow(
                    kind=kind,
                    authorization_url=f.get("authorizationUrl"),
                    token_url=f.get("tokenUrl"),
                    refresh_url=f.get("refreshUrl"),
                    scopes=[
                        ApiOAuthScope(name=k, description=v)
                        for k, v in (f.get("scopes") or {}).items()
                    ],
                )
                for kind, f in (s.get("flows") or {}).items()
            ],
        )
        for name, s in raw.items()
    ]


@strawberry.type(description="One imported content of a spec (identified by its SHA-256).")
class SpecVersion(Described):
    id: strawberry.ID
    number: int
    title: str
    api_version: str
    servers: JSON = strawberry.field(description="[{url, template, description, variables}]")
    security_schemes: JSON = strawberry.field(
        description="By name, in full (see securitySchemeList)"
    )
    content_hash: str
    created_at: datetime
    source_version: str = strawberry.field(description='"3.1.0", "3.0.3", "2.0" or "graphql"')
    files: list[str] = strawberry.field(description="A multi-file spec's files, root first")
    operation_count: int
    conversions: list[SpecConversion] = strawberry.field(
        description="What a Swagger 2.0 import converted to OpenAPI 3.0"
    )
    tag_groups: list[SpecTagGroup] = strawberry.field(description="`x-tagGroups`")
    _v: strawberry.Private[m.SpecVersion]
    _ctx: strawberry.Private[SampleContext]

    @strawberry.field
    def info(self) -> ApiInfo:
        i = self._v.info or {}
        contact, lic = i.get("contact"), i.get("license")
        return ApiInfo(
            title=self._v.title,
            version=self._v.api_version,
            summary=str(i.get("summary") or ""),
            description=self._v.description,
            terms_of_service=i.get("termsOfService"),
            contact=ApiContact(**{k: contact.get(k) for k in ("name", "url", "email")})
            if contact
            else None,
            license=ApiLicense(**{k: lic.get(k) for k in ("name", "url", "identifier")})
            if lic
            else None,
            logo=as_json(i.get("x-logo")),
        )

    @strawberry.field
    def external_docs(self) -> ExternalDocs | None:
        return ExternalDocs.of(self._v.external_docs)

    @strawberry.field
    def server_list(self) -> list[ApiServer]:
        return _servers(self._v.servers or [])

    @strawberry.field
    def security_scheme_list(self) -> list[ApiSecurityScheme]:
        return _schemes(self._v.security_schemes or {})

    @strawberry.field(
        description="In spec order, at most `first` (default 50, max 200) after the cursor "
        "`after`; `tag` keeps one tag's operations (`default`: untagged ones)."
    )
    async def operations(
        self,
        info: AppInfo,
        tag: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> list[ApiOperation]:
        key = specs.PageKey(self._v.id, tag=tag, after=_after(after), first=page_size(first))
        rows = await SpecLoaders.of(info).operation_page.load(key)
        return [ApiOperation.of(op, self._ctx) for op in rows[: key.first]]

    @strawberry.field(description="OpenAPI 3.1 webhooks: requests the API sends.")
    async def webhooks(
        self, info: AppInfo, first: int | None = None, after: str | None = None
    ) -> list[ApiOperation]:
        key = specs.PageKey(self._v.id, kind="webhook", after=_after(after), first=page_size(first))
        rows = await SpecLoaders.of(info).operation_page.load(key)
        return [ApiOperation.of(op, self._ctx) for op in rows[: key.first]]

    @strawberry.field(description="Declared tags first, then any other tag operations use.")
    def tags(self) -> list[SpecTag]:
        return [
            SpecTag(
                name=t["name"],
                display_name=t.get("displayName"),
                description=t.get("description", ""),
                operation_count=int(t.get("operationCount", 0)),
                _t=t,
                _ctx=self._ctx,
            )
            for t in self._v.tags or []
        ]

    @strawberry.field(description="Named components in spec order; `kind`: schemas, responses, …")
    async def components(
        self,
        info: AppInfo,
        kind: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> list[SpecComponent]:
        n, position = page_size(first), _after(after)
        rows = await read(
            info,
            lambda s: specs.components_page(s, self._v.id, kind=kind, after=position, first=n),
        )
        return [SpecComponent.of(c) for c in rows[:n]]

    @strawberry.field(description="How many components of each kind: {schemas: 12, …}")
    async def component_counts(self, info: AppInfo) -> JSON:
        return as_json(await read(info, lambda s: specs.component_counts(s, self._v.id)))

    @strawberry.field
    async def component(self, info: AppInfo, name: str, kind: str = "schemas") -> SpecComponent:
        row = await read(info, lambda s: specs.component_by_name(s, self._v.id, name, kind))
        return SpecComponent.of(row)

    @strawberry.field(description="GraphQL specs: every named type, in schema order.")
    async def graphql_types(
        self, info: AppInfo, first: int | None = None, after: str | None = None
    ) -> list[GraphqlTypeDoc]:
        n, position = page_size(first), _after(after)
        if not self._ctx.graphql:
            return []
        rows = await read(
            info,
            lambda s: specs.components_page(s, self._v.id, kind="schemas", after=position, first=n),
        )
        return [GraphqlTypeDoc.of(c) for c in rows[:n]]

    @strawberry.field(description="The root document, as it was received.")
    def source(self) -> str:
        return self._v.source

    @classmethod
    def of(cls, v: m.SpecVersion, spec: m.ApiSpec) -> SpecVersion:
        ctx = SampleContext(
            v.id, v.servers, v.security_schemes, spec.server_url, spec.format == "GRAPHQL"
        )
        return cls(
            id=strawberry.ID(str(v.id)),
            number=v.number,
            title=v.title,
            api_version=v.api_version,
            description=v.description,
            servers=as_json(v.servers),
            security_schemes=as_json(v.security_schemes),
            content_hash=v.content_hash.hex(),
            created_at=v.created_at,
            source_version=v.source_version,
            files=list(v.files or []),
            operation_count=v.operation_count,
            conversions=[
                SpecConversion(change=c["change"], count=c["count"]) for c in v.conversions or []
            ],
            tag_groups=[
                SpecTagGroup(name=g["name"], tags=list(g.get("tags") or []))
                for g in v.tag_groups or []
            ],
            _v=v,
            _ctx=ctx,
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
