"""Key-vault test kit, shared by the domains that need a gateway in front of an API:
GraphQL factories for products, plans, subscriptions, API keys and gateway tokens; a SQL
statement counter; nginx with ``auth_request`` to our verify endpoint, in front of a small
local upstream; uvicorn-served apps (``tests.services.AppServer``)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aforo.app import create_app
from aforo.config import Settings
from aforo.runtime.postgres import free_port
from tests.services import AppServer, wait_port
from tests.support import Api, TenantFixture, make_tenant

KEY_FIELDS = """id name format status prefix last4 clientId createdAt lastUsedAt expiresAt
                revokedAt rotatedAt replacedById subscriptions { id status }"""


async def ok(api: Api, query: str, variables: dict[str, Any], field: str, **kw: Any) -> Any:
    """Run a mutation and return its payload, failing on a ``UserError``."""
    data = await api.data(query, variables, **kw)
    payload = data[field]
    assert payload.get("__typename") != "UserError", payload
    return payload


async def create_product(api: Api, admin: str, slug: str = "weather") -> str:
    p = await ok(
        api,
        """mutation($i: CreateProductInput!) { createProduct(input: $i) {
             __typename ... on Product { id } ... on UserError { code message field } } }""",
        {"i": {"name": slug.title(), "slug": slug, "description": "Forecasts"}},
        "createProduct",
        token=admin,
    )
    return str(p["id"])


async def create_plan(api: Api, admin: str, product_id: str, **over: Any) -> str:
    i = {
        "productId": product_id,
        "name": "Starter",
        "slug": "starter",
        "priceCents": 1900,
        "currency": "USD",
        "interval": "MONTH",
        "monthlyQuota": 10000,
        "rateLimitPerMinute": 60,
        **over,
    }
    p = await ok(
        api,
        """mutation($i: CreatePlanInput!) { createPlan(input: $i) {
             __typename ... on Plan { id } ... on UserError { code message field } } }""",
        {"i": i},
        "createPlan",
        token=admin,
    )
    return str(p["id"])


async def subscribe(api: Api, token: str, plan_id: str) -> str:
    s = await ok(
        api,
        """mutation($p: ID!) { subscribe(planId: $p) {
             __typename ... on Subscription { id } ... on UserError { code message field } } }""",
        {"p": plan_id},
        "subscribe",
        token=token,
    )
    return str(s["id"])


async def create_key(
    api: Api, token: str, subscription_id: str, *, fmt: str = "BEARER_TOKEN", **over: Any
) -> dict[str, Any]:
    """Returns ``{apiKey, secret, clientId}``."""
    result: dict[str, Any] = await ok(
        api,
        f"""mutation($i: CreateApiKeyInput!) {{ createApiKey(input: $i) {{
             __typename ... on ApiKeyCreated {{ secret clientId apiKey {{ {KEY_FIELDS} }} }}
             ... on UserError {{ code message field }} }} }}""",
        {"i": {"subscriptionId": subscription_id, "name": "ci", "format": fmt, **over}},
        "createApiKey",
        token=token,
    )
    return result


async def rotate_key(api: Api, token: str, key_id: str, grace: int | None = None) -> dict[str, Any]:
    """Returns ``{apiKey, secret, clientId, previousKeyExpiresAt}``."""
    args = "id: $id" + (", graceSeconds: $g" if grace is not None else "")
    decl = "$id: ID!" + (", $g: Int!" if grace is not None else "")
    result: dict[str, Any] = await ok(
        api,
        f"""mutation({decl}) {{ rotateApiKey({args}) {{
             __typename ... on ApiKeyRotated {{ secret clientId previousKeyExpiresAt
                                                 apiKey {{ {KEY_FIELDS} }} }}
             ... on UserError {{ code message field }} }} }}""",
        {"id": key_id, **({"g": grace} if grace is not None else {})},
        "rotateApiKey",
        token=token,
    )
    return result


async def revoke_key(api: Api, token: str, key_id: str) -> dict[str, Any]:
    result: dict[str, Any] = await ok(
        api,
        """mutation($id: ID!) { revokeApiKey(id: $id) {
             __typename ... on ApiKey { id status revokedAt }
             ... on UserError { code message field } } }""",
        {"id": key_id},
        "revokeApiKey",
        token=token,
    )
    return result


async def cancel(api: Api, token: str, subscription_id: str) -> dict[str, Any]:
    result: dict[str, Any] = await api.data(
        """mutation($id: ID!) { cancelSubscription(id: $id) {
             __typename ... on Subscription { id status cancelledAt }
             ... on UserError { code message field } } }""",
        {"id": subscription_id},
        token=token,
    )
    return dict(result["cancelSubscription"])


async def create_gateway_token(api: Api, admin: str) -> str:
    r = await ok(
        api,
        """mutation { createGatewayToken(name: "edge") { __typename
             ... on GatewayTokenCreated { secret } ... on UserError { code message } } }""",
        {},
        "createGatewayToken",
        token=admin,
    )
    return str(r["secret"])


@dataclass
class KeyWorld:
    """A tenant with a product, a plan, a subscribed developer, a key and a gateway token."""

    tenant: TenantFixture
    admin: str
    dev: str
    dev_id: str
    product_id: str
    plan_id: str
    subscription_id: str
    key_id: str
    key: str  # the raw secret
    gateway: str


async def make_key_world(
    api: Api, *, name: str = "Acme", email: str = "dev@example.com"
) -> KeyWorld:
    tenant = await make_tenant(api.settings, name)
    admin = await api.admin_token(tenant)
    product = await create_product(api, admin)
    plan = await create_plan(api, admin, product)
    dev = await api.sign_up(tenant, email)
    sub = await subscribe(api, dev["accessToken"], plan)
    created = await create_key(api, dev["accessToken"], sub)
    gateway = await create_gateway_token(api, admin)
    return KeyWorld(
        tenant,
        admin,
        dev["accessToken"],
        dev["user"]["id"],
        product,
        plan,
        sub,
        created["apiKey"]["id"],
        created["secret"],
        gateway,
    )


async def verify(api: Api, gateway: str, key: str) -> tuple[int, dict[str, Any]]:
    r = await api.client.post(
        "/v1/keys/verify", json={"key": key}, headers={"Authorization": f"Bearer {gateway}"}
    )
    return r.status_code, r.json()


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Api]:
    """Another instance of the service (its own caches and lifespan) on ``settings``."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://i") as c,
    ):
        yield Api(c, settings)


