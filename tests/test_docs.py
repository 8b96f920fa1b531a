"""Guides: tree, versions, move, publish visibility, rendering and search, over GraphQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import event

from aforo.models.billing import Product
from tests.support import Api, TenantFixture, make_tenant

PAGE = "id slug title status depth sortOrder version parentId"
CREATE = f"""mutation($i: CreateDocPageInput!) {{ createDocPage(input: $i) {{
  __typename ... on DocPage {{ {PAGE} }} ... on UserError {{ code message field }} }} }}"""
MOVE = f"""mutation($id: ID!, $p: ID, $pos: Int!) {{
  moveDocPage(id: $id, parentId: $p, position: $pos)
  {{ __typename ... on DocPage {{ {PAGE} }} ... on UserError {{ code message field }} }} }}"""
TREE = f"""query($p: ID!) {{ docTree(productId: $p) {{ {PAGE} html
  children {{ {PAGE} html children {{ {PAGE} html children {{ {PAGE} }} }} }} }} }}"""


async def make_product(app: FastAPI, tenant: TenantFixture, slug: str = "payments") -> str:
    async with app.state.runtime.transaction(uuid.UUID(tenant.id)) as s:
        p = Product(tenant_id=uuid.UUID(tenant.id), name=slug.title(), slug=slug)
        s.add(p)
        await s.flush()
        return str(p.id)


@contextmanager
def count_statements(app: FastAPI) -> Iterator[list[str]]:
    engine = app.state.runtime.maker.kw["bind"].sync_engine
    seen: list[str] = []

    def on(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "set_config" not in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", on)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on)


async def _setup(api: Api, app: FastAPI) -> tuple[TenantFixture, str, str]:
    t = await make_tenant(api.settings)
    token = await api.admin_token(t)
    return t, token, await make_product(app, t)


async def _create(api: Api, token: str, **fields: Any) -> dict[str, Any]:
    d = await api.data(CREATE, {"i": fields}, token=token)
    result: dict[str, Any] = d["createDocPage"]
    return result


async def test_tree_depth_limit_slugs_and_one_statement_tree(api: Api, app: FastAPI) -> None:
    _t, token, pid = await _setup(api, app)
    a = await _create(api, token, productId=pid, title="Getting started", markdown="# Hi")
    assert a["slug"] == "getting-started" and a["depth"] == 1 and a["version"] == 1
    b = await _create(api, token, productId=pid, title="Install", parentId=a["id"])
    c = await _create(api, token, productId=pid, title="On Linux", parentId=b["id"])
    assert c["depth"] == 3
    fourth = await _create(api, token, productId=pid, title="Too deep", parentId=c["id"])
    assert fourth["__typename"] == "UserError"
    assert (fourth["code"], fourth["field"]) == ("MAX_DEPTH", "parentId")
    assert "3 levels" in fourth["message"]
    dup = await _create(api, token, productId=pid, title="Install", parentId=a["id"])
    assert (dup["code"], dup["field"]) == ("CONFLICT", "slug")
    # the same slug under another parent is fine
    other = await _create(api, token, productId=pid, title="Install")
    assert other["__typename"] == "DocPage" and other["sortOrder"] == 1
    for i in range(5):
        await _create(
            api, token, productId=pid, title=f"Leaf {i}", parentId=b["id"], markdown=f"x{i}"
        )
    with count_statements(app) as seen:
        d = await api.data(TREE, {"p": pid}, token=token)
    roots = d["docTree"]
    assert [r["slug"] for r in roots] == ["getting-started", "install"]
    kids = roots[0]["children"][0]["children"]
    assert [k["slug"] for k in kids] == ["on-linux", *(f"leaf-{i}" for i in range(5))]
    assert kids[1]["html"] == "<p>x0</p>\n"
    # the tree and every page's HTML: two statements whatever the size of the tree
    assert len(seen) == 2, seen


async def test_move_reorders_reparents_and_refuses_cycles(api: Api, app: FastAPI) -> None:
    _t, token, pid = await _setup(api, app)
    a = await _create(api, token, productId=pid, title="A")
    b = await _create(api, token, productId=pid, title="B")
    c = await _create(api, token, productId=pid, title="C")
    a1 = await _create(api, token, productId=pid, title="A1", parentId=a["id"])
    a2 = await _create(api, token, productId=pid, title="A2", parentId=a1["id"])
    moved = (await api.data(MOVE, {"id": c["id"], "p": None, "pos": 0}, token=token))["moveDocPage"]
    assert moved["sortOrder"] == 0
    tree = (await api.data(TREE, {"p": pid}, token=token))["docTree"]
    assert [r["slug"] for r in tree] == ["c", "a", "b"]
    assert [r["sortOrder"] for r in tree] == [0, 1, 2]
    cycle = (await api.data(MOVE, {"id": a["id"], "p": a2["id"], "pos": 0}, token=token))[
        "moveDocPage"
    ]
    assert (cycle["code"], cycle["field"]) == ("CYCLE", "parentId")
    self_cycle = await api.data(MOVE, {"id": a["id"], "p": a["id"], "pos": 0}, token=token)
    assert self_cycle["moveDocPage"]["code"] == "CYCLE"
    # a subtree of height 3 cannot go under anything
    deep = (await api.data(MOVE, {"id": a["id"], "p": b["id"], "pos": 0}, token=token))[
        "moveDocPage"
    ]
    assert deep["code"] == "MAX_DEPTH"
    # re-parent A1 (with child A2) under B: depths follow
    ok = (await api.data(MOVE, {"id": a1["id"], "p": b["id"], "pos": 5}, token=token))[
        "moveDocPage"
    ]
    assert ok["parentId"] == b["id"] and ok["depth"] == 2 and ok["sortOrder"] == 0
    tree = (await api.data(TREE, {"p": pid}, token=token))["docTree"]
    b_node = next(r for r in tree if r["slug"] == "b")
    assert b_node["children"][0]["children"][0]["depth"] == 3
    assert next(r for r in tree if r["slug"] == "a")["children"] == []


async def test_versions_restore_render_and_storefront_visibility(api: Api, app: FastAPI) -> None:
    t, token, pid = await _setup(api, app)
    guide = await _create(api, token, productId=pid, title="Guide", status="PUBLISHED")
    draft = await _create(api, token, productId=pid, title="Secret", parentId=guide["id"])
    md = (
        "# Auth\n\n## Tokens\n\n[x](javascript:alert(1)) <script>x</script>\n\n"
        "| a |\n|---|\n| 1 |\n"
    )
    upd = await api.data(
        """mutation($i: UpdateDocPageInput!) { updateDocPage(input: $i) {
             ... on DocPage { version } ... on UserError { code } } }""",
        {"i": {"id": guide["id"], "markdown": md}},
        token=token,
    )
    assert upd["updateDocPage"]["version"] == 2
    q = """query($p: ID!, $s: String!) { docPage(productId: $p, slug: $s) {
             title html version toc { level text anchor } breadcrumbs { slug }
             versions { number markdown author { name } } } }"""
    page = (await api.data(q, {"p": pid, "s": "guide"}, token=token))["docPage"]
    assert page["toc"] == [
        {"level": 1, "text": "Auth", "anchor": "auth"},
        {"level": 2, "text": "Tokens", "anchor": "tokens"},
    ]
    assert '<h2 id="tokens">' in page["html"] and "<table>" in page["html"]
    assert "<script>" not in page["html"] and 'href="javascript' not in page["html"]
    assert [v["number"] for v in page["versions"]] == [2, 1]
    assert page["versions"][0]["author"] is not None
    restored = await api.data(
        """mutation($id: ID!) { restoreDocPageVersion(id: $id, version: 1) {
             ... on DocPage { version markdown } ... on UserError { code } } }""",
        {"id": guide["id"]},
        token=token,
    )
    assert restored["restoreDocPageVersion"] == {"version": 3, "markdown": ""}
    nested = (await api.data(q, {"p": pid, "s": "guide/secret"}, token=token))["docPage"]
    assert [b["slug"] for b in nested["breadcrumbs"]] == ["guide", "secret"]
    # a storefront visitor sees the published page, never the draft nor the history
    anon = (await api.data(q, {"p": pid, "s": "guide"}, storefront=t.storefront_key))["docPage"]
    assert anon["versions"] == [] and anon["version"] == 3
    hidden = await api.gql(q, {"p": pid, "s": "guide/secret"}, storefront=t.storefront_key)
    assert hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    tree = (await api.data(TREE, {"p": pid}, storefront=t.storefront_key))["docTree"]
    assert [r["slug"] for r in tree] == ["guide"] and tree[0]["children"] == []
    denied = await api.gql(
        CREATE, {"i": {"productId": pid, "title": "x"}}, storefront=t.storefront_key
    )
    assert denied["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert draft["status"] == "DRAFT"


async def test_search_ranks_title_over_body_and_skips_drafts(api: Api, app: FastAPI) -> None:
    t, token, pid = await _setup(api, app)
    await _create(
        api, token, productId=pid, title="Webhooks", markdown="Receive events.", status="PUBLISHED"
    )
    await _create(
        api,
        token,
        productId=pid,
        title="Events",
        markdown="We send webhooks when things happen.",
        status="PUBLISHED",
    )
    await _create(
        api, token, productId=pid, title="Webhook secrets", markdown="draft", status="DRAFT"
    )
    draft_parent = await _create(api, token, productId=pid, title="Internal", status="DRAFT")
    await _create(
        api,
        token,
        productId=pid,
        title="Webhooks internals",
        parentId=draft_parent["id"],
        markdown="webhooks",
        status="PUBLISHED",
    )
    d = await api.data(
        """query($p: ID!) { searchDocs(productId: $p, query: "webhooks") {
             page { slug } rank snippet snippetHtml } }""",
        {"p": pid},
        storefront=t.storefront_key,
    )
    hits = d["searchDocs"]
    assert [h["page"]["slug"] for h in hits] == ["webhooks", "events"]
    assert hits[0]["rank"] > hits[1]["rank"]
    assert "<mark>webhooks</mark>" in hits[1]["snippetHtml"]
    assert "webhooks" in hits[1]["snippet"] and "<mark>" not in hits[1]["snippet"]
    # tenant isolation: another tenant's visitor finds nothing for this product
    other = await make_tenant(api.settings, "Other")
    d = await api.data(
        """query($p: ID!) { searchDocs(productId: $p, query: "webhooks") { page { slug } } }""",
        {"p": pid},
        storefront=other.storefront_key,
    )
    assert d["searchDocs"] == []


async def test_delete_removes_subtree(api: Api, app: FastAPI) -> None:
    _t, token, pid = await _setup(api, app)
    a = await _create(api, token, productId=pid, title="A")
    await _create(api, token, productId=pid, title="A1", parentId=a["id"])
    d = await api.data(
        """mutation($id: ID!) { deleteDocPage(id: $id) {
             ... on DocPageDeleted { id } ... on UserError { code } } }""",
        {"id": a["id"]},
        token=token,
    )
    assert d["deleteDocPage"] == {"id": a["id"]}
    assert (await api.data(TREE, {"p": pid}, token=token))["docTree"] == []
    again = await api.data(
        """mutation($id: ID!) { deleteDocPage(id: $id) { ... on UserError { code field } } }""",
        {"id": a["id"]},
        token=token,
    )
    assert again["deleteDocPage"] == {"code": "NOT_FOUND", "field": "id"}
