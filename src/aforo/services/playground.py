"""The try-it playground: a zero-trust proxy from the API reference to the tenant's API.

The browser sends an operation, its parameters and a body; it never holds a credential. We
check that the key is the caller's and usable, mint a short-lived JWT standing in for it
(``api_keys.mint_key_token``; no raw key exists on the server), inject it the way the spec's
security scheme says, and call only the operation's declared (or tenant-configured) servers
through the outbound guard. What comes back has every credential stripped, and every run is
recorded and metered as usage of the key's subscription.

Credential placement, from the operation's security requirements (first supported one):
``http`` bearer, ``oauth2`` and ``openIdConnect`` → ``Authorization: Bearer <token>``;
``apiKey`` in a header, the query or a cookie → the token under the scheme's name there. An
operation without security requirements gets ``Authorization: Bearer <token>`` (what
``/v1/keys/verify`` reads). ``http`` basic / digest cannot carry a token: refused.

Running one (orchestration, live events, rate limit) is ``playground_runs``.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode, urljoin, urlsplit

from sqlalchemy import BindParameter, Uuid, and_, bindparam, exists, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.db import LookupPool, RawStatement, utcnow
from aforo.errors import Conflict, DomainError, NotFound, ValidationFailed
from aforo.models.api_keys import ApiKey
from aforo.models.billing import Subscription
from aforo.models.playground import PlaygroundRun
from aforo.models.specs import ApiSpec, OutboundAllow, SpecOperation, SpecVersion
from aforo.runtime.outbound import Allowlist, Exchange, Guard, Policy
from aforo.services import api_keys, ownership
from aforo.services.key_state import evaluate
from aforo.services.ownership import Capability
from aforo.services.usage import writer as usage_writer
from aforo.services.usage.events import Event
from aforo.tenancy.signing import KeyRing

REDACTED = "[REDACTED]"
MAX_BODY = 256 * 1024
MAX_HEADERS = 50
MAX_PARAMS = 100
MAX_VALUE = 8192
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})
# The caller may not set these: credentials are ours to inject, the rest is the transport's.
REFUSED_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "host",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "x-api-key",
        "api-key",
        "apikey",
        "x-auth-token",
        "x-gateway-token",
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-real-ip",
    }
)
# Never shown to the caller: they carry or challenge credentials.
STRIPPED_RESPONSE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "set-cookie",
        "set-cookie2",
        "www-authenticate",
        "proxy-authenticate",
        "cookie",
    }
)
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,100}$")
_TEMPLATE = re.compile(r"\{([^{}/]+)\}")


@dataclass(frozen=True)
class TryInput:
    operation_id: uuid.UUID
    key_id: uuid.UUID
    path_params: list[tuple[str, str]] = field(default_factory=list)
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: str | None = None
    server: str | None = None


class Operation(NamedTuple):
    """What a run needs of an operation."""

    id: uuid.UUID
    kind: str
    method: str
    path: str
    parameters: list[dict[str, Any]]
    request_body: dict[str, Any] | None
    security: list[dict[str, Any]]


@dataclass(frozen=True)
class Target:
    """An operation, what a run needs of its spec version and spec, the tenant's allow-list,
    and whether the caller may use the key (``ownership.visible``, ``USE_KEYS``)."""

    op: Operation
    format: str
    server_url: str | None
    source_url: str | None
    servers: list[dict[str, Any]]
    schemes: dict[str, Any]
    allow: list[str]
    usable: bool

    @classmethod
    def of(cls, row: Any) -> Target:
        """From a bare asyncpg row: JSON columns arrive as text."""
        op = Operation(
            row["id"],
            row["kind"],
            row["method"],
            row["path"],
            json.loads(row["parameters"]),
            json.loads(row["request_body"]) if row["request_body"] is not None else None,
            json.loads(row["security"]),
        )
        return cls(
            op,
            row["format"],
            row["server_url"],
            row["source_url"],
            json.loads(row["servers"]),
            json.loads(row["security_schemes"]),
            list(row["allow"]),
            row["usable"],
        )


@dataclass(frozen=True)
class Placement:
    where: str  # header | query | cookie
    name: str
    template: str  # "{token}" or "Bearer {token}"


@dataclass
class Prepared:
    """Everything a run needs, built from one read (and a short transaction when the key's
    token is minted or its check fails); holds the minted token only in memory for the few
    seconds of the run."""

    run_id: uuid.UUID
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    key_id: uuid.UUID
    subscription_id: uuid.UUID
    operation_id: uuid.UUID
    route: str
    method: str
    url: str
    headers: dict[str, str]
    content: bytes | None
    allowed_hosts: frozenset[str]
    guard: Guard
    token: str = field(repr=False)
    issued: api_keys.IssuedToken = field(repr=False)
    credential_headers: frozenset[str] = frozenset()

    @property
    def secrets(self) -> tuple[str, ...]:
        # The whole token, and its signature alone (the part that makes it a credential).
        signature = self.token.rsplit(".", 1)[-1]
        return (self.token, signature) if len(signature) >= 16 else (self.token,)

    def redact(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, REDACTED)
        return text

    @property
    def public_url(self) -> str:
        return self.redact(self.url)


@dataclass(frozen=True)
class Result:
    """A run's answer as the caller sees it: credentials stripped and redacted."""

    run_id: uuid.UUID
    status: int
    headers: list[tuple[str, str]]
    body: str
    body_bytes: int
    content_type: str | None
    url: str
    timing: Any  # runtime.outbound.Timing

    def to_dict(self) -> dict[str, Any]:
        t = self.timing
        return {
            "runId": str(self.run_id),
            "status": self.status,
            "headers": [[k, v] for k, v in self.headers],
            "body": self.body,
            "bodyBytes": self.body_bytes,
            "contentType": self.content_type,
            "url": self.url,
            "timing": [
                t.dns_ms,
                t.connect_ms,
                t.tls_ms,
                t.ttfb_ms,
                t.transfer_ms,
                t.total_ms,
                t.reused_connection,
            ],
        }