@contextmanager
def statements(app: FastAPI) -> Iterator[list[str]]:
    """Every SQL statement the app runs inside the block: through its engine, and through the
    key verifier's bare lookup pool."""
    engine = app.state.runtime.maker.kw["bind"].sync_engine
    lookups = app.state.key_verifier.lookups.observers
    seen: list[str] = []

    def hook(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", hook)
    lookups.append(seen.append)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", hook)
        lookups.remove(seen.append)


def app_of(api: Api) -> FastAPI:
    """The app behind an in-process test client."""
    app: FastAPI = api.client._transport.app  # type: ignore[attr-defined]
    return app


def key_reads(seen: list[str]) -> list[str]:
    """The statements among ``seen`` that read an API key (by hash or by id)."""
    return [s for s in seen if "api_key_state" in s or "FROM api_keys" in s]


def queries(seen: list[str]) -> list[str]:
    """The statements that are not the per-transaction tenant binding."""
    return [s for s in seen if "set_config('app.tenant_id'" not in s]


# -- a real gateway ---------------------------------------------------------------------------
async def _echo(request: Request) -> JSONResponse:
    return JSONResponse({"path": request.url.path, "headers": dict(request.headers)})


def upstream_app() -> Starlette:
    """The API behind the gateway: echoes what reached it."""
    return Starlette(routes=[Route("/{path:path}", _echo, methods=["GET", "POST"])])


NGINX_CONF = """
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            auth_request /_aforo_verify;
            auth_request_set $aforo_key_id $upstream_http_x_aforo_key_id;
            auth_request_set $aforo_plan $upstream_http_x_aforo_plan;
            proxy_set_header X-Aforo-Key-Id $aforo_key_id;
            proxy_set_header X-Aforo-Plan $aforo_plan;
            proxy_set_header Authorization "";
            proxy_pass http://127.0.0.1:{upstream};
        }}
        location = /_aforo_verify {{
            internal;
            proxy_method POST;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Gateway-Token "{gateway_token}";
            proxy_pass {verify_url}/v1/keys/verify;
        }}
    }}
}}
"""


class Nginx:
    """nginx (from apt) on a free loopback port: ``auth_request`` to our verify endpoint with
    a gateway token, then proxies to the upstream. The client's ``Authorization: Bearer <key>``
    reaches the verify subrequest and is stripped before the upstream."""

    def __init__(self, *, verify_url: str, upstream_port: int, gateway_token: str) -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            raise RuntimeError("nginx is not installed (apt-get install nginx-light)")
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="aforo-nginx-"))
        self.port = free_port()
        self.conf = self.dir / "nginx.conf"
        self.conf.write_text(
            NGINX_CONF.format(
                dir=self.dir,
                port=self.port,
                upstream=upstream_port,
                verify_url=verify_url,
                gateway_token=gateway_token,
            )
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Nginx:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "-p",
                str(self.dir),
                "-c",
                str(self.conf),
                "-e",
                str(self.dir / "error.log"),
                "-g",
                "daemon off;",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_port(self.port, timeout=10)
        except TimeoutError:
            self.proc.kill()
            _, err = self.proc.communicate()
            raise RuntimeError(f"nginx did not start: {err.decode()}") from None
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def gateway(app: FastAPI, gateway_token: str) -> Iterator[Nginx]:
    """nginx in front of an echoing upstream, verifying keys against ``app`` served by uvicorn."""
    service = AppServer(app).start()
    upstream = AppServer(upstream_app()).start()
    nginx = Nginx(
        verify_url=service.url, upstream_port=upstream.port, gateway_token=gateway_token
    ).start()
    try:
        yield nginx
    finally:
        nginx.stop()
        upstream.stop()
        service.stop()
