"""``create_app()``: FastAPI for the REST side, strawberry's ASGI app mounted at /graphql."""

from __future__ import annotations

import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from strawberry.schema import Schema
from strawberry.tools import merge_types

from aforo import migrate
from aforo.config import Settings
from aforo.db import create_engine, is_unavailable, is_unstorable_text, sessionmaker
from aforo.errors import DomainError, Unauthenticated, ValidationFailed, snake_field
from aforo.graphql_app import GraphQLApp, build_schema, challenge, unavailable_response
from aforo.ingest import lifecycle as usage_lifecycle
from aforo.ingest import routes as usage_routes
from aforo.ingest import upload as usage_upload
from aforo.resolvers import (
    account_settings,
    accounts,
    api_keys,
    billing,
    docs,
    edge,
    forum,
    gateway_tokens,
    integration,
    invoices,
    mail,
    moderation,
    playground,
    sessions,
    specs,
    teams,
    tenants,
    totp,
    usage,
    verification,
)
from aforo.rest import billing as rest_billing
from aforo.rest import keys
from aforo.rest import specs as rest_specs
from aforo.runtime import processes
from aforo.runtime.metrics import Metrics, MetricsMiddleware, Timed
from aforo.runtime.outbound import POLICY_KEY, Policy
from aforo.runtime.pgcache import PgCache
from aforo.runtime.relay import OutboxRelay
from aforo.runtime.state import Runtime
from aforo.runtime.throttle import EXTRA_KEY as THROTTLE
from aforo.runtime.throttle import RateLimited, Throttle
from aforo.services import authz, edge_policy, playground_runs
from aforo.services.mail import dispatcher as mail_dispatcher
from aforo.tenancy.auth import Authenticator
from aforo.tenancy.signing import KeyRing
from aforo.text import CODE as TEXT_CODE
from aforo.web import openapi, pages, portal
from aforo.web.cors import CORSMiddleware
from aforo.web.hygiene import HygieneMiddleware

log = logging.getLogger(__name__)

# One line per domain: the root types are merged into one tenant-scoped schema.
QUERIES: tuple[type, ...] = (
    tenants.Query,
    accounts.Query,
    gateway_tokens.Query,
    billing.Query,
    invoices.Query,
    api_keys.Query,
    forum.Query,
    moderation.Query,
    docs.Query,
    specs.Query,
    usage.Query,
    playground.Query,
    integration.Query,
    totp.Query,
    sessions.Query,
    account_settings.Query,
    mail.Query,
    teams.Query,
    edge.Query,
)
MUTATIONS: tuple[type, ...] = (
    tenants.Mutation,
    accounts.Mutation,
    gateway_tokens.Mutation,
    billing.Mutation,
    invoices.Mutation,
    api_keys.Mutation,
    forum.Mutation,
    moderation.Mutation,
    docs.Mutation,
    specs.Mutation,
    playground.Mutation,
    verification.Mutation,
    totp.Mutation,
    sessions.Mutation,
    account_settings.Mutation,
    mail.Mutation,
    teams.Mutation,
    edge.Mutation,
    usage.Mutation,
)
SUBSCRIPTIONS: tuple[type, ...] = (forum.Subscription, playground.Subscription)
# REST side-endpoints: one APIRouter per domain module under aforo.rest / aforo.ingest.
ROUTERS: tuple[APIRouter, ...] = (
    keys.router,
    usage_routes.router,
    usage_upload.router,
    rest_specs.router,
    rest_billing.router,
)
# Hot paths as plain Starlette routes (no FastAPI dependency layer), one entry per module.
STARLETTE_ROUTES: tuple[Route, ...] = (*keys.ROUTES,)
# Background parts a domain runs for the app's lifetime: called with (runtime, app.state),
# entered after the runtime is built and exited before it is torn down.
LIFESPANS: tuple[Callable[[Runtime, Any], contextlib.AbstractAsyncContextManager[None]], ...] = (
    keys.lifespan,
    authz.lifespan,  # after keys: it rides the key verifier's invalidation channel
    usage_lifecycle.lifespan,
    rest_specs.lifespan,
    playground_runs.lifespan,
    rest_billing.lifespan,
    mail_dispatcher.lifespan,
    edge_policy.lifespan,
)


