"""The GraphQL ASGI app: strawberry's own ASGI view, mounted directly (no FastAPI router on
the hot path), with credentials resolved before execution so a bad one is a clear 401/403."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema import Schema
from strawberry.types import ExecutionResult
from strawberry.types.base import StrawberryObjectDefinition

from aforo.db import is_unavailable, is_unstorable_text
from aforo.errors import DomainError
from aforo.graphql_limits import OperationChecks
from aforo.runtime.metrics import Metrics
from aforo.runtime.state import Runtime
from aforo.runtime.tasks import stop_tasks
from aforo.runtime.throttle import RateLimited
from aforo.schema.context import Context
from aforo.services.authz import authz
from aforo.tenancy.context import PrincipalKind, TenantContext
from aforo.text import CODE as TEXT_CODE

MAX_DEPTH = 12
MAX_TOKENS = 5000
MAX_ALIASES = 30


DB_UNAVAILABLE = "db_unavailable"
_WATCHER = "authz_watcher"
RETRY_AFTER = "retry_after"


def unavailable_response() -> JSONResponse:
    """Nothing was committed; the client may retry the same request."""
    err = DomainError("the database is unavailable; retry shortly", code="SERVICE_UNAVAILABLE")
    body = _error_body(err)
    body["errors"][0]["extensions"]["retryable"] = True
    return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})


MAX_BODY_BYTES = 256 * 1024  # queries and variables; files go to the REST upload endpoints


class PayloadTooLarge(DomainError):
    code = "PAYLOAD_TOO_LARGE"
    status = 413


_TOO_LARGE = PayloadTooLarge(f"request body over {MAX_BODY_BYTES} bytes")


def _limited(receive: Receive, limit: int) -> Receive:
    """Count body bytes as they stream in (chunked requests declare no length)."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TOO_LARGE
        return message

    return wrapped


def _error_body(e: DomainError) -> dict[str, Any]:
    return {"errors": [{"message": e.message, "extensions": {"code": e.code}}], "data": None}


class RequestTransaction(SchemaExtension):
    """Commits the request's transaction when the operation succeeded, rolls back otherwise.
    A database that is down or restarting turns the whole response into a retryable 503."""

    async def on_execute(self):  # type: ignore[no-untyped-def]
        yield
        ctx = self.execution_context.context
        if not isinstance(ctx, Context):
            return
        result = self.execution_context.result
        errors = list(getattr(result, "errors", None) or [])
        unavailable = any(is_unavailable(e.original_error) for e in errors)
        try:
            await ctx.finish(ok=result is not None and not errors)
        except Exception as e:
            if not is_unavailable(e):
                raise
            unavailable = True
        if unavailable:
            ctx.request.scope.setdefault("state", {})[DB_UNAVAILABLE] = True


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
        name = metrics.operation(self.execution_context.operation_name)
        op_type = self.execution_context.operation_type.value
        result = self.execution_context.result
        outcome = "error" if result is not None and getattr(result, "errors", None) else "ok"
        metrics.graphql_operations.labels(name, op_type, outcome).inc()
        metrics.graphql_latency.labels(name, op_type).observe(time.perf_counter() - start)


def _should_mask(error: GraphQLError) -> bool:
    original = error.original_error
    if is_unstorable_text(original):
        return False  # the input's fault: answered by ``with_code``, never with the SQL
    return original is not None and not isinstance(original, GraphQLError | DomainError)


MASKED_MESSAGE = "Internal server error."
# graphql-core and strawberry's limiters report these as plain validation/syntax errors; a
# client needs to tell "refused by a limit" from "malformed" without parsing English.
_LIMIT_CODES = (
    ("tokens. Parsing aborted", "QUERY_TOO_LARGE"),
    ("exceeds maximum operation depth", "QUERY_TOO_DEEP"),
    ("aliases found. Allowed", "TOO_MANY_ALIASES"),
    ("Maximum introspection depth exceeded", "INTROSPECTION_TOO_DEEP"),
)


def with_code(error: GraphQLError) -> GraphQLError:
    """Give every error a stable ``extensions.code`` (and the offending ``field`` when a
    ``DomainError`` names one), whichever layer raised it."""
    ext = dict(error.extensions or {})
    if isinstance(ext.get("code"), str):
        return error
    original = error.original_error
    if isinstance(original, DomainError):
        ext["code"] = original.code
        if original.field:
            ext["field"] = original.field
        if isinstance(original, RateLimited):
            ext["retryAfter"] = original.retry_after
    elif is_unstorable_text(original):
        error.message = "the input holds a character that cannot be stored (NUL)"
        ext["code"] = TEXT_CODE
    elif error.message == MASKED_MESSAGE:
        ext["code"] = "INTERNAL_SERVER_ERROR"
    else:
        code = next((c for text, c in _LIMIT_CODES if text in error.message), None)
        if code is None:
            syntax = error.message.startswith("Syntax Error")
            code = "GRAPHQL_PARSE_FAILED" if syntax else "GRAPHQL_VALIDATION_FAILED"
        ext["code"] = code
    error.extensions = ext
    return error


