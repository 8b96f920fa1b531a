"""Two tenants' worlds for the isolation and role walks (no tests here).

Tenant A gets data in every domain, made through the public API only (GraphQL as its admin,
a developer and a moderator; the REST ingestion endpoints with its gateway token; a try-it
run against a local upstream). Tenant B gets the same world of its own, so B's callers hold
valid credentials and ids to mix with A's. Every name A chooses carries a marker string, so a
response leaking A's data is found by searching it for A's ids and markers.

The app is served by uvicorn (websockets for the subscription walk) on a database of its own,
built once per test module."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLField,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
    is_leaf_type,
)
from graphql.pyutils import Undefined

from aforo.app import create_app, schema
from aforo.config import Settings
from aforo.runtime.postgres import OWNER_ROLE, EmbeddedPostgres
from tests.conftest import _owner_conn
from tests.gateway import create_gateway_token, create_key, create_plan, create_product, ok
from tests.gateway import subscribe as subscribe_plan
from tests.services import AppServer
from tests.support import Api, TenantFixture, make_tenant
from tests.test_playground_support import ALLOW, IMPORT, Upstream, openapi

T0 = "2026-11-27T10:15:00Z"
GQL: GraphQLSchema = schema()._schema
ROOTS = {"Query": "query", "Mutation": "mutation", "RootSubscription": "subscription"}


# -- the app, served on a database of the module's own -------------------------------------
@dataclass
class Served:
    api: Api
    settings: Settings
    url: str
    upstream: Upstream
    upstream_url: str


@pytest.fixture(scope="module")
async def served(pg: EmbeddedPostgres, workdir: Path, request: Any) -> AsyncIterator[Served]:
    name = f"walk_{request.module.__name__.rsplit('.', 1)[-1]}"
    conn = await _owner_conn(pg)
    try:
        await conn.execute(f"create database {name} template aforo strategy file_copy")
    finally:
        await conn.close()
    settings = Settings(
        home=workdir / "home",
        database_url=pg.url("aforo_app", name),
        migration_database_url=pg.url(OWNER_ROLE, name),
        redis_url=None,
        kafka_bootstrap=None,
        jwt_keys_dir=workdir / "jwt",
        outbox_poll_s=0.1,
    )
    up = Upstream()
    up_server = AppServer(up.app()).start()
    server = AppServer(create_app(settings)).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            yield Served(Api(client, settings), settings, server.url, up, up_server.url)
    finally:
        server.stop()
        up_server.stop()
        conn = await _owner_conn(pg)
        try:
            await conn.execute(f"drop database if exists {name} with (force)")
        finally:
            await conn.close()


# -- one tenant's world ------------------------------------------------------------------------
@dataclass
class World:
    """A tenant's callers and the ids of what it owns. ``ids`` maps a name to an id."""

    tenant: TenantFixture
    marker: str
    admin: str
    dev: str
    mod: str
    dev_refresh: str
    gateway: str
    key_secret: str
    cc_secret: str
    ids: dict[str, str] = field(default_factory=dict)

    def __getattr__(self, name: str) -> str:
        ids = self.__dict__.get("ids", {})
        if name in ids:
            return str(ids[name])
        raise AttributeError(name)

    def caller(self, role: str) -> dict[str, str]:
        """Keyword arguments for ``Api.gql``: who is asking."""
        if role == "anonymous":
            return {"storefront": self.tenant.storefront_key}
        return {"token": {"admin": self.admin, "developer": self.dev, "moderator": self.mod}[role]}

    def secrets(self) -> list[str]:
        """What must never appear in another tenant's responses: ids, markers, credentials."""
        return [
            self.marker,
            self.tenant.id,
            self.tenant.slug,
            self.tenant.storefront_key,
            self.gateway,
            self.key_secret,
            self.cc_secret,
            *self.ids.values(),
        ]


async def _pay(api: Api, query: str, variables: dict[str, Any], name: str, token: str) -> Any:
    return await ok(api, query, variables, name, token=token)


