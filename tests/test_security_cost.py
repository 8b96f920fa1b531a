"""Every operation has a static cost checked before it runs; every list is paginated or
bounded; responses are capped. The assessment's 2.5 KB anonymous query (30 aliases of a thread
with its replies, authors and children) returned 73 MB: it is refused before any SQL now."""

from __future__ import annotations

from fastapi import FastAPI
from graphql import GraphQLList, GraphQLObjectType, get_named_type, get_nullable_type

from aforo.app import create_app, schema
from aforo.config import Settings
from aforo.graphql_limits import LIST_SIZES
from aforo.schema.base import MAX_PAGE
from tests.conftest import with_settings
from tests.gateway import create_product, serving, statements
from tests.support import Api
from tests.test_forum_support import Forum, make_forum

REPORT = """mutation($id: ID!) { report(targetType: THREAD, targetId: $id, reason: SPAM) {
  __typename } }"""
DOC = """mutation($p: ID!) { createDocPage(input: {productId: $p, title: "Guide",
  markdown: "# Hi", status: PUBLISHED}) { __typename } }"""
SPEC = """mutation($p: ID!, $c: String!) { importSpec(input: {productId: $p, format: OPENAPI_3,
  content: $c}) { __typename } }"""
# Paged fields below the root (root ones: test_graphql_abuse walks them).
NESTED_PAGED = {
    ("Thread", "replies"),
    ("Thread", "revisions"),
    ("Reply", "children"),
    ("Reply", "revisions"),
    ("ModerationQueueItem", "reports"),
    ("DocPage", "versions"),
    ("ApiSpec", "versions"),
}
# A spec's nested pages: tested the same way in test_spec_reference.py
SPEC_PAGED = {
    ("SpecVersion", "operations"),
    ("SpecVersion", "webhooks"),
    ("SpecVersion", "components"),
    ("SpecVersion", "graphqlTypes"),
    ("SpecTag", "operations"),
    ("ApiOperation", "callbacks"),
}


def attack(thread_id: str, aliases: int = 30) -> str:
    one = (
        f'thread(id: "{thread_id}") {{ title replies {{ body author {{ name }} '
        "children { body author { name } children { body } } } }"
    )
    return "{ " + " ".join(f"t{i}: {one}" for i in range(aliases)) + " }"


async def _thread_with_replies(f: Forum, n: int = 3) -> str:
    ada = await f.member()
    cat = await f.category()
    t = await f.thread(ada, cat, "A thread with replies")
    for i in range(n):
        top = await f.reply(ada, t["id"], f"reply {i}")
        await f.reply(ada, t["id"], f"child {i}", parent=top["id"])
    tid: str = t["id"]
    return tid