def build_schema(query: type, mutation: type, subscription: type | None = None) -> Schema:
    # The validation cache is keyed by the rule classes, and every limiter instance creates
    # new ones: built per request, they made every request validate again. Build the rules
    # once and add the same classes to each request.
    depth_rules = QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules
    alias_rules = MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules
    return Schema(
        query=query,
        mutation=mutation,
        subscription=subscription,
        extensions=[
            # Factories: a fresh extension per request; the parse/validation LRU caches are
            # module-level in strawberry, so they are still shared.
            lambda: ParserCache(maxsize=1000),
            lambda: ValidationCache(maxsize=1000),
            lambda: AddValidationRules(depth_rules),
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            lambda: AddValidationRules(alias_rules),
            lambda: MaskErrors(should_mask_error=_should_mask, error_message=MASKED_MESSAGE),
            OperationChecks,  # text inputs and the static cost, before anything runs
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
        if scope["type"] != "http":
            try:
                await super().__call__(scope, receive, send)
            finally:
                watcher = scope.get("state", {}).pop(_WATCHER, None)
                if watcher is not None:
                    await stop_tasks([watcher])
            return
        try:
            await self._http(scope, receive, send)
        except DomainError as e:
            await JSONResponse(_error_body(e), status_code=e.status)(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            raise _TOO_LARGE
        # Credentials first: a bad one is a clear 401/403 before any parsing.
        tenant = await self.runtime.auth.resolve_headers(request.headers)
        scope.setdefault("state", {})["tenant"] = tenant
        request = Request(scope, _limited(receive, MAX_BODY_BYTES))
        try:
            response = await self.run(request)
        except HTTPException as e:  # malformed JSON, batches, wrong method …
            err = DomainError(e.reason, code="BAD_REQUEST")
            response = JSONResponse(_error_body(err), status_code=e.status_code)
        if scope["state"].get(DB_UNAVAILABLE):
            response = unavailable_response()
        elif (retry := scope["state"].get(RETRY_AFTER)) is not None:
            # Throttled: a 429 a client (and a proxy) understands without reading the body;
            # the body still names the code and the seconds to wait.
            response.status_code = 429
            response.headers["Retry-After"] = str(retry)
        await response(scope, receive, send)

    def parse_json(self, data: str | bytes) -> Any:
        try:
            parsed = super().parse_json(data)
        except RecursionError as e:  # thousands of nested brackets
            raise HTTPException(400, "the JSON is nested too deeply") from e
        except ValueError as e:  # not UTF-8
            raise HTTPException(400, "Unable to parse request body as JSON") from e
        if not isinstance(parsed, dict | list):  # strawberry assumes one or the other
            raise HTTPException(400, "the body must be a JSON object: {query, variables}")
        return parsed

    def encode_json(self, data: object) -> str | bytes:
        body = super().encode_json(data)
        limit = self.runtime.settings.max_response_bytes
        if len(body) > limit:
            err = DomainError(
                f"the response would be larger than {limit} bytes; ask for less (smaller "
                "pages, fewer fields)",
                code="RESPONSE_TOO_LARGE",
            )
            return super().encode_json(_error_body(err))
        return body

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        for error in getattr(result, "errors", None) or ():
            with_code(error)
            if isinstance(error.original_error, RateLimited):
                state = request.scope.setdefault("state", {})
                state[RETRY_AFTER] = max(
                    state.get(RETRY_AFTER, 0), error.original_error.retry_after
                )
        return await super().process_result(request, result)

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
        if context.tenant is not None and context.tenant.kind is PrincipalKind.USER:
            # Closed (code and reason) when the token expires, the session ends or the
            # caller's roles change: a live connection is not a way around current authz.
            ws = context.request
            assert isinstance(ws, WebSocket)

            async def close(code: int, reason: str) -> None:
                with contextlib.suppress(RuntimeError, OSError):  # already closing
                    await ws.close(code=code, reason=reason)

            watcher = asyncio.create_task(authz(self.runtime).watch(context.tenant, close))
            ws.scope.setdefault("state", {})[_WATCHER] = watcher
        return None


def is_object_type(t: Any) -> bool:
    return isinstance(getattr(t, "__strawberry_definition__", None), StrawberryObjectDefinition)