async def build_world(s: Served, name: str) -> World:
    """A tenant with data in every domain, each name carrying the tenant's marker."""
    api = s.api
    m = name.lower() + "mark"  # the marker in every name this tenant chooses
    t = await make_tenant(s.settings, name, slug=f"{m}-co")
    admin = await api.admin_token(t)
    me = (await api.data("{ me { id } }", token=admin))["me"]["id"]
    dev = await api.sign_up(t, f"dev-{m}@example.com", name=f"Dev {m}")
    mod = await api.sign_up(t, f"mod-{m}@example.com", name=f"Mod {m}")
    await _pay(
        api,
        """mutation($u: ID!) { setUserRoles(userId: $u, roles: [MODERATOR]) { __typename
             ... on User { id } ... on UserError { code } } }""",
        {"u": mod["user"]["id"]},
        "setUserRoles",
        admin,
    )
    mod_token = (await api.log_in(t, f"mod-{m}@example.com", "correct horse battery"))[
        "accessToken"
    ]
    product = await create_product(api, admin, slug=f"{m}-weather")
    plan = await create_plan(api, admin, product, name=f"Plan {m}", slug=f"{m}-starter")
    sub = await subscribe_plan(api, dev["accessToken"], plan)
    key = await create_key(api, dev["accessToken"], sub, name=f"key {m}")
    cc = await create_key(api, dev["accessToken"], sub, fmt="CLIENT_CREDENTIALS", name=f"cc {m}")
    gateway = await create_gateway_token(api, admin)
    sfk = await _pay(
        api,
        """mutation($n: String!) { createStorefrontKey(name: $n) { __typename
             ... on StorefrontKeyCreated { storefrontKey { id } } ... on UserError { code } } }""",
        {"n": f"sf {m}"},
        "createStorefrontKey",
        admin,
    )
    tokens = (await api.data("{ gatewayTokens { id } }", token=admin))["gatewayTokens"]
    w = World(
        t,
        m,
        admin,
        dev["accessToken"],
        mod_token,
        dev["refreshToken"],
        gateway,
        key["secret"],
        cc["secret"],
        {
            "admin_id": me,
            "dev_id": dev["user"]["id"],
            "mod_id": mod["user"]["id"],
            "product": product,
            "plan": plan,
            "subscription": sub,
            "key": key["apiKey"]["id"],
            "cc_key": cc["apiKey"]["id"],
            "cc_client": cc["clientId"],
            "storefront_key_id": sfk["storefrontKey"]["id"],
            "gateway_token_id": tokens[0]["id"],
        },
    )
    await _forum(api, w)
    await _docs(api, w)
    await _specs(api, s, w)
    await _usage(api, w)
    await _playground(api, w)
    return w


async def _forum(api: Api, w: World) -> None:
    m = w.marker
    cat = await _pay(
        api,
        """mutation($i: CategoryInput!) { saveCategory(input: $i) { __typename
             ... on ForumCategory { id } ... on UserError { code message field } } }""",
        {"i": {"name": f"Help {m}", "description": f"about {m}"}},
        "saveCategory",
        w.admin,
    )
    thread = await _pay(
        api,
        """mutation($i: CreateThreadInput!) { createThread(input: $i) { __typename
             ... on Thread { id } ... on UserError { code message field } } }""",
        {
            "i": {
                "categoryId": cat["id"],
                "title": f"How to {m} things",
                "body": f"{m} body",
                "tags": [m],
            }
        },
        "createThread",
        w.dev,
    )
    reply = await _pay(
        api,
        """mutation($t: ID!, $b: String!) { reply(threadId: $t, body: $b) { __typename
             ... on Reply { id } ... on UserError { code message field } } }""",
        {"t": thread["id"], "b": f"answer {m}"},
        "reply",
        w.mod,
    )
    await _pay(
        api,
        """mutation($id: ID!) { vote(targetType: REPLY, targetId: $id, value: 1) { __typename
             ... on VoteCast { score } ... on UserError { code message field } } }""",
        {"id": reply["id"]},
        "vote",
        w.dev,
    )
    await _pay(
        api,
        """mutation($r: ID!) { acceptAnswer(replyId: $r) { __typename
             ... on Thread { id } ... on UserError { code message field } } }""",
        {"r": reply["id"]},
        "acceptAnswer",
        w.dev,
    )
    spam = await _pay(
        api,
        """mutation($t: ID!, $b: String!) { reply(threadId: $t, body: $b) { __typename
             ... on Reply { id } ... on UserError { code message field } } }""",
        {"t": thread["id"], "b": f"buy {m} now"},
        "reply",
        w.dev,
    )
    report = await _pay(
        api,
        """mutation($id: ID!, $n: String) { report(targetType: REPLY, targetId: $id,
             reason: SPAM, note: $n) { __typename ... on Report { id }
             ... on UserError { code message field } } }""",
        {"id": spam["id"], "n": f"spam {m}"},
        "report",
        w.mod,
    )
    await _pay(
        api,
        """mutation($i: ModerateInput!) { moderate(input: $i) { __typename
             ... on UserError { code message field } } }""",
        {
            "i": {
                "action": "PIN",
                "reason": f"pinned {m}",
                "targetType": "THREAD",
                "targetId": thread["id"],
            }
        },
        "moderate",
        w.mod,
    )
    w.ids.update(
        category=cat["id"],
        thread=thread["id"],
        reply=reply["id"],
        spam_reply=spam["id"],
        report=report["id"],
    )