# -- building the request --------------------------------------------------------------------
def _bad(message: str, field: str, code: str = "INVALID") -> ValidationFailed:
    return ValidationFailed(message, field=field, code=code)


def servers(t: Target) -> list[str]:
    """Where this operation may be called: the tenant-configured server first, then the
    operation's (or path's) servers, then the spec's; relative ones against the spec's URL."""
    declared = [s["server"]["url"] for s in t.op.security if "server" in s] or [
        s["url"] for s in t.servers
    ]
    out: list[str] = []
    for url in [t.server_url, *declared]:
        if not url:
            continue
        if not urlsplit(url).scheme:
            if not t.source_url:
                continue
            url = urljoin(t.source_url, url)
        if urlsplit(url).scheme.lower() in ("http", "https") and url not in out:
            out.append(url)
    return out


def placement(t: Target) -> Placement:
    requirements = [s["scheme"] for s in t.op.security if "scheme" in s]
    if not requirements:
        return Placement("header", "Authorization", "Bearer {token}")
    schemes = t.schemes or {}
    for name in requirements:
        s = schemes.get(name) or {}
        kind = s.get("type")
        if (kind == "http" and str(s.get("scheme", "")).lower() == "bearer") or kind in (
            "oauth2",
            "openIdConnect",
        ):
            return Placement("header", "Authorization", "Bearer {token}")
        if kind == "apiKey" and s.get("in") in ("header", "query", "cookie"):
            return Placement(str(s["in"]), str(s["name"]), "{token}")
    raise DomainError(
        "this operation's security schemes cannot carry a try-it token "
        "(supported: http bearer, oauth2, openIdConnect, apiKey)",
        field="operationId",
        code="PLAYGROUND_UNSUPPORTED_AUTH",
    )


def _scheme_names(t: Target, where: str) -> set[str]:
    return {
        str(s.get("name", "")).lower()
        for s in (t.schemes or {}).values()
        if s.get("type") == "apiKey" and s.get("in") == where
    }


def _check_pairs(pairs: list[tuple[str, str]], field: str) -> None:
    if len(pairs) > MAX_PARAMS:
        raise _bad(f"at most {MAX_PARAMS} entries", field)
    for name, value in pairs:
        if not name or len(name) > 200:
            raise _bad("a name must be 1-200 characters", field)
        if len(value) > MAX_VALUE:
            raise _bad(f"a value must be at most {MAX_VALUE} characters", f"{field}.{name}")