async def test_the_assessment_s_alias_query_is_refused_before_it_runs(
    api: Api, app: FastAPI
) -> None:
    f = await make_forum(api, app)
    tid = await _thread_with_replies(f)
    await api.gql("{ tenant { name } }", storefront=f.tenant.storefront_key)  # key now cached
    with statements(app) as seen:
        body = await api.gql(attack(tid), storefront=f.tenant.storefront_key)
    assert body["data"] is None
    (error,) = body["errors"]
    ext = error["extensions"]
    assert ext["code"] == "QUERY_TOO_COSTLY" and ext["cost"] > ext["budget"] == 10_000
    assert str(ext["cost"]) in error["message"]
    assert seen == []  # refused before any statement
    # The budget is the caller's: a developer gets more, an admin more again.
    two = attack(tid, aliases=2)
    anonymous = await api.gql(two, storefront=f.tenant.storefront_key)
    cost = anonymous["errors"][0]["extensions"]["cost"]
    assert 10_000 < cost <= 20_000, cost
    member = await f.member("bob")
    assert not (await api.gql(two, token=member.token)).get("errors")
    # Variables count: a page size given as a variable prices the query.
    q = """query($id: ID!, $n: Int) { thread(id: $id) { replies(first: $n) { body
        children(first: 10) { body children(first: 10) { body } } } } }"""
    small = await api.gql(q, {"id": tid, "n": 10}, storefront=f.tenant.storefront_key)
    assert not small.get("errors") and len(small["data"]["thread"]["replies"]) == 3
    big = await api.gql(q, {"id": tid, "n": 200}, storefront=f.tenant.storefront_key)
    assert big["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"


async def test_replies_and_children_are_paginated(api: Api, app: FastAPI) -> None:
    f = await make_forum(api, app)
    ada = await f.member()
    cat = await f.category()
    t = await f.thread(ada, cat, "Paged replies thread")
    tops = [await f.reply(ada, t["id"], f"top {i}") for i in range(4)]
    for i in range(3):
        await f.reply(ada, t["id"], f"child {i}", parent=tops[1]["id"])
    q = """query($id: ID!, $n: Int, $o: Int!) { thread(id: $id) {
        replies(first: $n, offset: $o) { body children(first: 2, offset: 1) { body } } } }"""
    d = await f.data(q, {"id": t["id"], "n": 2, "o": 1})
    assert d["thread"]["replies"] == [
        {"body": "top 1", "children": [{"body": "child 1"}, {"body": "child 2"}]},
        {"body": "top 2", "children": []},
    ]
    for n in (0, MAX_PAGE + 1):
        body = await api.gql(q, {"id": t["id"], "n": n, "o": 0}, storefront=f.tenant.storefront_key)
        assert body["errors"][0]["extensions"] == {"code": "INVALID", "field": "first"}


async def test_every_nested_page_refuses_a_huge_page(api: Api, app: FastAPI) -> None:
    f = await make_forum(api, app)
    cat = await f.category()
    t = await f.thread(f.admin, cat, "Paged everything thread")
    r = await f.reply(f.admin, t["id"], "a reply")
    reported = await f.data(REPORT, {"id": t["id"]}, await f.member())
    assert reported["report"]["__typename"] == "Report", reported
    product = await create_product(api, f.admin.token)
    await api.data(DOC, {"p": product}, token=f.admin.token)
    spec = '{"openapi": "3.0.3", "info": {"title": "T", "version": "1"}, "paths": {}}'
    await api.data(SPEC, {"p": product, "c": spec}, token=f.admin.token)
    paths = {
        ("Thread", "replies"): ('thread(id: "%s") { replies(first: $n) { body } }', t["id"]),
        ("Thread", "revisions"): ('thread(id: "%s") { revisions(first: $n) { body } }', t["id"]),
        ("Reply", "children"): (
            'thread(id: "%s") { replies { children(first: $n) { body } } }',
            t["id"],
        ),
        ("Reply", "revisions"): (
            'thread(id: "%s") { replies { revisions(first: $n) { body } } }',
            t["id"],
        ),
        ("ModerationQueueItem", "reports"): ("moderationQueue { reports(first: $n) { id } }", ""),
        ("DocPage", "versions"): (
            'docTree(productId: "%s") { versions(first: $n) { number } }',
            product,
        ),
        ("ApiSpec", "versions"): (
            'apiSpecs(productId: "%s") { versions(first: $n) { number } }',
            product,
        ),
    }
    assert set(paths) == NESTED_PAGED and r["__typename"] == "Reply"
    for key, (field, arg) in paths.items():
        q = "query($n: Int!) { " + (field % arg if arg else field) + " }"
        for n, refused in ((MAX_PAGE + 1, True), (0, True), (5, False)):
            body = await api.gql(q, {"n": n}, token=f.admin.token)
            got = [e["extensions"] for e in body.get("errors") or []]
            assert got == ([{"code": "INVALID", "field": "first"}] if refused else []), (key, body)


def test_a_connection_s_page_sizes_its_edges() -> None:
    from graphql import parse

    from aforo.graphql_limits import compile_plan

    gql = schema()._schema
    q = "query($n: Int) { threads(first: $n) { edges { node { author { name } } } } }"
    plan = compile_plan(gql, parse(q), None)
    assert plan is not None
    # threads 1 + n edges x (edge 1 + node 1 + author 1)
    assert [plan.cost({"n": n}) for n in (10, 100)] == [31, 301]
    assert plan.cost({}) == 1 + 50 * 3  # the default page


def test_every_list_is_paginated_or_bounded() -> None:
    gql = schema()._schema
    unbounded = []
    paged = set()
    for name, t in gql.type_map.items():
        if name.startswith("__") or not isinstance(t, GraphQLObjectType):
            continue
        for fname, fld in t.fields.items():
            nullable = get_nullable_type(fld.type)
            if not isinstance(nullable, GraphQLList) and "first" not in fld.args:
                continue
            if "first" in fld.args:
                if name != "Query":
                    paged.add((name, fname))
                continue
            inner = get_named_type(nullable)
            connection = fname in ("edges", "nodes")  # sized by the parent's `first`
            if f"{name}.{fname}" not in LIST_SIZES and not connection:
                unbounded.append(f"{name}.{fname}: [{inner}]")
    assert unbounded == [], "paginate these or give them a bound in LIST_SIZES"
    assert paged == NESTED_PAGED | SPEC_PAGED  # each refuses a huge page (tested)
    fields = {
        f"{n}.{f}"
        for n, t in gql.type_map.items()
        if isinstance(t, GraphQLObjectType)
        for f in t.fields
    }
    assert set(LIST_SIZES) <= fields, set(LIST_SIZES) - fields  # no bound for a field now gone


async def test_responses_are_capped(api: Api, app: FastAPI, settings: Settings) -> None:
    f = await make_forum(api, app)
    ada = await f.member()
    cat = await f.category()
    await f.thread(ada, cat, "A long one", body="word " * 2000)
    # Another instance on the same database, with a small cap.
    async with serving(with_settings(settings, max_response_bytes=4096)) as capped:
        body = await capped.gql(
            "{ threads { edges { node { body bodyHtml } } } }",
            storefront=f.tenant.storefront_key,
        )
    assert body == {
        "errors": [
            {
                "message": "the response would be larger than 4096 bytes; ask for less "
                "(smaller pages, fewer fields)",
                "extensions": {"code": "RESPONSE_TOO_LARGE"},
            }
        ],
        "data": None,
    }


def test_budgets_are_settings() -> None:
    shipped = Settings(database_url="postgresql+asyncpg://unused/unused")
    assert (shipped.cost_anonymous, shipped.cost_developer, shipped.cost_admin) == (
        10_000,
        20_000,
        100_000,
    )
    assert create_app(with_settings(shipped, cost_anonymous=1)) is not None
