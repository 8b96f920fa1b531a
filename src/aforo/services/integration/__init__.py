"""The Integration Guide: ready-to-paste code for every way usage reaches the console, filled
with the tenant's real endpoint URLs and ids, from one template per tier and language
(``templates/<tier>/<target>.<ext>.j2``).

Secrets are never written into a snippet: code reads ``AFORO_TOKEN`` from the environment, and
configuration files carry a placeholder (``${AFORO_TOKEN}``, decK's env substitution, an Apigee
KVM variable, an nginx include). Every value that comes from data goes through the target
language's quoting filter (the code samples' filters), so nothing in a name can break out of a
string literal; URLs are checked before they are used at all.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import jinja2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.errors import DomainError, NotFound
from aforo.models.billing import Plan, Product
from aforo.services import gateway_tokens
from aforo.services.codesamples.quoting import q_java, q_json, q_sh

TIERS = ("SDK", "MIDDLEWARE", "REST", "UPLOAD", "GATEWAY", "MCP", "VERIFY")
# What a plan's quota counts (services.usage.QUOTA_METRICS): the snippets record it.
METRIC = "api_calls"
_SAFE_URL = re.compile(r"^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~\-/]*)?$")


@dataclass(frozen=True)
class Spec:
    tier: str
    target: str  # the language or gateway
    title: str
    language: str  # for syntax highlighting
    filename: str
    template: str
    description: str

    @property
    def key(self) -> str:
        return f"{self.tier.lower()}/{self.target}"


SPECS: tuple[Spec, ...] = (
    Spec("SDK", "node", "Node.js: @aforo/metering", "javascript", "metering.mjs",
         "sdk/node.mjs.j2", "npm i @aforo/metering. Node 18+, no dependencies."),
    Spec("SDK", "python", "Python: aforo-metering", "python", "metering.py",
         "sdk/python.py.j2", "pip install aforo-metering. Python 3.11+."),
    Spec("SDK", "go", "Go: metering-go", "go", "main.go", "sdk/go.go.j2",
         "go get github.com/aforo/metering-go. Standard library only."),
    Spec("SDK", "java", "Java: com.aforo:metering", "java", "Main.java", "sdk/java.java.j2",
         "Maven com.aforo:metering. Java 17+, nothing beyond the JDK."),
    Spec("MIDDLEWARE", "node", "Express", "javascript", "server.mjs",
         "middleware/node.mjs.j2",
         "One line per app; meterFastify and meterHttp do the same for Fastify and node:http."),
    Spec("MIDDLEWARE", "python", "FastAPI / Starlette", "python", "app.py",
         "middleware/python.py.j2",
         "One line per app; meter_flask and WSGIMeteringMiddleware for Flask and Django."),
    Spec("MIDDLEWARE", "go", "net/http", "go", "main.go", "middleware/go.go.j2",
         "Wraps any http.Handler; WithRouteFunc reads templates from chi or gorilla/mux."),
    Spec("MIDDLEWARE", "java", "Jakarta Servlet filter", "java", "AforoMetering.java",
         "middleware/java.java.j2",
         "Any Servlet 5+ container; Spring MVC route templates are picked up by themselves."),
    Spec("REST", "curl", "REST: POST /v1/usage/events", "shell", "send.sh", "rest/curl.sh.j2",
         "Up to 10 000 events per request; resending an event_id is counted once."),
    Spec("UPLOAD", "csv", "CSV upload", "shell", "upload-csv.sh", "upload/csv.sh.j2",
         "Follow the job with the usageUpload query; a bad row refuses only itself."),
    Spec("UPLOAD", "json", "JSON upload", "shell", "upload-json.sh", "upload/json.sh.j2",
         "A JSON array (or NDJSON with Content-Type application/x-ndjson)."),
    Spec("GATEWAY", "kong-admin", "Kong: http-log via the Admin API", "shell", "kong-admin.sh",
         "gateway/kong-admin.sh.j2", "Kong Gateway 3.x; batches arrive as JSON arrays."),
    Spec("GATEWAY", "kong-declarative", "Kong: declarative configuration", "yaml", "kong.yaml",
         "gateway/kong.yaml.j2", "decK or DB-less; the token comes from DECK_AFORO_TOKEN."),
    Spec("GATEWAY", "aws-access-log", "AWS API Gateway: stage access-log format", "json",
         "access-log-format.json", "gateway/aws-access-log.json.j2",
         "aws apigateway update-stage --rest-api-id … --stage-name … --patch-operations "
         "op=replace,path=/accessLogSettings/format,value=\"$(cat access-log-format.json)\" "
         "op=replace,path=/accessLogSettings/destinationArn,value=arn:aws:firehose:…"
         ":deliverystream/amazon-apigateway-aforo-usage"),
    Spec("GATEWAY", "aws-firehose", "AWS: Firehose HTTP-endpoint delivery stream", "json",
         "firehose.json", "gateway/aws-firehose.json.j2",
         "envsubst < firehose.json > stream.json && aws firehose create-delivery-stream "
         "--cli-input-json file://stream.json (access logging needs the stream name to start "
         "with amazon-apigateway-)."),
    Spec("GATEWAY", "azure-policy", "Azure API Management: log-to-eventhub policy", "xml",
         "policy.xml", "gateway/azure-policy.xml.j2",
         "Create the Event Hub logger aforo-usage first (Management API: loggers)."),
    Spec("GATEWAY", "azure-forwarder", "Azure: Event Hubs forwarding function", "javascript",
         "src/functions/aforoUsage.mjs", "gateway/azure-function.mjs.j2",
         "An Azure Function on the event hub posts each batch; a refused batch is retried."),
    Spec("GATEWAY", "apigee", "Apigee: ServiceCallout", "xml", "SC-Aforo-Usage.xml",
         "gateway/apigee.xml.j2",
         "Attach in the ProxyEndpoint's response PostFlow; records use analytics field names."),
    Spec("GATEWAY", "mulesoft", "MuleSoft Anypoint: analytics events", "shell",
         "forward-anypoint.sh", "gateway/mulesoft.sh.j2",
         "Forwards an API Manager analytics report (JSON) as it is."),
    Spec("MCP", "stdio", "MCP sidecar: client configuration (stdio)", "json", "mcp.json",
         "mcp/stdio.json.j2",
         "Replace `node server.js` with your server's command; every tools/call is metered."),
    Spec("MCP", "http", "MCP sidecar: streamable HTTP", "shell", "mcp-proxy.sh", "mcp/http.sh.j2",
         "AFORO_TOKEN from the environment; point clients at the sidecar."),
    Spec("VERIFY", "nginx", "nginx auth_request: verify keys", "nginx", "aforo.conf",
         "verify/nginx.conf.j2",
         "Keys are checked by the console (cached); refused keys get 403, unknown gateway "
         "tokens 401."),
)  # fmt: skip

SECTIONS = {
    "SDK": ("Record usage from code", "A client that batches, retries and never blocks."),
    "MIDDLEWARE": ("Meter every request", "One event per HTTP request, route templates included."),
    "REST": ("Send events over HTTP", "The canonical events endpoint, from any language."),
    "UPLOAD": ("Upload files", "CSV, JSON or NDJSON, streamed; re-uploading is safe."),
    "GATEWAY": ("Connect your API gateway", "Your gateway's logs, as each gateway ships them."),
    "MCP": ("Meter MCP tool calls", "Only tools/call is billed; protocol chatter is free."),
    "VERIFY": ("Verify keys at the gateway", "Let the gateway ask the console about each key."),
}

PLACEHOLDERS = (
    ("AFORO_TOKEN", "a gateway token (createGatewayToken); keep it in a secret store", True),
    ("AFORO_SUBSCRIPTION_ID", "the customer's subscription: /v1/keys/verify answers it in "
     "X-Aforo-Subscription-Id", False),
)  # fmt: skip

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("aforo.services.integration", "templates"),
    autoescape=False,  # noqa: S701 - code, not HTML; every data value passes a quoting filter
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)
_env.filters.update(sh=q_sh, js=q_json, py=q_json, go=q_json, java=q_java, e=escape)


@dataclass(frozen=True)
class Snippet:
    key: str
    tier: str
    target: str
    title: str
    language: str
    filename: str
    description: str
    code: str


@dataclass(frozen=True)
class Section:
    tier: str
    title: str
    description: str
    snippets: list[Snippet]


@dataclass(frozen=True)
class Placeholder:
    name: str
    description: str
    secret: bool


@dataclass(frozen=True)
class Guide:
    product_id: uuid.UUID
    product_slug: str
    console_url: str
    metric: str
    endpoints: dict[str, str]
    plans: list[tuple[uuid.UUID, str]]  # (id, slug)
    gateway_tokens: list[str]  # display forms (name and prefix…last4), never the secret
    placeholders: list[Placeholder]
    sections: list[Section]


def console_url(url: str) -> str:
    """The console's public base URL, as gateways and SDKs reach it: plain http(s), no query,
    no credentials, nothing a shell, nginx or XML could read as syntax."""
    url = url.rstrip("/")
    parts = urlsplit(url)
    if not _SAFE_URL.match(url) or parts.username or parts.password:
        raise DomainError(
            "the console URL must be a plain http(s) URL", field="consoleUrl", code="INVALID"
        )
    return url


def endpoints(url: str) -> dict[str, str]:
    return {
        "events": f"{url}/v1/usage/events",
        "mcp": f"{url}/v1/usage/mcp",
        "upload": f"{url}/v1/usage/upload",
        "verify": f"{url}/v1/keys/verify",
        "graphql": f"{url}/graphql",
        **{
            g: f"{url}/v1/usage/gateways/{g}"
            for g in ("kong", "aws", "azure", "apigee", "mulesoft")
        },
    }


def render(spec: Spec, context: dict[str, Any]) -> str:
    return _env.get_template(spec.template).render(**context)


async def guide(session: AsyncSession, product_id: uuid.UUID, base_url: str) -> Guide:
    product = await session.scalar(select(Product).where(Product.id == product_id))
    if product is None:
        raise NotFound("no product with that id", field="productId")
    plans = (
        await session.scalars(select(Plan).where(Plan.product_id == product_id).order_by(Plan.slug))
    ).all()
    tokens = [
        f"{t.name} ({t.prefix}…{t.last4})"
        for t in await gateway_tokens.list_all(session)
        if t.revoked_at is None
    ]
    url = console_url(base_url)
    urls = endpoints(url)
    context = {
        "url": url,
        "endpoints": urls,
        "metric": METRIC,
        "product": {"id": str(product.id), "slug": product.slug},
    }
    sections = [
        Section(
            tier=tier,
            title=SECTIONS[tier][0],
            description=SECTIONS[tier][1],
            snippets=[
                Snippet(
                    key=s.key,
                    tier=s.tier,
                    target=s.target,
                    title=s.title,
                    language=s.language,
                    filename=s.filename,
                    description=s.description,
                    code=render(s, context),
                )
                for s in SPECS
                if s.tier == tier
            ],
        )
        for tier in TIERS
    ]
    return Guide(
        product_id=product.id,
        product_slug=product.slug,
        console_url=url,
        metric=METRIC,
        endpoints=urls,
        plans=[(p.id, p.slug) for p in plans],
        gateway_tokens=tokens,
        placeholders=[Placeholder(*p) for p in PLACEHOLDERS],
        sections=sections,
    )
