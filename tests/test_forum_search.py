"""Full-text search (title over body, exact title first, snippets) and similar threads."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from tests.support import Api
from tests.test_forum_support import Forum, make_forum

SEARCH = """query($q: String!, $first: Int) { searchForum(query: $q, first: $first) {
  rank titleMatch exactTitle titleHtml snippet snippetHtml thread { id title }
  reply { id body } } }"""
SIMILAR = """query($t: String!, $b: String) { similarThreads(title: $t, body: $b) { id title } }"""


async def _search(f: Forum, q: str) -> list[dict[str, Any]]:
    d = await f.data(SEARCH, {"q": q})
    hits: list[dict[str, Any]] = d["searchForum"]
    return hits


async def test_title_matches_rank_above_body_matches_and_exact_title_first(
    api: Api, app: FastAPI
) -> None:
    f = await make_forum(api, app)
    ada, bob = await f.members(2)
    cat = await f.category()
    body_only = await f.thread(
        ada,
        cat,
        "Problems after upgrading",
        "My webhook signature check fails. Webhook signature webhook signature again, "
        "the webhook signature is wrong every time.",
    )
    in_title = await f.thread(ada, cat, "Verifying a webhook signature in Node", "See subject.")
    exact = await f.thread(ada, cat, "Webhook signature", "Short one.")
    unrelated = await f.thread(bob, cat, "Billing question", "Nothing about hooks.")
    in_reply = await f.reply(
        bob,
        unrelated["id"],
        "Unrelated, but my webhook signature broke <img src=x onerror=alert(1)> & 1 < 2",
    )

    hits = await _search(f, "webhook signature")
    ids = [h["thread"]["id"] for h in hits]
    assert ids == [exact["id"], in_title["id"], body_only["id"], unrelated["id"]]
    assert [h["exactTitle"] for h in hits] == [True, False, False, False]
    assert [h["titleMatch"] for h in hits] == [True, True, False, False]
    assert hits[0]["titleHtml"] == "<mark>Webhook</mark> <mark>signature</mark>"
    # The reply that matched is returned with its thread, its snippet escaped and marked.
    assert hits[3]["reply"]["id"] == in_reply["id"]
    assert "<mark>webhook</mark> <mark>signature</mark>" in hits[3]["snippetHtml"]
    assert "webhook signature" in hits[3]["snippet"] and "<mark>" not in hits[3]["snippet"]
    # User text never reaches the snippet as markup: only <mark> tags are HTML there.
    assert "<img" not in hits[3]["snippetHtml"]
    assert hits[3]["snippetHtml"].replace("<mark>", "").replace("</mark>", "").count("<") == 0
    assert hits[1]["rank"] > 0

    # Web-search syntax: a quoted phrase and an excluded word.
    hits = await _search(f, '"signature in node"')
    assert [h["thread"]["id"] for h in hits] == [in_title["id"]]
    hits = await _search(f, "webhook signature -node -billing")
    assert in_title["id"] not in [h["thread"]["id"] for h in hits]

    # Stemming: "verify" finds "Verifying".
    assert [h["thread"]["id"] for h in await _search(f, "verify")] == [in_title["id"]]


async def test_removed_content_is_not_searchable_and_search_is_tenant_scoped(
    api: Api, app: FastAPI
) -> None:
    f = await make_forum(api, app, "Alpha")
    other = await make_forum(api, app, "Beta")
    ada = await f.member()
    mod = await f.moderator()
    cat = await f.category()
    t = await f.thread(ada, cat, "Quota exceeded errors", "Hitting the quota daily.")
    r = await f.reply(ada, t["id"], "The quota resets at midnight UTC.")
    assert len(await _search(f, "quota")) == 1
    assert await _search(other, "quota") == []

    await f.data("mutation($id: ID!) { deleteReply(id: $id) { __typename } }", {"id": r["id"]}, ada)
    hits = await _search(f, "midnight")
    assert hits == []
    await f.data(
        "mutation($id: ID!) { deleteThread(id: $id) { __typename } }", {"id": t["id"]}, mod
    )
    assert await _search(f, "quota") == []

    for q in ("", "   ", "x" * 201):
        body = await api.gql(SEARCH, {"q": q}, storefront=f.tenant.storefront_key)
        assert body["errors"][0]["extensions"] == {"code": "INVALID", "field": "query"}
    # Only stop words: nothing to match, no error.
    assert await _search(f, "the and of") == []


async def test_similar_threads_suggests_the_closest_existing_questions(
    api: Api, app: FastAPI
) -> None:
    f = await make_forum(api, app)
    ada = await f.member()
    cat = await f.category()
    titles = [
        "How to rotate an API key without downtime",
        "Rotating API keys safely",
        "API key rotation schedule",
        "Invoice shows the wrong currency",
        "Webhook retries and backoff",
    ]
    made = {title: (await f.thread(ada, cat, title, "details"))["id"] for title in titles}

    d = await f.data(SIMILAR, {"t": "How can I rotate my API key?", "b": "without downtime"})
    got = [s["title"] for s in d["similarThreads"]]
    assert len(got) == 3
    assert got[0] == "How to rotate an API key without downtime"
    assert set(got) == set(titles[:3])
    # A typo in some words: the words that match still find it.
    d = await f.data(SIMILAR, {"t": "Invoise shows wrong curency"})
    assert [s["id"] for s in d["similarThreads"]][:1] == [made["Invoice shows the wrong currency"]]
    # Too short a draft gives no suggestions rather than noise.
    assert (await f.data(SIMILAR, {"t": "key"}))["similarThreads"] == []
