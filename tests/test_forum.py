"""Forum content over GraphQL: categories, threads, the reply tree, listing, edits, deletes."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy import event

from tests.support import Api
from tests.test_forum_support import ACCEPT, SAVE_CATEGORY, make_forum

# Every level pages (a static cost is checked before the query runs: 50 top-level replies with
# 10 children at four levels would be refused).
TREE = """query($id: ID!) { thread(id: $id) { id title viewCount replyCount removed
  author { name } category { name }
  replies(first: 10) { id depth body removed author { name }
    children(first: 5) { id depth body children(first: 5) { id depth body
      children(first: 5) { id depth body parentReplyId children(first: 5) { id } } } } } } }"""
LIST = """query($first: Int, $after: String, $cat: ID, $tag: String, $status: ThreadStatus,
               $order: ThreadOrder) {
  threads(first: $first, after: $after, categoryId: $cat, tag: $tag, status: $status,
          orderBy: $order) {
    edges { cursor node { id title replyCount viewCount score tags status
      author { name } category { name } lastReply { id body author { name } } } }
    pageInfo { hasNextPage endCursor } } }"""


async def test_reply_tree_nests_to_the_depth_limit_then_attaches_to_the_deepest_parent(
    api: Api, app: FastAPI
) -> None:
    f = await make_forum(api, app)
    ada, bob = await f.members(2)
    cat = await f.category("Help")
    t = await f.thread(ada, cat, "How do I rotate keys?", "Use **rotate**. <script>x</script>")
    assert "<strong>rotate</strong>" in t["bodyHtml"] and "<script>" not in t["bodyHtml"]

    r0 = await f.reply(bob, t["id"], "depth zero")
    r1 = await f.reply(ada, t["id"], "depth one", parent=r0["id"])
    r2 = await f.reply(bob, t["id"], "depth two", parent=r1["id"])
    r3 = await f.reply(ada, t["id"], "depth three", parent=r2["id"])
    deeper = await f.reply(bob, t["id"], "would be four", parent=r3["id"])
    assert [r["depth"] for r in (r0, r1, r2, r3)] == [0, 1, 2, 3]
    # Past the limit the reply becomes a sibling of its target, under the deepest allowed parent.
    assert deeper["depth"] == 3 and deeper["parentReplyId"] == r2["id"]

    d = await f.data(TREE, {"id": t["id"]})
    thread = d["thread"]
    assert thread["replyCount"] == 5 and thread["viewCount"] == 1
    assert thread["author"]["name"] == "dev0" and thread["category"]["name"] == "Help"
    (top,) = thread["replies"]
    assert top["body"] == "depth zero" and top["author"]["name"] == "dev1"
    level2 = top["children"][0]["children"][0]
    assert [c["body"] for c in level2["children"]] == ["depth three", "would be four"]
    assert all(c["parentReplyId"] == r2["id"] for c in level2["children"])
    d = await f.data(TREE, {"id": t["id"]})
    assert d["thread"]["viewCount"] == 2


async def test_reply_validation_and_locked_threads(api: Api, app: FastAPI) -> None:
    f = await make_forum(api, app)
    ada, bob = await f.members(2)
    mod = await f.moderator()
    cat = await f.category()
    t1 = await f.thread(ada, cat, "First question here")
    t2 = await f.thread(ada, cat, "Second question here")
    other = await f.reply(bob, t2["id"])

    bad = await f.reply(bob, t1["id"], "x", parent=other["id"])
    assert bad == {
        "__typename": "UserError",
        "code": "INVALID",
        "field": "parentReplyId",
        "message": "that reply is in another thread",
    }
    bad = await f.reply(bob, t1["id"], "   ")
    assert (bad["code"], bad["field"]) == ("INVALID", "body")
    bad = await f.reply(bob, t1["id"], "x" * 20_001)
    assert (bad["code"], bad["field"]) == ("INVALID", "body")
    bad = await f.reply(bob, "not-an-id", "hello")
    assert (bad["code"], bad["field"]) == ("INVALID", "threadId")

    locked = await f.data(
        """mutation($id: ID!) { moderate(input: {targetType: THREAD, targetId: $id, action: LOCK,
             reason: "heated"}) { __typename } }""",
        {"id": t1["id"]},
        mod,
    )
    assert locked["moderate"]["__typename"] == "ModerationRecord"
    bad = await f.reply(bob, t1["id"], "still talking")
    assert (bad["code"], bad["field"]) == ("THREAD_LOCKED", "threadId")

    # Anonymous storefront callers read but cannot write.
    body = await api.gql(
        'mutation($t: ID!) { reply(threadId: $t, body: "hi") { __typename } }',
        {"t": t1["id"]},
        storefront=f.tenant.storefront_key,
    )
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_create_thread_validation(api: Api, app: FastAPI) -> None:
    f = await make_forum(api, app)
    ada = await f.member()
    cat = await f.category()
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"title": "hey"}, "INVALID", "title"),
        ({"title": "x" * 201}, "INVALID", "title"),
        ({"body": ""}, "INVALID", "body"),
        ({"tags": ["has space"]}, "INVALID", "tags"),
        ({"tags": [f"t{i}" for i in range(6)]}, "INVALID", "tags"),
        ({"categoryId": "00000000-0000-0000-0000-000000000000"}, "NOT_FOUND", "categoryId"),
        ({"categoryId": "nope"}, "INVALID", "categoryId"),
    ]
    for change, code, field in cases:
        i = {"categoryId": cat, "title": "A fine title", "body": "Body", "tags": [], **change}
        d = await f.data(
            """mutation($i: CreateThreadInput!) { createThread(input: $i) { __typename
                 ... on UserError { code field } } }""",
            {"i": i},
            ada,
        )
        assert d["createThread"] == {"__typename": "UserError", "code": code, "field": field}, i
    listed = await f.data(LIST, {})
    assert listed["threads"]["edges"] == []  # nothing half-written


async def test_categories_are_admin_managed_ordered_and_nested(api: Api, app: FastAPI) -> None:
    f = await make_forum(api, app)
    ada = await f.member()
    body = await api.gql(SAVE_CATEGORY, {"i": {"name": "Nope"}}, token=ada.token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    api_cat = await f.category("API")
    keys = await f.category("Keys & Auth", parent=api_cat)
    deep = await f.category("Rotation", parent=keys)
    too_deep = await f.data(SAVE_CATEGORY, {"i": {"name": "Four", "parentId": deep}}, f.admin)
    assert too_deep["saveCategory"]["field"] == "parentId"
    cycle = await f.data(
        SAVE_CATEGORY, {"i": {"id": api_cat, "name": "API", "parentId": deep}}, f.admin
    )
    assert (cycle["saveCategory"]["code"], cycle["saveCategory"]["field"]) == (
        "INVALID",
        "parentId",
    )
    dup = await f.data(SAVE_CATEGORY, {"i": {"name": "api"}}, f.admin)
    assert (dup["saveCategory"]["code"], dup["saveCategory"]["field"]) == ("CONFLICT", "name")
    moved = await f.data(
        SAVE_CATEGORY,
        {"i": {"id": keys, "name": "Keys & Auth", "parentId": api_cat, "position": -1}},
        f.admin,
    )
    assert moved["saveCategory"]["slug"] == "keys-auth"
    cats = await f.data("{ categories { name parentId position } }")
    assert [c["name"] for c in cats["categories"]] == ["Keys & Auth", "API", "Rotation"]
    assert cats["categories"][0]["parentId"] == api_cat

    # Listing a category includes its sub-categories' threads.
    await f.thread(ada, deep, "Rotation question")
    await f.thread(ada, api_cat, "Top-level API question")
    listed = await f.data(LIST, {"cat": keys})
    assert [e["node"]["title"] for e in listed["threads"]["edges"]] == ["Rotation question"]
    listed = await f.data(LIST, {"cat": api_cat})
    assert len(listed["threads"]["edges"]) == 2


async def test_thread_listing_pages_filters_and_orders(api: Api, app: FastAPI) -> None:
    f = await make_forum(api, app)
    ada, bob = await f.members(2)
    cat = await f.category()
    titles = [f"Question number {i}" for i in range(7)]
    threads = [
        await f.thread(ada, cat, title, tags=["python"] if i % 2 else ["go"])
        for i, title in enumerate(titles)
    ]
    await f.reply(bob, threads[0]["id"], "bumps thread 0")
    await f.vote(bob, "THREAD", threads[3]["id"], 1)

    seen: list[str] = []
    after = None
    while True:
        d = await f.data(LIST, {"first": 3, "after": after})
        page = d["threads"]
        seen += [e["node"]["title"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    # Latest activity first: the reply bumped thread 0 to the top.
    assert seen == [titles[0], *reversed(titles[1:])]

    d = await f.data(LIST, {"order": "NEWEST", "first": 2})
    assert [e["node"]["title"] for e in d["threads"]["edges"]] == [titles[6], titles[5]]
    d = await f.data(LIST, {"order": "TOP", "first": 1})
    assert d["threads"]["edges"][0]["node"]["title"] == titles[3]
    d = await f.data(LIST, {"tag": "PYTHON"})
    assert {e["node"]["title"] for e in d["threads"]["edges"]} == {titles[1], titles[3], titles[5]}

    r = await f.reply(bob, threads[2]["id"], "the answer")
    acc = await f.data(ACCEPT, {"r": r["id"]}, ada)
    assert acc["acceptAnswer"]["status"] == "SOLVED"
    d = await f.data(LIST, {"status": "SOLVED"})
    assert [e["node"]["title"] for e in d["threads"]["edges"]] == [titles[2]]
    assert d["threads"]["edges"][0]["node"]["lastReply"]["body"] == "the answer"

    body = await api.gql(LIST, {"after": "garbage"}, storefront=f.tenant.storefront_key)
    assert body["errors"][0]["extensions"] == {"code": "INVALID", "field": "after"}
    body = await api.gql(LIST, {"first": 500}, storefront=f.tenant.storefront_key)
    assert body["errors"][0]["extensions"]["code"] == "INVALID"


async def test_listing_threads_costs_a_constant_number_of_statements(
    api: Api, app: FastAPI
) -> None:
    f = await make_forum(api, app)
    members = await f.members(6)
    cats = [await f.category(f"Cat {i}") for i in range(3)]
    for i in range(30):
        t = await f.thread(members[i % 6], cats[i % 3], f"Thread title {i}")
        await f.reply(members[(i + 1) % 6], t["id"], f"reply {i}")

    engine = app.state.runtime.maker.kw["bind"].sync_engine
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        counts = {}
        for first in (3, 30):
            statements.clear()
            d = await f.data(LIST, {"first": first}, members[0])
            edges = d["threads"]["edges"]
            assert len(edges) == first
            assert all(e["node"]["lastReply"]["author"]["name"] for e in edges)
            assert all(e["node"]["category"]["name"].startswith("Cat") for e in edges)
            counts[first] = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    # At most: tenant binding, threads, categories, users, last replies, their authors (the two
    # user batches merge when they land in the same loader tick). Never one per thread.
    assert max(counts.values()) <= 6, counts


async def test_edits_keep_history_and_deletes_leave_a_removed_marker(
    api: Api, app: FastAPI
) -> None:
    f = await make_forum(api, app)
    ada, bob = await f.members(2)
    mod = await f.moderator()
    cat = await f.category()
    t = await f.thread(ada, cat, "Original title", "original body")
    edit = """mutation($i: EditThreadInput!) { editThread(input: $i) { __typename
      ... on Thread { title body editedAt revisions { title body editor { name } } }
      ... on UserError { code field } } }"""
    d = await f.data(edit, {"i": {"id": t["id"], "title": "Better title", "body": "new body"}}, ada)
    assert d["editThread"]["title"] == "Better title"
    assert d["editThread"]["revisions"] == [
        {"title": "Original title", "body": "original body", "editor": {"name": "dev0"}}
    ]
    d = await f.data(edit, {"i": {"id": t["id"], "title": "Hijacked!!"}}, bob)
    assert d["editThread"] == {"__typename": "UserError", "code": "FORBIDDEN", "field": None}

    r = await f.reply(bob, t["id"], "first version")
    child = await f.reply(ada, t["id"], "a child", parent=r["id"])
    d = await f.data(
        """mutation($id: ID!) { editReply(id: $id, body: "second version") { __typename
             ... on Reply { body revisions { body } } } }""",
        {"id": r["id"]},
        bob,
    )
    assert d["editReply"]["revisions"] == [{"body": "first version"}]

    delete = """mutation($id: ID!) { deleteReply(id: $id) { __typename
      ... on Reply { removed body } ... on UserError { code } } }"""
    d = await f.data(delete, {"id": r["id"]}, ada)
    assert d["deleteReply"] == {"__typename": "UserError", "code": "FORBIDDEN"}
    d = await f.data(delete, {"id": r["id"]}, bob)
    assert d["deleteReply"] == {"__typename": "Reply", "removed": True, "body": None}

    tree = """query($id: ID!) { thread(id: $id) { replyCount replies { removed body bodyHtml
      revisions { body } children { body } } } }"""
    d = await f.data(tree, {"id": t["id"]})
    (top,) = d["thread"]["replies"]
    # Removed in its place: the child stays reachable, the content is gone.
    assert top == {
        "removed": True,
        "body": None,
        "bodyHtml": None,
        "revisions": [],
        "children": [{"body": "a child"}],
    }
    assert d["thread"]["replyCount"] == 1
    d = await f.data(tree, {"id": t["id"]}, mod)
    assert d["thread"]["replies"][0]["body"] == "second version"
    assert child["body"] == "a child"

    d = await f.data(
        """mutation($id: ID!) { deleteThread(id: $id) { __typename ... on Thread { removed } } }""",
        {"id": t["id"]},
        mod,
    )
    assert d["deleteThread"] == {"__typename": "Thread", "removed": True}
    d = await f.data("query($id: ID!) { thread(id: $id) { removed title body } }", {"id": t["id"]})
    assert d["thread"] == {"removed": True, "title": None, "body": None}
    listed = await f.data(LIST, {})
    assert listed["threads"]["edges"] == []
    listed = await f.data(
        "{ threads(includeRemoved: true) { edges { node { title } } } }", None, mod
    )
    assert listed["threads"]["edges"] == [{"node": {"title": "Better title"}}]


async def test_tenants_never_see_each_others_threads(api: Api, app: FastAPI) -> None:
    a = await make_forum(api, app, "Alpha")
    b = await make_forum(api, app, "Beta")
    ada = await a.member()
    bob = await b.member()
    t = await a.thread(ada, await a.category(), "Alpha's secret question")
    d = await b.data("query($id: ID!) { thread(id: $id) { id } }", {"id": t["id"]})
    assert d["thread"] is None
    assert (await b.data(LIST, {}))["threads"]["edges"] == []
    r = await b.reply(bob, t["id"], "sneaky")
    assert (r["code"], r["field"]) == ("NOT_FOUND", "threadId")
    v = await b.vote(bob, "THREAD", t["id"], 1)
    assert v["code"] == "NOT_FOUND"