async def _docs(api: Api, w: World) -> None:
    m = w.marker
    page = await _pay(
        api,
        """mutation($i: CreateDocPageInput!) { createDocPage(input: $i) { __typename
             ... on DocPage { id slug } ... on UserError { code message field } } }""",
        {
            "i": {
                "productId": w.product,
                "title": f"Guide {m}",
                "markdown": f"# {m}\n\ntext {m}",
                "slug": f"{m}-guide",
                "status": "PUBLISHED",
            }
        },
        "createDocPage",
        w.admin,
    )
    await _pay(
        api,
        """mutation($i: UpdateDocPageInput!) { updateDocPage(input: $i) { __typename
             ... on DocPage { id version } ... on UserError { code message field } } }""",
        {"i": {"id": page["id"], "markdown": f"# {m}\n\nsecond {m}"}},
        "updateDocPage",
        w.admin,
    )
    w.ids.update(doc_page=page["id"], doc_slug=page["slug"])


async def _specs(api: Api, s: Served, w: World) -> None:
    await api.data(ALLOW, {"e": "127.0.0.1"}, token=w.admin)
    allow = (await api.data("{ outboundAllowlist { id } }", token=w.admin))["outboundAllowlist"]
    imported = await _pay(
        api,
        IMPORT.replace("version { operations", "version { id operations"),
        {
            "i": {
                "productId": w.product,
                "format": "OPENAPI_3",
                "content": openapi([s.upstream_url]),
                "name": f"{w.marker}-api",
            }
        },
        "importSpec",
        w.admin,
    )
    ops = {o["key"]: o["id"] for o in imported["version"]["operations"]}
    w.ids.update(
        allow_entry=allow[0]["id"],
        spec=imported["spec"]["id"],
        spec_version=imported["version"]["id"],
        operation=ops["GET /forecast/{city}"],
        slow_operation=ops["GET /slow"],
    )


