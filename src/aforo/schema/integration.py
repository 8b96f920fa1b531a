"""GraphQL types of the Integration Guide."""

from __future__ import annotations

from enum import Enum

import strawberry

from aforo.services import integration as svc


@strawberry.enum(
    description="How usage reaches the console (and, for VERIFY, how keys are checked)."
)
class IntegrationTier(Enum):
    SDK = "SDK"
    MIDDLEWARE = "MIDDLEWARE"
    REST = "REST"
    UPLOAD = "UPLOAD"
    GATEWAY = "GATEWAY"
    MCP = "MCP"
    VERIFY = "VERIFY"


@strawberry.type(description="Ready-to-paste code: real URLs and ids, placeholders for secrets.")
class IntegrationSnippet:
    key: str = strawberry.field(description="tier/target, e.g. sdk/node or gateway/kong-admin")
    tier: IntegrationTier
    target: str = strawberry.field(description="The language or gateway.")
    title: str
    language: str = strawberry.field(description="For syntax highlighting.")
    filename: str
    description: str
    code: str


@strawberry.type
class IntegrationSection:
    tier: IntegrationTier
    title: str
    description: str
    snippets: list[IntegrationSnippet]


@strawberry.type(description="A name a snippet reads that you fill in; secrets never appear.")
class IntegrationPlaceholder:
    name: str
    description: str
    secret: bool


@strawberry.type
class IntegrationEndpoints:
    events: str
    mcp: str
    upload: str
    verify: str
    graphql: str
    kong: str
    aws: str
    azure: str
    apigee: str
    mulesoft: str


@strawberry.type
class IntegrationPlan:
    id: strawberry.ID
    slug: str


@strawberry.type
class IntegrationGuide:
    product_id: strawberry.ID
    product_slug: str
    console_url: str
    metric: str = strawberry.field(
        description="The metric the snippets record (plan quotas count it)."
    )
    endpoints: IntegrationEndpoints
    plans: list[IntegrationPlan]
    gateway_tokens: list[str] = strawberry.field(
        description="The tenant's gateway tokens by name and display form (never the secret)."
    )
    placeholders: list[IntegrationPlaceholder]
    sections: list[IntegrationSection]

    @classmethod
    def of(cls, g: svc.Guide) -> IntegrationGuide:
        return cls(
            product_id=strawberry.ID(str(g.product_id)),
            product_slug=g.product_slug,
            console_url=g.console_url,
            metric=g.metric,
            endpoints=IntegrationEndpoints(**g.endpoints),
            plans=[IntegrationPlan(id=strawberry.ID(str(i)), slug=s) for i, s in g.plans],
            gateway_tokens=g.gateway_tokens,
            placeholders=[
                IntegrationPlaceholder(name=p.name, description=p.description, secret=p.secret)
                for p in g.placeholders
            ],
            sections=[
                IntegrationSection(
                    tier=IntegrationTier(s.tier),
                    title=s.title,
                    description=s.description,
                    snippets=[
                        IntegrationSnippet(
                            key=x.key,
                            tier=IntegrationTier(x.tier),
                            target=x.target,
                            title=x.title,
                            language=x.language,
                            filename=x.filename,
                            description=x.description,
                            code=x.code,
                        )
                        for x in s.snippets
                    ],
                )
                for s in g.sections
            ],
        )