class HotPathApp(FastAPI):
    """FastAPI, with ``STARLETTE_ROUTES`` matched before its middleware stack: hot paths skip
    the telemetry, body-limit, exception, exit-stack and metrics layers (measured: a third of
    a cache-hit verification, and the metrics wrapper another tenth). They handle their own
    errors and count themselves in ``request_metrics``."""

    request_metrics: Timed | None = None
    outbound_policy: Policy | None = None
    _servers: frozenset[Any] = frozenset()
    # Hot routes by (path, method): one dict lookup per request (they take no path parameters).
    hot_exact: dict[tuple[str, str], Route] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        if server and server not in self._servers and len(self._servers) < 64:
            # An address this service answers on: outbound fetches must never reach it.
            self._servers = self._servers | {server}
            if self.outbound_policy is not None and isinstance(server[1], int):
                self.outbound_policy.note_listener(str(server[0]), server[1])
        if scope["type"] == "http":
            exact = self.hot_exact.get((scope["path"], scope["method"]))
            if exact is not None:
                scope["app"], scope["route"] = self, exact
                await exact.app(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def schema() -> Schema:
    query = merge_types("Query", QUERIES)
    mutation = merge_types("Mutation", MUTATIONS)
    # Not named "Subscription": that is billing's type (a developer's plan subscription).
    subscription = merge_types("RootSubscription", SUBSCRIPTIONS) if SUBSCRIPTIONS else None
    return build_schema(query, mutation, subscription)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    if not settings.database_url:
        raise RuntimeError("AFORO_DATABASE_URL is not set (aforo serve launches a database)")
    holder: dict[str, Runtime] = {}
    metrics = Metrics()
    policy = Policy.from_settings(
        settings.outbound_allow, settings.outbound_deny, settings.host, settings.port
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        assert settings.database_url
        engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
        maker = sessionmaker(engine, info={POLICY_KEY: policy})
        cache, bus, shared = await processes.shared_parts(settings, engine)
        ring = KeyRing.load(settings.keys_dir)
        runtime = Runtime(
            settings=settings,
            maker=maker,
            auth=Authenticator(ring, maker, cache, settings.issuer),
            cache=cache,
            bus=bus,
            shared=shared,
            extra={
                "metrics": metrics,
                THROTTLE: Throttle(
                    settings.redis_url,
                    settings.rate_limits,
                    # Several workers without Redis count in PostgreSQL, as one.
                    postgres=shared if isinstance(shared, PgCache) else None,
                ),
            },
        )
        relay = None
        if settings.kafka_bootstrap:
            relay = OutboxRelay(maker, settings.kafka_bootstrap, poll_s=settings.outbox_poll_s)
            relay.start()
            runtime.extra["relay"] = relay
        holder["runtime"] = runtime
        app.state.runtime = runtime
        try:
            async with contextlib.AsyncExitStack() as domains:
                for domain_lifespan in LIFESPANS:
                    await domains.enter_async_context(domain_lifespan(runtime, app.state))
                processes.settle_heap()
                yield
        finally:
            if relay is not None:
                await relay.stop()
            await runtime.extra[THROTTLE].close()
            await bus.close()
            if shared is not cache:
                await shared.close()
            await cache.close()
            await engine.dispose()

    app = HotPathApp(
        title="Aforo Console",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # the REST reference is served with local assets (aforo.web.pages)
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.assets_dir = settings.ui_assets_dir
    app.state.portal_dir = portal.build_dir(settings.portal_dir)

    @app.exception_handler(DomainError)
    async def domain_error(_: Any, exc: DomainError) -> JSONResponse:
        # An expected refusal: one line at INFO, no traceback (ERROR is for our bugs).
        log.info("refused %s: %s", exc.code, exc.message)
        body: dict[str, Any] = {"code": exc.code, "message": exc.message}
        if exc.field:
            body["field"] = snake_field(exc.field)
        headers = {"Cache-Control": "no-store"}
        if isinstance(exc, Unauthenticated):
            headers["WWW-Authenticate"] = challenge(exc.code, exc.message)
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(exc.retry_after)
        return JSONResponse({"error": body}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(_: Any, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own parameter checks answer in the same shape as every other refusal.
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("query", "header", "body")]
        return await domain_error(
            None, ValidationFailed(str(first.get("msg", "invalid request")), field=".".join(loc))
        )

    @app.exception_handler(SQLAlchemyError)
    # A refused or timed-out connect escapes SQLAlchemy unwrapped: the same retryable 503.
    @app.exception_handler(ConnectionError)
    @app.exception_handler(TimeoutError)
    async def database_error(_: Any, exc: Exception) -> JSONResponse:
        if is_unavailable(exc):
            return unavailable_response()
        if is_unstorable_text(exc):  # a NUL deep in a document no validator looked into
            refused = ValidationFailed(
                "the input holds a character that cannot be stored (NUL)", code=TEXT_CODE
            )
            return await domain_error(None, refused)
        raise exc

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        runtime = holder["runtime"]
        head = migrate.head_revision()
        try:
            async with runtime.maker() as s:
                current = await s.scalar(text("select version_num from alembic_version"))
        except Exception as e:  # the database is the dependency being probed
            return JSONResponse(
                {"status": "unavailable", "database": f"unreachable: {type(e).__name__}"},
                status_code=503,
            )
        ready = current == head
        return JSONResponse(
            {"status": "ready" if ready else "migrating", "revision": current, "head": head},
            status_code=200 if ready else 503,
        )

    async def metrics_endpoint(request: Request) -> Response:
        token = settings.metrics_token
        if token and not hmac.compare_digest(
            request.headers.get("authorization", "").encode(), f"Bearer {token}".encode()
        ):
            body = {"code": "UNAUTHENTICATED", "message": "send Authorization: Bearer <token>"}
            return JSONResponse(
                {"error": body}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    # AFORO_METRICS_LISTEN moves /metrics to a listener of its own (``runtime/server.py``).
    app.state.metrics_app = Starlette(routes=[Route("/metrics", metrics_endpoint)])
    if settings.metrics_listen:
        m_host, _, m_port = settings.metrics_listen.rpartition(":")
        policy.note_listener(m_host.strip("[]") or "127.0.0.1", int(m_port))
    else:
        app.add_api_route("/metrics", metrics_endpoint, methods=["GET"], tags=["ops"])

    @app.get("/.well-known/jwks.json", tags=["auth"])
    async def jwks() -> JSONResponse:
        return JSONResponse(
            holder["runtime"].auth.ring.jwks(),
            headers={"Cache-Control": "public, max-age=300"},
        )

    for router in ROUTERS:
        app.include_router(router)
    app.router.routes[0:0] = STARLETTE_ROUTES  # also routable the ordinary way (OPTIONS, 405)
    graphql = GraphQLApp(
        schema(), holder, ide=lambda request: pages.graphiql(request, settings.ui_assets_dir)
    )
    # Plain ASGI, matched first: the busiest route should not be tried after every REST one.
    app.router.routes[0:0] = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
    ]
    app.router.routes.extend(pages.ROUTES)
    app.router.routes.extend(portal.ROUTES)
    openapi.install(app)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(CORSMiddleware, holder=holder)  # browser routes only
    app.add_middleware(HygieneMiddleware)  # outermost: headers and compression on everything
    app.request_metrics = metrics.http
    app.outbound_policy = policy
    hot: dict[tuple[str, str], Route] = {}
    for r in STARLETTE_ROUTES:
        if r.param_convertors:  # matched by path alone, below
            raise TypeError(f"hot route {r.path} must take no path parameters")
        hot.update(((r.path, m), r) for m in r.methods or ())
    app.hot_exact = hot
    return app