async def _usage(api: Api, w: World) -> None:
    r = await api.client.post(
        "/v1/usage/events",
        json={
            "events": [
                {
                    "event_id": f"{w.marker}-e1",
                    "metric": "api_calls",
                    "quantity": 3,
                    "occurred_at": T0,
                    "consumer": w.key,
                },
                {"event_id": f"{w.marker}-bad", "metric": "api_calls", "occurred_at": "nope"},
            ]
        },
        headers={"Authorization": f"Bearer {w.gateway}"},
    )
    assert r.status_code == 200, r.text
    csv = f"event_id,metric,quantity,occurred_at,consumer\n{w.marker}-u1,api_calls,2,{T0},{w.key}\n"
    r = await api.client.post(
        "/v1/usage/upload",
        content=csv.encode(),
        params={"filename": f"{w.marker}.csv"},
        headers={"Authorization": f"Bearer {w.gateway}", "content-type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    w.ids.update(upload=r.json()["id"])
    mapping = f"{w.marker}-map"
    saved = await api.data(
        """mutation($i: UsageMappingInput!) { saveUsageMapping(input: $i) {
             ... on UsageMapping { name } ... on UserError { code } } }""",
        {"i": {"name": mapping, "fields": [{"field": "occurred_at", "source": w.marker}]}},
        token=w.admin,
    )
    assert saved["saveUsageMapping"] == {"name": mapping}, saved
    w.ids.update(mapping=mapping)


async def _playground(api: Api, w: World) -> None:
    run = await _pay(
        api,
        """mutation($i: TryOperationInput!) { tryOperation(input: $i) { __typename
             ... on PlaygroundResponse { runId status }
             ... on UserError { code message field } } }""",
        {
            "i": {
                "operationId": w.operation,
                "keyId": w.key,
                "pathParams": [{"name": "city", "value": w.marker}],
            }
        },
        "tryOperation",
        w.dev,
    )
    assert run["status"] == 200, run
    w.ids.update(run=run["runId"])


@dataclass
class Worlds:
    a: World
    b: World


@pytest.fixture(scope="module")
async def worlds(served: Served) -> Worlds:
    a = await build_world(served, "Alpha")
    b = await build_world(served, "Bravo")
    return Worlds(a, b)


# -- the live schema ---------------------------------------------------------------------------
def root_fields() -> dict[str, GraphQLField]:
    """Every field of Query, Mutation and the subscription root, keyed ``Type.field``."""
    out: dict[str, GraphQLField] = {}
    for root in ROOTS:
        t = GQL.type_map[root]
        assert isinstance(t, GraphQLObjectType)
        out.update({f"{root}.{n}": f for n, f in t.fields.items()})
    return out


def _required_args(f: GraphQLField) -> bool:
    return any(
        isinstance(a.type, GraphQLNonNull) and a.default_value is Undefined for a in f.args.values()
    )


def selection(t: GraphQLNamedType, depth: int = 3) -> str:
    """Every field reachable ``depth`` object levels down (fields needing arguments skipped),
    so a response shows all a caller can read; union members' clashing fields are aliased."""
    if isinstance(t, GraphQLUnionType):
        types: dict[str, set[str]] = {}
        for member in t.types:
            for n, f in member.fields.items():
                types.setdefault(n, set()).add(str(f.type))
        clash = {n for n, ts in types.items() if len(ts) > 1}
        parts = [f"... on {mt.name} {_object(mt, depth, clash)}" for mt in t.types]
        return "{ __typename " + " ".join(parts) + " }"
    assert isinstance(t, GraphQLObjectType)
    return _object(t, depth, set())


def _object(t: GraphQLObjectType, depth: int, clash: set[str]) -> str:
    parts = ["__typename"]
    for n, f in t.fields.items():
        if _required_args(f):
            continue
        alias = f"{t.name}_{n}: " if n in clash else ""
        nt = get_named_type(f.type)
        if is_leaf_type(nt):
            parts.append(alias + n)
        elif depth > 0:
            parts.append(f"{alias}{n} {selection(nt, depth - 1)}")
    return "{ " + " ".join(parts) + " }"


def document(key: str, args: dict[str, Any], depth: int = 3) -> str:
    """One operation calling root field ``key`` (``Type.field``) with ``args`` as variables."""
    root, name = key.split(".")
    f = root_fields()[key]
    decl = ", ".join(f"${a}: {f.args[a].type}" for a in args)
    call = ", ".join(f"{a}: ${a}" for a in args)
    head = ROOTS[root] + (f"({decl})" if decl else "")
    nt = get_named_type(f.type)
    sel = "" if is_leaf_type(nt) else selection(nt, depth)
    return f"{head} {{ {name}{f'({call})' if call else ''} {sel} }}"


def leaks(payload: Any, secrets: list[str]) -> list[str]:
    text = json.dumps(payload)
    return [s for s in secrets if s and s in text]


def error_codes(body: dict[str, Any]) -> list[str]:
    return [str((e.get("extensions") or {}).get("code")) for e in body.get("errors") or []]


def user_error(body: dict[str, Any], name: str) -> str | None:
    payload = (body.get("data") or {}).get(name)
    if isinstance(payload, dict) and "code" in payload and "message" in payload:
        return str(payload["code"])
    return None
