"""Gateways verify keys here; agents exchange client credentials for access tokens.

``POST /v1/keys/verify`` is a raw ASGI endpoint on a plain Starlette route, served before
FastAPI's middleware (the hot path). HTTP status carries the verdict for gateways that only
read it (nginx ``auth_request``, forward-auth): 200 valid, 403 refused key (the body says
why), 401 bad gateway token, 400 bad request, 503 when it cannot tell (database down).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import orjson
from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from aforo.db import is_unavailable
from aforo.errors import DomainError
from aforo.runtime.state import Runtime
from aforo.runtime.throttle import RateLimited, throttle
from aforo.services import api_keys
from aforo.services.key_state import MALFORMED, NOT_FOUND, VerifyResult
from aforo.services.key_verify import KeyVerifier, verifier
from aforo.services.usage import quota as usage_quota
from aforo.tenancy.context import TenantContext
from aforo.tenancy.hashing import sha256

log = logging.getLogger(__name__)
MAX_BODY = 8192
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_MISSES = frozenset({NOT_FOUND, MALFORMED})


Headers = list[tuple[bytes, bytes]]
_JSON = (b"content-type", b"application/json")


def _raw(status: int, body: bytes, headers: dict[str, str]) -> tuple[int, Headers, bytes]:
    raw = [_JSON, (b"content-length", b"%d" % len(body))]
    raw += [(k.encode(), v.encode()) for k, v in headers.items()]
    return status, raw, body


def _error(
    status: int, code: str, message: str, field: str | None = None, **headers: str
) -> tuple[int, Headers, bytes]:
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    return _raw(status, json.dumps({"error": body}).encode(), headers)


def _bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class _Rendered:
    """Responses kept by the identity of what they render: a cached verdict (or a quota
    snapshot) is the same object on every hit, so its status and headers are built once.
    The memo holds the objects, so an identity is never reused while its entry lives."""

    MAX = 10_000

    def __init__(self, render: Callable[..., Any]) -> None:
        self.render = render
        self.memo: dict[int, tuple[Any, Any]] = {}

    def __call__(self, obj: Any, *more: Any) -> Any:
        """``render(obj, *more)``, once per ``obj`` (what ``more`` holds comes with it)."""
        found = self.memo.get(id(obj))
        if found is None or found[0] is not obj:
            if len(self.memo) >= self.MAX:
                self.memo.clear()
            found = self.memo[id(obj)] = (obj, self.render(obj, *more))
        return found[1]


def _verdict_head(result: VerifyResult, body: bytes) -> tuple[int, Headers]:
    out = {"x-aforo-code": result.code}  # lower case: ASGI header names
    if result.valid:
        out["x-aforo-key-id"] = str(result.key_id)
        out["x-aforo-subscription-id"] = str(result.subscription_id)
        if result.plan is not None:
            out["x-aforo-plan"] = result.plan.slug
    status, headers, _ = _raw(200 if result.valid else 403, body, out)
    return status, headers


def _quota_head(quota: Any) -> Headers:
    return [(k.lower().encode(), v.encode()) for k, v in usage_quota.headers(quota).items()]


class VerifyEndpoint:
    """A raw ASGI endpoint (no Request/Response objects, no exception wrapper: the hot path).
    A cache hit sends a response built once per cached verdict.

    Body ``{"key": "..."}``; or, with no body, the key in ``X-Api-Key`` or (when the gateway
    token is in ``X-Gateway-Token``) in ``Authorization: Bearer`` as the client sent it."""

    def __init__(self) -> None:
        self._heads = _Rendered(_verdict_head)
        self._quotas = _Rendered(_quota_head)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        status = 500
        try:
            status, headers, body = await self._answer(scope, receive)
        except Exception as e:  # the database down on a miss: say so, never hang or crash
            if is_unavailable(e):  # an outage, not our bug: one line, no traceback
                log.warning("key verification unavailable: %s", type(e).__name__)
            else:
                log.exception("key verification failed")
            status, headers, body = _error(
                503, "UNAVAILABLE", "verification is unavailable", **{"retry-after": "1"}
            )
        try:
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        finally:
            # Counted here, not by a middleware wrapping every send (the hot path).
            metrics = getattr(scope["app"], "request_metrics", None)
            if metrics is not None:
                metrics.observe("POST", PATH, status, time.perf_counter() - start)

    async def _answer(self, scope: Scope, receive: Receive) -> tuple[int, Headers, bytes]:
        v: KeyVerifier = scope["app"].state.key_verifier
        gateway_token = authorization = api_key = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"x-gateway-token":
                gateway_token = value.decode("latin-1")
            elif name == b"x-api-key":
                api_key = value.decode("latin-1")
        if gateway_token is None:
            gateway_token, authorization = _bearer(authorization), None
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return _error(400, "INVALID", "the client went away")
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                return _error(413, "TOO_LARGE", f"the body is limited to {MAX_BODY} bytes")
            if not message.get("more_body"):
                break
        key: Any
        if body.strip():
            try:
                payload = orjson.loads(body)
            except orjson.JSONDecodeError:
                return _error(400, "INVALID", 'the body must be JSON: {"key": "..."}')
            key = payload.get("key") if isinstance(payload, dict) else None
            if not isinstance(key, str):
                return _error(400, "INVALID", "key must be a string", field="key")
        else:
            key = api_key or _bearer(authorization) or ""
        gateway: TenantContext | None = None
        verdict = v.hit(gateway_token, key)  # all cached: no await at all
        if verdict is None:
            try:
                gateway = await v.gateway(gateway_token)
            except DomainError as e:
                return _error(e.status, e.code, e.message, **{"www-authenticate": "Bearer"})
            verdict = await v.verdict(gateway.tenant_id, key)
        if verdict.result.code in _MISSES:
            # Guessing keys through a gateway: counted per gateway token. Only misses pay for
            # this; a valid key's answer (the cache hit) does no extra work.
            if gateway is None:
                gateway = await v.gateway(gateway_token)  # cached: the hit just read it
            try:
                await throttle(v.runtime).hit("verify.miss", str(gateway.credential_id))
            except RateLimited as e:
                return _error(429, e.code, e.message, **{"retry-after": str(e.retry_after)})
        # The body is memoised with the result: keyed by the result alone.
        status, headers = self._heads(verdict.result, verdict.body)
        if verdict.quota is not None:
            headers = headers + self._quotas(verdict.quota)
        return status, headers, verdict.body


# -- OAuth 2.0 client credentials (RFC 6749 §4.4) -------------------------------------------
router = APIRouter(tags=["auth"])


def _oauth_error(error: str, description: str, status: int = 400, basic: bool = False) -> Response:
    headers = dict(_NO_STORE)
    if basic:
        headers["WWW-Authenticate"] = 'Basic realm="aforo", charset="UTF-8"'
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=headers
    )


def _throttled(e: RateLimited) -> Response:
    return JSONResponse(
        {"error": "rate_limited", "error_description": e.message, "code": e.code},
        status_code=429,
        headers={**_NO_STORE, "Retry-After": str(e.retry_after)},
    )


def _basic(value: str) -> tuple[str, str] | None:
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return None
    # RFC 6749 §2.3.1: both parts are form-urlencoded before being joined.
    return unquote_plus(client_id), unquote_plus(secret)


@router.post(
    "/oauth/token",
    summary="Client-credentials grant: a short-lived JWT bound to the key's subscription",
    responses={400: {"description": "RFC 6749 error"}, 401: {"description": "invalid_client"}},
)
async def token(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    limits = throttle(rt)
    try:
        await limits.hit("oauth.ip", request.client.host if request.client else "unknown")
    except RateLimited as e:
        return _throttled(e)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        return _oauth_error("invalid_request", "use application/x-www-form-urlencoded")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return _oauth_error("invalid_request", "request too large")
    try:
        pairs = parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return _oauth_error("invalid_request", "malformed form body")
    names = [k for k, _ in pairs]
    if any(names.count(n) > 1 for n in set(names)):
        return _oauth_error("invalid_request", "a parameter was repeated")
    form = dict(pairs)
    grant = form.get("grant_type")
    if not grant:
        return _oauth_error("invalid_request", "grant_type is required")
    if grant != "client_credentials":
        return _oauth_error("unsupported_grant_type", "only client_credentials is supported")
    authz = request.headers.get("authorization")
    basic = authz is not None
    if basic and ("client_secret" in form):
        return _oauth_error("invalid_request", "use one client authentication method, not two")
    if basic:
        creds = _basic(authz or "")
        if creds is None:
            return _oauth_error("invalid_client", "malformed Basic credentials", 401, basic=True)
        client_id, secret = creds
        if form.get("client_id") not in (None, client_id):
            return _oauth_error("invalid_request", "client_id differs from the Basic one")
    else:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if not client_id or not secret:
            return _oauth_error("invalid_client", "client authentication is required", 401)
    client_key = sha256(client_id).hex()[:32]
    try:
        await limits.check("oauth.client", client_key)
    except RateLimited as e:
        return _throttled(e)
    try:
        async with rt.maker() as session:
            issued = await api_keys.exchange_client_credentials(
                session, rt.auth.ring, rt.auth.issuer, client_id=client_id, client_secret=secret
            )
    except api_keys.InvalidClient as e:
        with contextlib.suppress(RateLimited):  # this answer stands; the next is refused
            await limits.hit("oauth.client", client_key)
        return _oauth_error("invalid_client", e.message, 401, basic=basic)
    return JSONResponse(
        {"access_token": issued.token, "token_type": "Bearer", "expires_in": issued.expires_in},
        headers=_NO_STORE,
    )


# -- wiring ----------------------------------------------------------------------------------
PATH = "/v1/keys/verify"
ROUTES = [Route(PATH, VerifyEndpoint(), methods=["POST"], name="verify_key")]


@contextlib.asynccontextmanager
async def lifespan(runtime: Runtime, state: Any) -> AsyncIterator[None]:
    """The verifier's invalidation listener and usage flusher, for the app's lifetime."""
    v = verifier(runtime)
    state.key_verifier = v
    async with v.running():
        yield
