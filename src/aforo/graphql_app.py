"""The GraphQL ASGI app: strawberry's own ASGI view, mounted directly (no FastAPI router on
the hot path), with credentials resolved before execution so a bad one is a clear 401/403."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema import Schema
from strawberry.types.base import StrawberryObjectDefinition

from aforo.errors import DomainError
from aforo.runtime.metrics import Metrics
from aforo.runtime.state import Runtime
from aforo.schema.context import Context
from aforo.tenancy.context import TenantContext

MAX_DEPTH = 12
MAX_TOKENS = 5000
MAX_ALIASES = 30


def _error_body(e: DomainError) -> dict[str, Any]:
    return {"errors": [{"message": e.message, "extensions": {"code": e.code}}], "data": None}


class RequestTransaction(SchemaExtension):
    """Commits the request's transaction when the operation succeeded, rolls back otherwise."""

    async def on_execute(self):  # type: ignore[no-untyped-def]
        yield
        ctx = self.execution_context.context
        if isinstance(ctx, Context):
            result = self.execution_context.result
            ok = result is not None and not getattr(result, "errors", None)
            await ctx.finish(ok=ok)


class OperationMetrics(SchemaExtension):
    async def on_execute(self):  # type: ignore[no-untyped-def]
        import time

        start = time.perf_counter()
        yield
        ctx = self.execution_context.context
        metrics: Metrics | None = (
            ctx.runtime.extra.get("metrics") if isinstance(ctx, Context) else None
        )
        if metrics is None:
            return
        name = self.execution_context.operation_name or "anonymous"
        op_type = self.execution_context.operation_type.value
        result = self.execution_context.result
        outcome = "error" if result is not None and getattr(result, "errors", None) else "ok"
        metrics.graphql_operations.labels(name, op_type, outcome).inc()
        metrics.graphql_latency.labels(name, op_type).observe(time.perf_counter() - start)


def _should_mask(error: GraphQLError) -> bool:
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError | DomainError)


def build_schema(query: type, mutation: type, subscription: type | None = None) -> Schema:
    return Schema(
        query=query,
        mutation=mutation,
        subscription=subscription,
        extensions=[
            # Factories: a fresh extension per request; the parse/validation LRU caches are
            # module-level in strawberry, so they are still shared.
            lambda: ParserCache(maxsize=1000),
            lambda: ValidationCache(maxsize=1000),
            lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
            lambda: MaskErrors(
                should_mask_error=_should_mask, error_message="Internal server error."
            ),
            OperationMetrics,
            RequestTransaction,
        ],
    )


def _ws_credentials(params: dict[str, Any]) -> tuple[str | None, str | None]:
    def pick(*names: str) -> str | None:
        for n in names:
            v = params.get(n)
            if isinstance(v, str) and v:
                return v
        return None

    storefront = pick("X-Storefront-Key", "x-storefront-key", "storefrontKey")
    auth = pick("Authorization", "authorization")
    if auth is None and (token := pick("token", "accessToken")):
        auth = f"Bearer {token}"
    return storefront, auth


class GraphQLApp(GraphQL[Context, None]):
    def __init__(self, schema: Schema, holder: dict[str, Runtime], **kwargs: Any) -> None:
        super().__init__(schema, **kwargs)
        self._holder = holder

    @property
    def runtime(self) -> Runtime:
        return self._holder["runtime"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope, receive)
            try:
                tenant = await self.runtime.auth.resolve_headers(request.headers)
            except DomainError as e:
                await JSONResponse(_error_body(e), status_code=e.status)(scope, receive, send)
                return
            scope.setdefault("state", {})["tenant"] = tenant
        await super().__call__(scope, receive, send)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        tenant: TenantContext | None = request.scope.get("state", {}).get("tenant")
        return Context(runtime=self.runtime, request=request, tenant=tenant)

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:
        storefront, auth = _ws_credentials(context.connection_params or {})
        headers = context.request.headers
        storefront = storefront or headers.get("x-storefront-key")
        auth = auth or headers.get("authorization")
        try:
            context.tenant = await self.runtime.auth.resolve(storefront, auth)
        except DomainError as e:
            raise ConnectionRejectionError({"code": e.code, "message": e.message}) from e
        return None


def is_object_type(t: Any) -> bool:
    return isinstance(getattr(t, "__strawberry_definition__", None), StrawberryObjectDefinition)