def _path(op: Operation, given: list[tuple[str, str]]) -> str:
    values = dict(given)
    if len(values) != len(given):
        raise _bad("a path parameter is given twice", "pathParams")
    wanted = _TEMPLATE.findall(op.path)
    for name in values:
        if name not in wanted:
            raise _bad(f"the path has no parameter {name}", f"pathParams.{name}")

    def fill(m: re.Match[str]) -> str:
        value = values.get(m.group(1))
        if not value:
            raise _bad(f"{m.group(1)} is required", f"pathParams.{m.group(1)}", "REQUIRED")
        encoded = quote(value, safe="")
        # "." and ".." are path segments of their own: a server would resolve them.
        return encoded.replace(".", "%2E") if set(value) == {"."} else encoded

    return _TEMPLATE.sub(fill, op.path)


def _query(op: Operation, given: list[tuple[str, str]], refused: set[str]) -> str:
    names = {n for n, _ in given}
    for name in names:
        if name.lower() in refused:
            raise _bad(
                f"{name} carries the credential; the playground injects it",
                f"query.{name}",
                "PLAYGROUND_CREDENTIAL_REFUSED",
            )
    for p in op.parameters:
        if p.get("in") == "query" and p.get("required") and p["name"] not in names:
            raise _bad(f"{p['name']} is required", f"query.{p['name']}", "REQUIRED")
    return urlencode(given, quote_via=quote)


def _headers(given: list[tuple[str, str]], refused: set[str]) -> dict[str, str]:
    if len(given) > MAX_HEADERS:
        raise _bad(f"at most {MAX_HEADERS} headers", "headers")
    out: dict[str, str] = {}
    for name, value in given:
        if not _HEADER_NAME.match(name):
            raise _bad("not a valid header name", f"headers.{name}")
        if any(c in value for c in "\r\n\x00") or len(value) > MAX_VALUE:
            raise _bad("not a valid header value", f"headers.{name}")
        low = name.lower()
        if low in REFUSED_HEADERS or low in refused or low.startswith(("proxy-", "sec-")):
            raise _bad(
                f"{name} cannot be set in the playground: credentials are injected server-side "
                "and connection headers belong to the transport",
                f"headers.{name}",
                "PLAYGROUND_HEADER_REFUSED",
            )
        if low in {k.lower() for k in out}:
            raise _bad("a header is given twice", f"headers.{name}")
        out[name] = value
    return out


def _content_type(op: Operation, body: str) -> str:
    media = [m["mediaType"] for m in (op.request_body or {}).get("content", []) or []]
    if media:
        return str(media[0])
    try:
        json.loads(body)
    except ValueError:
        return "text/plain; charset=utf-8"
    return "application/json"


def _given(name: str) -> BindParameter[uuid.UUID]:
    return bindparam(name, type_=Uuid(), required=False)


@functools.cache
def _target() -> RawStatement:
    """One statement for the operation, what it needs of its version and spec (never the
    spec's source text), the tenant's allow-list and the caller's right to use the key; built
    once, and run on a bare connection (``target``): through the ORM, reading it and checking
    the key took three quarters of a try-it's preparation."""
    allow = func.array(select(OutboundAllow.entry).scalar_subquery())
    usable = exists().where(
        ApiKey.id == _given("key_id"),
        ownership.visible(ApiKey.team_id, ApiKey.user_id, _given("user_id"), Capability.USE_KEYS),
    )
    return RawStatement.of(
        select(
            SpecOperation.id,
            SpecOperation.kind,
            SpecOperation.method,
            SpecOperation.path,
            SpecOperation.parameters,
            SpecOperation.request_body,
            SpecOperation.security,
            ApiSpec.format,
            ApiSpec.server_url,
            ApiSpec.source_url,
            SpecVersion.servers,
            SpecVersion.security_schemes,
            allow.label("allow"),
            usable.label("usable"),
        )
        .join(
            SpecVersion,
            and_(
                SpecVersion.tenant_id == SpecOperation.tenant_id,
                SpecVersion.id == SpecOperation.version_id,
            ),
        )
        .join(
            ApiSpec,
            and_(ApiSpec.tenant_id == SpecVersion.tenant_id, ApiSpec.id == SpecVersion.spec_id),
        )
        .where(SpecOperation.id == _given("operation_id"))
    )


