"""The GraphQL ASGI app: strawberry's own ASGI view, mounted directly (no FastAPI router on
the hot path), with credentials resolved before execution so a bad one is a clear 401/403."""

from __future__ import annotations

import json
from typing import Any

import orjson
from cross_web import HTTPException
from graphql import GraphQLError
from graphql.validation import ASTValidationRule
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema import Schema
from strawberry.types import ExecutionResult
from strawberry.types.base import StrawberryObjectDefinition

from aforo import graphql_exec
from aforo.db import is_unavailable
from aforo.errors import DomainError
from aforo.runtime.metrics import Metrics
from aforo.runtime.state import Runtime
from aforo.schema.context import Context
from aforo.tenancy.context import TenantContext

MAX_DEPTH = 12
MAX_TOKENS = 5000
MAX_ALIASES = 30


DB_UNAVAILABLE = "db_unavailable"


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
        name = self.execution_context.operation_name or "anonymous"
        op_type = self.execution_context.operation_type.value
        result = self.execution_context.result
        outcome = "error" if result is not None and getattr(result, "errors", None) else "ok"
        metrics.graphql_operations.labels(name, op_type, outcome).inc()
        metrics.graphql_latency.labels(name, op_type).observe(time.perf_counter() - start)


def _should_mask(error: GraphQLError) -> bool:
    original = error.original_error
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


# Validation rules beyond the specification's, checked once per document (the results are
# cached with it). Built once: every limiter instance creates new rule classes.
VALIDATION_RULES: tuple[type[ASTValidationRule], ...] = (
    *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
)


def build_schema(query: type, mutation: type, subscription: type | None = None) -> Schema:
    documents = graphql_exec.DocumentCache(max_tokens=MAX_TOKENS, rules=VALIDATION_RULES)
    built = Schema(
        query=query,
        mutation=mutation,
        subscription=subscription,
        extensions=[
            # Factories: a fresh extension per request around shared caches.
            lambda: graphql_exec.PreparedDocuments(documents),
            lambda: MaskErrors(should_mask_error=_should_mask, error_message=MASKED_MESSAGE),
            OperationMetrics,
            RequestTransaction,
        ],
    )
    built.execution_context_class = graphql_exec.for_schema(built)
    return built


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
            await super().__call__(scope, receive, send)
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
        await response(scope, receive, send)

    def decode_json(self, data: str | bytes) -> object:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            return super().decode_json(data)  # what orjson refuses (NaN, huge ints) as before

    def encode_json(self, data: object) -> str:
        try:  # a tenth of json.dumps' time on a page of 100 items
            return orjson.dumps(data).decode()
        except TypeError:  # what orjson cannot encode (ints past 64 bits) as before
            return json.dumps(data, separators=(",", ":"))

    def parse_json(self, data: str | bytes) -> Any:
        parsed = super().parse_json(data)
        if not isinstance(parsed, dict | list):  # strawberry assumes one or the other
            raise HTTPException(400, "the body must be a JSON object: {query, variables}")
        return parsed

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        for error in getattr(result, "errors", None) or ():
            with_code(error)
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
        return None


def is_object_type(t: Any) -> bool:
    return isinstance(getattr(t, "__strawberry_definition__", None), StrawberryObjectDefinition)
