"""The GraphQL ASGI app: strawberry's own ASGI view, mounted directly (no FastAPI router on
the hot path), with credentials resolved before execution so a bad one is a clear 401/403."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
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
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.websocket_origin import is_same_origin
from strawberry.schema import Schema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import (
    GRAPHQL_SSE_PROTOCOL,
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GRAPHQL_WS_PROTOCOL,
    MULTIPART_SUBSCRIPTION_PROTOCOL,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import (
    CompleteMessage,
    ConnectionErrorMessage,
    ConnectionInitMessage,
    ErrorMessage,
)
from strawberry.types import ExecutionResult
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType as StrawberryOperation

from aforo import graphql_exec
from aforo.db import is_unavailable, is_unstorable_text
from aforo.errors import DomainError, Forbidden, Unauthenticated
from aforo.graphql_limits import OperationChecks
from aforo.runtime.metrics import Metrics
from aforo.runtime.state import Runtime
from aforo.runtime.tasks import stop_tasks
from aforo.runtime.throttle import RateLimited
from aforo.schema.context import Context
from aforo.services import edge_policy, persisted
from aforo.services.authz import authz
from aforo.services.edge import document_hash, parse_origin
from aforo.tenancy.auth import STOREFRONT_HEADER
from aforo.tenancy.context import PrincipalKind, Role, TenantContext
from aforo.tenancy.hashing import sha256
from aforo.text import CODE as TEXT_CODE
from aforo.web.negotiation import qvalues

log = logging.getLogger(__name__)
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


def _dumps(data: object) -> str:
    try:  # a tenth of json.dumps' time on a page of 100 items
        return orjson.dumps(data).decode()
    except TypeError:  # what orjson cannot encode (ints past 64 bits) as before
        return json.dumps(data, separators=(",", ":"))


def _error_body(e: DomainError) -> dict[str, Any]:
    # A request error: nothing was executed, so the response has no "data" entry.
    ext: dict[str, Any] = {"code": e.code}
    if e.field:
        ext["field"] = e.field
    return {"errors": [{"message": e.message, "extensions": ext}]}


# -- GraphQL over HTTP: media types and status codes -------------------------------------------
GRAPHQL_RESPONSE = "application/graphql-response+json"
_STATE_GRJ = "graphql_response_json"
_STATE_REQUEST_ERROR = "graphql_request_error"
_STATE_ERRORS = "graphql_errors"
_STATE_CHALLENGE = "graphql_challenge"
CREDENTIAL_CODES = frozenset({"UNAUTHENTICATED", "INVALID_TOKEN", "TOKEN_EXPIRED"})


class GraphQLRequestError(DomainError):
    """A well-formed request that is not executed (persisted-query misses, a document the
    tenant does not trust, a subscription without a stream): an error in the GraphQL body;
    HTTP 200 under application/json, 400 under application/graphql-response+json."""

    status = 400


def wants_graphql_response(accept: str | None) -> bool:
    """GraphQL-over-HTTP: answer ``application/graphql-response+json`` when the client ranks
    it at least as high as ``application/json`` (Apollo Client sends both, it first)."""
    ranks = qvalues(accept)
    grj = ranks.get(GRAPHQL_RESPONSE, 0.0)
    return grj > 0 and grj >= ranks.get("application/json", ranks.get("*/*", 0.0))


def challenge(code: str, message: str) -> str:
    """``WWW-Authenticate`` for a credential failure (RFC 6750 for bearer tokens)."""
    detail = message.replace('"', "'")
    if code == "INVALID_STOREFRONT_KEY":
        return f'StorefrontKey realm="aforo", error="invalid_key", error_description="{detail}"'
    if code in ("INVALID_TOKEN", "TOKEN_EXPIRED"):
        return f'Bearer realm="aforo", error="invalid_token", error_description="{detail}"'
    return 'Bearer realm="aforo"'


def _close_reason(code: str, message: str) -> str:
    """A WebSocket close reason a client can read (at most 123 bytes of UTF-8)."""
    return f"{code}: {message}".encode()[:123].decode(errors="ignore")


class WsRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


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
        metrics.graphql.observe(name, op_type, outcome, time.perf_counter() - start)


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


# Validation rules beyond the specification's, checked once per document (the results are
# cached with it). Built once: every limiter instance creates new rule classes.
VALIDATION_RULES: tuple[type[ASTValidationRule], ...] = (
    *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
)


class AforoSchema(Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: Any | None = None
    ) -> None:
        """Expected failures (a client's: validation, auth, permissions, limits, not found)
        are logged at INFO, one line, no traceback; a database outage at WARNING; only an
        unexpected exception (our bug, masked for the client) at ERROR with its traceback."""
        for error in errors:
            original = error.original_error
            if isinstance(original, DomainError):
                code = (with_code(error).extensions or {}).get("code")
                log.info("graphql refused %s: %s", code, error.message)
            elif original is None or isinstance(original, GraphQLError):
                # graphql-core's own messages quote the offending input (a mistyped variable
                # holding a password or a link's token): the code and where, never the text.
                code = (with_code(error).extensions or {}).get("code")
                where: object = error.path or [(x.line, x.column) for x in error.locations or ()]
                log.info("graphql refused %s at %s", code, where)
            elif is_unavailable(original):
                log.warning("graphql: database unavailable (%s)", type(original).__name__)
            else:
                log.error("graphql resolver failed: %s", error.message, exc_info=original)


def build_schema(query: type, mutation: type, subscription: type | None = None) -> Schema:
    documents = graphql_exec.DocumentCache(max_tokens=MAX_TOKENS, rules=VALIDATION_RULES)
    built = AforoSchema(
        query=query,
        mutation=mutation,
        subscription=subscription,
        extensions=[
            # Factories: a fresh extension per request around shared caches.
            lambda: graphql_exec.PreparedDocuments(documents),
            lambda: MaskErrors(should_mask_error=_should_mask, error_message=MASKED_MESSAGE),
            OperationChecks,  # text inputs and the static cost, before anything runs
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


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws: a refused connection_init closes with 4403 and a reason that
    names the problem (the stock handler says only "Forbidden")."""

    async def handle_connection_init(self, message: Any) -> None:
        try:
            await super().handle_connection_init(message)
        except WsRefused as e:
            await self.websocket.close(code=4403, reason=_close_reason(e.code, e.message))


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """The legacy ``graphql-ws`` sub-protocol (subscriptions-transport-ws, still the default
    of some stock clients): queries and mutations run too, one ``data`` then ``complete``,
    as on graphql-transport-ws (the stock handler ran them as subscriptions and answered a
    masked error). Errors carry their ``extensions.code``."""

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except WsRefused as e:
            payload: dict[str, object] = {"message": e.message, "extensions": {"code": e.code}}
            await self.send_message(
                ConnectionErrorMessage(type="connection_error", payload=payload)
            )
            await self.websocket.close(code=4403, reason=_close_reason(e.code, e.message))

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        try:
            result_source = await self.schema.stream(
                query,
                variable_values=variables,
                context_value=self.context,
                root_value=self.root_value,
                operation_name=operation_name,
            )
            self.subscriptions[operation_id] = result_source
            first = True
            async for result in result_source:
                for error in getattr(result, "errors", None) or ():
                    with_code(error)
                if first and isinstance(result, PreExecutionError):
                    assert result.errors
                    error = ErrorMessage(
                        type="error", id=operation_id, payload=result.errors[0].formatted
                    )
                    await self.send_message(error)
                    return
                await self.send_data_message(result, operation_id)  # type: ignore[arg-type]
                first = False
            await self.send_message(CompleteMessage(type="complete", id=operation_id))
        except asyncio.CancelledError:
            await self.send_message(CompleteMessage(type="complete", id=operation_id))
        finally:
            self.subscriptions.pop(operation_id, None)
            self.tasks.pop(operation_id, None)


class GraphQLApp(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(
        self,
        schema: Schema,
        holder: dict[str, Runtime],
        ide: Any = None,
        **kwargs: Any,
    ) -> None:
        protocols = (
            GRAPHQL_TRANSPORT_WS_PROTOCOL,
            GRAPHQL_WS_PROTOCOL,
            MULTIPART_SUBSCRIPTION_PROTOCOL,  # Apollo Client's subscriptions over HTTP
            GRAPHQL_SSE_PROTOCOL,  # graphql-sse, distinct connections mode
        )
        super().__init__(schema, subscription_protocols=protocols, **kwargs)
        self._holder = holder
        self._ide = ide  # renders the GraphiQL page (served from this service)

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
            await self._refusal(scope, e)(scope, receive, send)

    def _refusal(self, scope: Scope, e: DomainError) -> Response:
        log.info("graphql refused %s: %s", e.code, e.message)  # the client's, not our bug
        grj = scope.get("state", {}).get(_STATE_GRJ, False)
        status = e.status
        headers = {"Cache-Control": "no-store"}
        if isinstance(e, Unauthenticated):
            headers["WWW-Authenticate"] = challenge(e.code, e.message)
        # GraphQL-level failures of a well-formed request: 200 under application/json (the
        # code is in the body, where Apollo's error link reads it); 4xx under the
        # GraphQL-over-HTTP media type. Malformed requests stay 4xx under both.
        if not grj and isinstance(e, Unauthenticated | Forbidden | GraphQLRequestError):
            status = 200
        media = GRAPHQL_RESPONSE if grj else "application/json"
        return JSONResponse(_error_body(e), status_code=status, headers=headers, media_type=media)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        state = scope.setdefault("state", {})
        state[_STATE_GRJ] = wants_graphql_response(request.headers.get("accept"))
        if (
            self._ide is not None
            and request.method == "GET"
            and self.should_render_graphql_ide(self.request_adapter_class(request))
        ):
            await self._ide(request)(scope, receive, send)
            return
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            raise _TOO_LARGE
        # Credentials first: a bad one is refused before any parsing.
        tenant = await self.runtime.auth.resolve_headers(request.headers)
        state["tenant"] = tenant
        try:
            await edge_policy.admit(
                state,
                self.runtime,
                tenant.tenant_id if tenant else None,
                request.headers.get(STOREFRONT_HEADER),
            )
        except edge_policy.OriginNotAllowed as e:
            raise Forbidden(e.message, code=e.code) from e
        request = Request(scope, _limited(receive, MAX_BODY_BYTES))
        try:
            response = await self.run(request)
        except HTTPException as e:  # malformed JSON, batches, wrong method …
            err = DomainError(e.reason, code="BAD_REQUEST")
            err.status = e.status_code
            response = self._refusal(scope, err)
        if state.get(DB_UNAVAILABLE):
            response = unavailable_response()
        elif (retry := state.get(RETRY_AFTER)) is not None:
            # Throttled: a 429 a client (and a proxy) understands without reading the body;
            # the body still names the code and the seconds to wait.
            response.status_code = 429
            response.headers["Retry-After"] = str(retry)
        self._finish(request, response, tenant)
        await response(scope, receive, send)

    def _finish(self, request: Request, response: Response, tenant: TenantContext | None) -> None:
        """Media type, status code, caching and challenge headers of an executed request."""
        state = request.scope["state"]
        headers = response.headers
        if headers.get("content-type", "").startswith("application/json"):
            if state[_STATE_GRJ]:
                headers["content-type"] = GRAPHQL_RESPONSE
                if state.get(_STATE_REQUEST_ERROR) and response.status_code == 200:
                    response.status_code = 400
            if state.get(_STATE_CHALLENGE):
                headers["WWW-Authenticate"] = 'Bearer realm="aforo"'
        public = (
            request.method == "GET"
            and response.status_code == 200
            and not state.get(_STATE_ERRORS)
            and (tenant is None or tenant.kind is PrincipalKind.ANONYMOUS)
            and "authorization" not in request.headers
        )
        if public and isinstance(getattr(response, "body", None), bytes):
            # A public read by GET (a persisted query's hash): cacheable by browsers and
            # CDNs, per storefront key; revalidated by its ETag.
            etag = '"' + hashlib.sha256(response.body).hexdigest()[:32] + '"'
            headers["Cache-Control"] = "public, max-age=60"
            headers["ETag"] = etag
            headers.add_vary_header("X-Storefront-Key")
            headers.add_vary_header("Accept")
            if request.headers.get("if-none-match") == etag:
                response.status_code = 304
                response.body = b""
                headers["content-length"] = "0"
        else:
            headers.setdefault("Cache-Control", "no-store")

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A GET carrying a persisted query's hash is a query, whatever its Accept says.
        return super().should_render_graphql_ide(request) and (
            request.query_params.get("extensions") is None
        )

    def decode_json(self, data: str | bytes) -> object:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            return super().decode_json(data)  # what orjson refuses (NaN, huge ints) as before

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

    def encode_json(self, data: object) -> str:
        # Text, not bytes: WebSocket frames must stay text frames.
        body = _dumps(data)
        limit = self.runtime.settings.max_response_bytes
        if len(body) > limit:
            err = DomainError(
                f"the response would be larger than {limit} bytes; ask for less (smaller "
                "pages, fewer fields)",
                code="RESPONSE_TOO_LARGE",
            )
            # Unlike a request error, the operation ran: its data is withheld, hence null.
            return _dumps({**_error_body(err), "data": None})
        return body

    # -- persisted queries (Apollo APQ) and trusted documents ------------------------------
    async def execute_operation(
        self,
        request: Request,
        request_adapter: Any,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: Context,
        root_value: None,
        sub_response: Response,
    ) -> Any:
        if isinstance(request_data, GraphQLRequestData):
            request_data = await self._persisted(request_data, context.tenant)
        return await super().execute_operation(
            request, request_adapter, request_data, context, root_value, sub_response
        )

    async def _persisted(
        self, data: GraphQLRequestData, tenant: TenantContext | None
    ) -> GraphQLRequestData:
        tenant_id = tenant.tenant_id if tenant else None
        trusted_only = False
        if tenant is not None and not (tenant.has(Role.ADMIN) or tenant.has(Role.MODERATOR)):
            policy = await edge_policy.policies(self.runtime).policy(tenant.tenant_id)
            trusted_only = policy.trusted_documents_only
        pq = (data.extensions or {}).get("persistedQuery")
        if pq is None:
            if trusted_only and data.query is not None:
                if await persisted.trusted(self.runtime, tenant_id, document_hash(data.query)):
                    return data
                raise GraphQLRequestError(
                    "this tenant runs registered documents only: send the document's "
                    "sha256Hash in extensions.persistedQuery",
                    code="TRUSTED_DOCUMENT_REQUIRED",
                )
            return data
        if not isinstance(pq, dict) or pq.get("version") != 1:
            raise GraphQLRequestError(
                "extensions.persistedQuery must be {version: 1, sha256Hash}",
                code="PERSISTED_QUERY_NOT_SUPPORTED",
            )
        wanted = pq.get("sha256Hash")
        if not isinstance(wanted, str) or len(wanted) != 64:
            raise GraphQLRequestError(
                "sha256Hash must be 64 hexadecimal characters", code="PERSISTED_QUERY_INVALID"
            )
        wanted = wanted.lower()
        if data.query is None:
            lookup = persisted.trusted if trusted_only else persisted.lookup
            body = await lookup(self.runtime, tenant_id, wanted)
            if body is None:
                # The message is Apollo's, which its clients match on besides the code.
                raise GraphQLRequestError(
                    "PersistedQueryNotFound", code="PERSISTED_QUERY_NOT_FOUND"
                )
            return dataclasses.replace(data, query=body)
        if document_hash(data.query) != wanted:
            raise GraphQLRequestError(
                "provided sha does not match query", code="PERSISTED_QUERY_HASH_MISMATCH"
            )
        if trusted_only:
            if not await persisted.trusted(self.runtime, tenant_id, wanted):
                raise GraphQLRequestError(
                    "this tenant runs registered documents only; this one is not registered",
                    code="TRUSTED_DOCUMENT_REQUIRED",
                )
        elif tenant_id is not None:
            await persisted.remember(self.runtime, tenant_id, wanted, data.query)
        return data

    async def execute_single(
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """Plain HTTP runs queries (GET or POST) and mutations (POST); a subscription needs a
        stream (multipart, graphql-sse or a WebSocket) and says so."""
        method = request_adapter.method
        allowed = (
            {StrawberryOperation.QUERY}
            if method == "GET"
            else {StrawberryOperation.QUERY, StrawberryOperation.MUTATION}
        )
        try:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except CannotGetOperationTypeError as e:
            raise HTTPException(400, e.as_http_error_reason()) from e
        except MissingQueryError as e:
            raise HTTPException(400, "No GraphQL query found in the request") from e
        except InvalidOperationTypeError as e:
            if e.operation_type is StrawberryOperation.SUBSCRIPTION:
                raise GraphQLRequestError(
                    "a subscription needs a stream: graphql-transport-ws (WebSocket), "
                    "graphql-sse (Accept: text/event-stream) or multipart HTTP "
                    "(Accept: multipart/mixed;subscriptionSpec=1.0)",
                    code="SUBSCRIPTION_TRANSPORT_REQUIRED",
                ) from e
            err = DomainError("mutations are sent with POST", code="METHOD_NOT_ALLOWED")
            err.status = 405
            raise err from e

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        errors = getattr(result, "errors", None) or ()
        state = request.scope.setdefault("state", {})
        for error in errors:
            with_code(error)
            if isinstance(error.original_error, RateLimited):
                state[RETRY_AFTER] = max(
                    state.get(RETRY_AFTER, 0), error.original_error.retry_after
                )
            if (error.extensions or {}).get("code") in CREDENTIAL_CODES:
                state[_STATE_CHALLENGE] = True
        processed = await super().process_result(request, result)
        if errors:
            state[_STATE_ERRORS] = True
        if isinstance(result, PreExecutionError):
            state[_STATE_REQUEST_ERROR] = True
            processed.pop("data", None)
        return processed

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        tenant: TenantContext | None = request.scope.get("state", {}).get("tenant")
        return Context(runtime=self.runtime, request=request, tenant=tenant)

    def is_websocket_origin_allowed(self, request: WebSocket, origin: str) -> bool:
        # Decided at connection_init, where the credentials name the tenant.
        return True

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:
        storefront, auth = _ws_credentials(context.connection_params or {})
        headers = context.request.headers
        storefront = storefront or headers.get("x-storefront-key")
        auth = auth or headers.get("authorization")
        try:
            context.tenant = await self.runtime.auth.resolve(storefront, auth)
        except DomainError as e:
            raise WsRefused(e.code, e.message) from e
        await self._check_ws_origin(context, storefront)
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

    async def _check_ws_origin(self, context: Context, storefront: str | None) -> None:
        headers = context.request.headers
        raw = headers.get("origin")
        if raw is None or is_same_origin(raw, headers.get("host")):
            return
        origin = parse_origin(raw)
        policies = edge_policy.policies(self.runtime)
        if origin is not None:
            if context.tenant is None:
                if await policies.allowed_anywhere(origin):
                    return
            elif await policies.allows(
                context.tenant.tenant_id,
                origin,
                sha256(storefront.strip()).hex() if storefront else None,
            ):
                return
        raise WsRefused("ORIGIN_NOT_ALLOWED", f"origin {raw} is not allowed for this tenant")


def is_object_type(t: Any) -> bool:
    return isinstance(getattr(t, "__strawberry_definition__", None), StrawberryObjectDefinition)