async def target(
    pool: LookupPool, tenant_id: uuid.UUID, *, user_id: uuid.UUID, inp: TryInput
) -> Target:
    """The run's operation in the tenant, in one read."""
    statement = _target()
    args = statement.args(operation_id=inp.operation_id, key_id=inp.key_id, user_id=user_id)
    rows = await pool.read_as(tenant_id, statement.sql, *args)
    if not rows:
        raise NotFound("no operation with that id", field="operationId")
    return Target.of(rows[0])


async def check_key(
    session: AsyncSession,
    ring: KeyRing,
    issuer: str,
    *,
    user_id: uuid.UUID,
    inp: TryInput,
    minted: api_keys.IssuedToken | None = None,
) -> api_keys.IssuedToken:
    """The key's authoritative check, with the error to show: mint its token, or check the
    caller's rights on the key of ``minted`` (a token reused: the caller may have lost the
    key - removed from the key's team - which the key's own verdict cannot tell)."""
    try:
        if minted is not None:
            await api_keys.get_key(
                session,
                inp.key_id,
                actor_id=user_id,
                as_admin=False,
                lock=False,
                cap=Capability.USE_KEYS,
            )
            return minted
        return await api_keys.mint_key_token(
            session, ring, issuer, key_id=inp.key_id, user_id=user_id
        )
    except NotFound as e:
        # Never echo the id: it may be another tenant's (the field says which input it was).
        raise NotFound("no API key of yours with that id", field="keyId") from e
    except Conflict as e:
        state = await api_keys.key_state_by_id(session, inp.key_id)
        verdict = evaluate(state, session.info["tenant_id"])
        raise DomainError(
            f"API key {inp.key_id} cannot be used: it is {verdict.code.lower()}",
            field="keyId",
            code=f"KEY_{verdict.code}",
        ) from e


def build(
    t: Target,
    inp: TryInput,
    minted: api_keys.IssuedToken,
    *,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    policy: Policy,
) -> Prepared:
    """The request to send: the input checked against the operation, the token placed as
    the spec's security scheme says. The key was checked first (``check_key``): a revoked or
    foreign key is the problem to name, whatever else the request lacks."""
    op = t.op
    if op.kind != "operation":  # a webhook or callback is a request the API makes, not takes
        raise _bad(f"a {op.kind} cannot be tried", "operationId")
    graphql = t.format != "OPENAPI_3"
    method = "POST" if graphql else op.method.upper()
    if method not in HTTP_METHODS:
        raise _bad(f"{op.method} cannot be tried", "operationId")
    candidates = servers(t)
    if not candidates:
        raise DomainError(
            "the spec declares no server to call and none is configured",
            field="operationId",
            code="PLAYGROUND_NO_SERVER",
        )
    server = candidates[0]
    if inp.server is not None:
        if inp.server not in candidates:
            raise _bad("not one of the operation's servers", "server")
        server = inp.server
    for pairs, name in ((inp.path_params, "pathParams"), (inp.query, "query")):
        _check_pairs(pairs, name)
    where = placement(t)
    headers = _headers(inp.headers, _scheme_names(t, "header"))
    path = "" if graphql else _path(op, inp.path_params)
    query = _query(op, inp.query, _scheme_names(t, "query"))
    content: bytes | None = None
    if inp.body is not None:
        if method in ("GET", "HEAD"):
            raise _bad(f"a {method} request has no body", "body")
        content = inp.body.encode()
        if len(content) > MAX_BODY:
            raise _bad(f"the body must be at most {MAX_BODY} bytes", "body")
        if "content-type" not in {k.lower() for k in headers}:
            headers["Content-Type"] = _content_type(op, inp.body)

    token = where.template.format(token=minted.token)
    credential_headers = {"authorization"}
    if where.where == "header":
        headers[where.name] = token
        credential_headers.add(where.name.lower())
    elif where.where == "cookie":
        headers["Cookie"] = f"{where.name}={token}"
    else:
        pair = urlencode([(where.name, token)], quote_via=quote)
        query = f"{query}&{pair}" if query else pair

    url = server.rstrip("/") + path if path else server
    if query:
        url += ("&" if "?" in url else "?") + query
    if len(url) > 2048:
        raise _bad("the URL would be longer than 2048 characters", "query")
    hosts = {(urlsplit(s).hostname or "").lower() for s in candidates}
    return Prepared(
        run_id=uuid.uuid4(),
        tenant_id=tenant_id,
        user_id=user_id,
        key_id=minted.key_id,
        subscription_id=minted.subscription_id,
        operation_id=op.id,
        route=op.path,
        method=method,
        url=url,
        headers=headers,
        content=content,
        allowed_hosts=frozenset(hosts - {""}),
        # Limits are set per run (Executor.limits).
        guard=Guard(Allowlist.parse(t.allow), policy=policy),
        token=minted.token,
        issued=minted,
        credential_headers=frozenset(credential_headers),
    )


