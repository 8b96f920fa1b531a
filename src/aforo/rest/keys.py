"""Gateways verify keys here; agents exchange client credentials for access tokens.

``POST /v1/keys/verify`` is a plain Starlette route (the hot path: no FastAPI dependency
layer). HTTP status carries the verdict for gateways that only read it (nginx
``auth_request``, forward-auth): 200 valid, 403 refused key (the body says why), 401 bad
gateway token, 400 bad request.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from fastapi import APIRouter, Request
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aforo.errors import DomainError
from aforo.runtime.state import Runtime
from aforo.services import api_keys, usage_quota
from aforo.services.key_verify import KeyVerifier, verifier

MAX_BODY = 8192
_JSON = "application/json"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _error(
    status: int, code: str, message: str, field: str | None = None, **headers: str
) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    return Response(json.dumps({"error": body}), status, headers or None, _JSON)


def _bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def verify(request: StarletteRequest) -> Response:
    """Body ``{"key": "..."}``; or, with no body, the key in ``X-Api-Key`` or (when the gateway
    token is in ``X-Gateway-Token``) in ``Authorization: Bearer`` as the client sent it."""
    v: KeyVerifier = request.app.state.key_verifier
    headers = request.headers
    gateway_token = headers.get("x-gateway-token")
    authorization = headers.get("authorization")
    if gateway_token is None:
        gateway_token, authorization = _bearer(authorization), None
    key: Any = None
    body = await request.body()
    if len(body) > MAX_BODY:
        return _error(413, "TOO_LARGE", f"the body is limited to {MAX_BODY} bytes")
    if body.strip():
        try:
            payload = json.loads(body)
        except ValueError:
            return _error(400, "INVALID", 'the body must be JSON: {"key": "..."}')
        key = payload.get("key") if isinstance(payload, dict) else None
        if not isinstance(key, str):
            return _error(400, "INVALID", "key must be a string", field="key")
    else:
        key = headers.get("x-api-key") or _bearer(authorization) or ""
    try:
        gateway = await v.gateway(gateway_token)
    except DomainError as e:
        return _error(e.status, e.code, e.message, **{"WWW-Authenticate": "Bearer"})
    result = await v.check(gateway.tenant_id, key)
    out = {"X-Aforo-Code": result.code}
    if result.valid:
        out["X-Aforo-Key-Id"] = str(result.key_id)
        out["X-Aforo-Subscription-Id"] = str(result.subscription_id)
        if result.plan is not None:
            out["X-Aforo-Plan"] = result.plan.slug
    if result.quota is not None:
        out.update(usage_quota.headers(result.quota))
    return Response(
        json.dumps(result.to_dict(), separators=(",", ":")),
        200 if result.valid else 403,
        out,
        _JSON,
    )


# -- OAuth 2.0 client credentials (RFC 6749 §4.4) -------------------------------------------
router = APIRouter(tags=["auth"])


def _oauth_error(error: str, description: str, status: int = 400, basic: bool = False) -> Response:
    headers = dict(_NO_STORE)
    if basic:
        headers["WWW-Authenticate"] = 'Basic realm="aforo", charset="UTF-8"'
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=headers
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
    try:
        async with rt.maker() as session:
            issued = await api_keys.exchange_client_credentials(
                session, rt.auth.ring, rt.auth.issuer, client_id=client_id, client_secret=secret
            )
    except api_keys.InvalidClient as e:
        return _oauth_error("invalid_client", e.message, 401, basic=basic)
    return JSONResponse(
        {"access_token": issued.token, "token_type": "Bearer", "expires_in": issued.expires_in},
        headers=_NO_STORE,
    )


# -- wiring ----------------------------------------------------------------------------------
ROUTES = [Route("/v1/keys/verify", verify, methods=["POST"], name="verify_key")]


@contextlib.asynccontextmanager
async def lifespan(runtime: Runtime, state: Any) -> AsyncIterator[None]:
    """The verifier's invalidation listener and usage flusher, for the app's lifetime."""
    v = verifier(runtime)
    state.key_verifier = v
    async with v.running():
        yield
