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
import jwt
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
from tests.conftest import TEST_BOUNDARY, _owner_conn
from tests.gateway import create_gateway_token, create_key, create_plan, create_product, ok
from tests.gateway import subscribe as subscribe_plan
from tests.mailbox import token_of
from tests.services import AppServer, RedisServer
from tests.support import Api, TenantFixture, make_tenant
from tests.test_playground_support import ALLOW, IMPORT, Upstream, openapi

T0 = "2026-11-27T10:15:00Z"
WALK_PAGE = 5
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
async def served(
    pg: EmbeddedPostgres, workdir: Path, redis_server: RedisServer, request: Any
) -> AsyncIterator[Served]:
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
        # Shared with any second instance a walk starts (sessions end on every instance).
        redis_url=redis_server.url,
        kafka_bootstrap=None,
        jwt_keys_dir=workdir / "jwt",
        outbox_poll_s=0.1,
        mail_dir_path=workdir / "mail" / name,
        mail_poll_s=30.0,
        **TEST_BOUNDARY,
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
    team_key_secret: str = ""

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
            self.team_key_secret,
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
    await _billing(api, w)
    await _teams(api, w)
    await _edge(api, w)
    # Last: a tenant's allow-list narrows its outbound reach (the tests' operator policy opens
    # loopback, where the upstream is), and it may only name public hosts and ranges.
    await api.data(ALLOW, {"e": "93.184.216.0/24"}, token=w.admin)
    allow = (await api.data("{ outboundAllowlist { id } }", token=w.admin))["outboundAllowlist"]
    w.ids.update(allow_entry=allow[0]["id"])
    return w


async def _edge(api: Api, w: World) -> None:
    m = w.marker
    origin = await _pay(
        api,
        """mutation($o: String!) { addAllowedOrigin(origin: $o) { __typename
             ... on AllowedOrigin { id } ... on UserError { code message } } }""",
        {"o": f"https://{m}.example.com"},
        "addAllowedOrigin",
        w.admin,
    )
    docs = await _pay(
        api,
        """mutation($d: [String!]!) { registerTrustedDocuments(documents: $d) { __typename
             ... on TrustedDocumentsRegistered { documents { sha256 } }
             ... on UserError { code message } } }""",
        {"d": [f"query {m} {{ tenant {{ id }} }}"]},
        "registerTrustedDocuments",
        w.admin,
    )
    w.ids["allowed_origin"] = origin["id"]
    w.ids["trusted_document"] = docs["documents"][0]["sha256"]


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


async def _billing(api: Api, w: World) -> None:
    """A metered plan, a second subscription to it cancelled at once (its final invoice,
    finalized), and branded billing settings. The first subscription stays active."""
    m = w.marker
    plan = await create_plan(
        api,
        w.admin,
        w.product,
        name=f"Metered {m}",
        slug=f"{m}-metered",
        charges=[{"metric": "api_calls", "model": "PER_UNIT", "unitPrice": "0.001"}],
    )
    sub = await subscribe_plan(api, w.dev, plan)
    await _pay(
        api,
        """mutation($i: BillingSettingsInput!) { updateBillingSettings(input: $i) { __typename
             ... on BillingSettings { brandName } ... on UserError { code message field } } }""",
        {"i": {"brandName": f"Brand {m}", "invoicePrefix": m.upper()[:12]}},
        "updateBillingSettings",
        w.admin,
    )
    await _pay(
        api,
        """mutation($id: ID!) { cancelSubscription(id: $id) { __typename
             ... on Subscription { id } ... on UserError { code message field } } }""",
        {"id": sub},
        "cancelSubscription",
        w.dev,
    )
    invoices = (await api.data("{ invoices { id } }", token=w.admin))["invoices"]
    await _pay(
        api,
        """mutation($id: ID!) { finalizeInvoice(id: $id) { __typename
             ... on Invoice { number } ... on UserError { code message field } } }""",
        {"id": invoices[0]["id"]},
        "finalizeInvoice",
        w.admin,
    )
    w.ids.update(metered_plan=plan, closed_sub=sub, invoice=invoices[0]["id"])


async def _teams(api: Api, w: World) -> None:
    """The developer's team (the moderator joins it as a MEMBER through the mailed link),
    with a subscription and a key of its own, and an invitation still open."""
    m = w.marker
    team = await _pay(
        api,
        """mutation($n: String!) { createTeam(name: $n) { __typename ... on Team { id }
             ... on UserError { code message } } }""",
        {"n": f"Team {m}"},
        "createTeam",
        w.dev,
    )
    invite = """mutation($t: ID!, $e: String!) { inviteTeamMember(teamId: $t, email: $e,
      role: MEMBER) { __typename ... on TeamInvitation { id }
      ... on UserError { code message } } }"""
    await _pay(
        api, invite, {"t": team["id"], "e": f"mod-{m}@example.com"}, "inviteTeamMember", w.dev
    )
    msg = await api.mailbox.wait(f"mod-{m}@example.com", "invited you to")
    await _pay(
        api,
        """mutation($t: String!) { acceptTeamInvitation(token: $t) { __typename
             ... on Team { id } ... on UserError { code message } } }""",
        {"t": token_of(msg)},
        "acceptTeamInvitation",
        w.mod,
    )
    pending = await _pay(
        api, invite, {"t": team["id"], "e": f"later-{m}@example.com"}, "inviteTeamMember", w.dev
    )
    await api.mailbox.wait(f"later-{m}@example.com", "invited you to")  # sent: a stable world
    sub = await ok(
        api,
        """mutation($p: ID!, $t: ID) { subscribe(planId: $p, teamId: $t) { __typename
             ... on Subscription { id } ... on UserError { code message field } } }""",
        {"p": w.plan, "t": team["id"]},
        "subscribe",
        token=w.dev,
    )
    key = await create_key(api, w.dev, sub["id"], name=f"team key {m}")
    jobs = await api.data("{ mailDeliveries(first: 1) { id } }", token=w.admin)
    sid = jwt.decode(w.dev, options={"verify_signature": False})["sid"]
    w.ids.update(
        team=team["id"],
        invitation=pending["id"],
        team_subscription=sub["id"],
        team_key=key["apiKey"]["id"],
        mail_job=jobs["mailDeliveries"][0]["id"],
        dev_session=sid,
    )
    w.team_key_secret = key["secret"]


@dataclass
class Worlds:
    a: World
    b: World


async def sign_in_again(api: Api, w: World) -> None:
    """New sessions for a world's callers (after a walk's logOut ended theirs: a logged-out
    access token is refused from then on)."""
    m = w.marker
    w.admin = await api.admin_token(w.tenant)
    w.dev = (await api.log_in(w.tenant, f"dev-{m}@example.com", "correct horse battery"))[
        "accessToken"
    ]
    w.mod = (await api.log_in(w.tenant, f"mod-{m}@example.com", "correct horse battery"))[
        "accessToken"
    ]


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
        # Small pages: a world holds a few of everything, and every operation has a static
        # cost (default pages of nested lists multiply past any budget).
        paged = f"{n}(first: {WALK_PAGE})" if "first" in f.args else n
        nt = get_named_type(f.type)
        if is_leaf_type(nt):
            parts.append(alias + paged)
        elif depth > 0:
            parts.append(f"{alias}{paged} {selection(nt, depth - 1)}")
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