# -- the answer ------------------------------------------------------------------------------
def result(p: Prepared, ex: Exchange) -> Result:
    r = ex.response
    hidden = STRIPPED_RESPONSE_HEADERS | p.credential_headers
    headers = [(k, p.redact(v)) for k, v in r.headers.multi_items() if k.lower() not in hidden]
    return Result(
        run_id=p.run_id,
        status=r.status,
        headers=headers,
        body=p.redact(r.text()),
        body_bytes=len(r.content),
        content_type=r.headers.get("content-type"),
        url=p.redact(r.url),
        timing=ex.timing,
    )


# -- records ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunRecord:
    """What is kept of a run (never the token): its row, and its usage event when the request
    reached the API (one API call of the key's subscription)."""

    row: dict[str, Any]
    usage: Event | None


def run_record(
    p: Prepared, res: Result | None, *, error_code: str | None, total_ms: float
) -> RunRecord:
    t = res.timing if res is not None else None
    now = utcnow()
    row = {
        "tenant_id": p.tenant_id,
        "id": p.run_id,
        "user_id": p.user_id,
        "key_id": p.key_id,
        "subscription_id": p.subscription_id,
        "operation_id": p.operation_id,
        "method": p.method,
        "url": p.public_url[:2048],
        "status": res.status if res else None,
        "error_code": None if res else (error_code or "PLAYGROUND_FAILED")[:64],
        "dns_ms": t.dns_ms if t else None,
        "connect_ms": t.connect_ms if t else None,
        "tls_ms": t.tls_ms if t else None,
        "ttfb_ms": t.ttfb_ms if t else None,
        "transfer_ms": t.transfer_ms if t else None,
        "total_ms": t.total_ms if t else total_ms,
        "response_bytes": res.body_bytes if res else None,
        "created_at": now,
    }
    if res is None:
        return RunRecord(row, None)
    usage = Event(
        event_id=f"playground:{p.run_id}",
        occurred_at=now,
        source="playground",
        metric="api_calls",
        subscription_id=p.subscription_id,
        key_id=p.key_id,
        method=p.method,
        path=urlsplit(p.url).path[:2048] or "/",
        route=p.route,
        status=res.status,
        latency_ms=res.timing.total_ms,
        request_bytes=len(p.content or b""),
        response_bytes=res.body_bytes,
    )
    return RunRecord(row, usage)


async def record(
    session: AsyncSession, records: list[RunRecord]
) -> usage_writer.WriteResult | None:
    """Runs of the session's tenant, with their usage through the usage write path: one
    insert and one usage batch however many runs."""
    if not records:
        return None
    await session.execute(insert(PlaygroundRun), [r.row for r in records])
    events = [r.usage for r in records if r.usage is not None]
    if not events:
        return None
    return await usage_writer.write(session, events, source="playground")


async def list_runs(
    session: AsyncSession, *, user_id: uuid.UUID, everyone: bool, first: int
) -> list[PlaygroundRun]:
    q = select(PlaygroundRun).order_by(PlaygroundRun.created_at.desc(), PlaygroundRun.id.desc())
    if not everyone:  # runs on their own or their teams' subscriptions (ownership.visible)
        subs = select(Subscription.id).where(
            ownership.visible(
                Subscription.team_id, Subscription.user_id, user_id, Capability.VIEW_RUNS
            )
        )
        q = q.where(
            or_(
                PlaygroundRun.subscription_id.in_(subs),
                PlaygroundRun.subscription_id.is_(None) & (PlaygroundRun.user_id == user_id),
            )
        )
    return list(await session.scalars(q.limit(first)))
