"""Votes, accepted answers, reputation and badges, including under concurrent requests."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from tests.support import Api
from tests.test_forum_support import ACCEPT, make_forum

UNACCEPT = """mutation($t: ID!) { unacceptAnswer(threadId: $t) { __typename
  ... on Thread { status acceptedReplyId } ... on UserError { code field } } }"""


async def test_one_vote_per_member_changeable_and_reputation_follows_upvotes(
    api: Api, app: FastAPI
) -> None:
    f = await make_forum(api, app)
    ada, bob, cy = await f.members(3)
    cat = await f.category()
    t = await f.thread(ada, cat, "Why is my key rejected?")
    r = await f.reply(bob, t["id"], "Check the prefix.")

    v = await f.vote(ada, "REPLY", r["id"], 1)
    assert (v["score"], v["myVote"], v["threadId"]) == (1, 1, t["id"])
    again = await f.vote(ada, "REPLY", r["id"], 1)  # idempotent: still one vote
    assert again["score"] == 1
    assert (await f.profile(bob))["reputation"] == 1
    await f.vote(cy, "REPLY", r["id"], 1)
    assert (await f.profile(bob))["reputation"] == 2

    changed = await f.vote(ada, "REPLY", r["id"], -1)  # up -> down: score 2 -> 0
    assert (changed["score"], changed["myVote"]) == (0, -1)
    assert (await f.profile(bob))["reputation"] == 1  # the upvote was withdrawn
    withdrawn = await f.vote(cy, "REPLY", r["id"], 0)
    assert (withdrawn["score"], withdrawn["myVote"]) == (-1, 0)
    assert (await f.profile(bob))["reputation"] == 0

    d = await f.data(
        """query($id: ID!) { thread(id: $id) { myVote replies { score myVote } } }""",
        {"id": t["id"]},
        ada,
    )
    assert d["thread"]["replies"] == [{"score": -1, "myVote": -1}]

    own = await f.vote(bob, "REPLY", r["id"], 1)
    assert (own["code"], own["field"]) == ("SELF_VOTE", "targetId")
    bad = await f.vote(ada, "REPLY", r["id"], 2)
    assert (bad["code"], bad["field"]) == ("INVALID", "value")
    await f.vote(bob, "THREAD", t["id"], 1)
    assert (await f.profile(ada))["reputation"] == 1


async def test_accepting_an_answer_solves_the_thread_and_pays_five(api: Api, app: FastAPI) -> None:
    f = await make_forum(api, app)
    ada, bob, cy = await f.members(3)
    mod = await f.moderator()
    cat = await f.category()
    t = await f.thread(ada, cat, "How do I paginate usage?")
    rb = await f.reply(bob, t["id"], "Use after cursors.")
    rc = await f.reply(cy, t["id"], "Or offsets.")
    mine = await f.reply(ada, t["id"], "Self answer.")

    no = await f.data(ACCEPT, {"r": rb["id"]}, cy)
    assert no["acceptAnswer"] == {
        "__typename": "UserError",
        "code": "FORBIDDEN",
        "field": None,
        "message": "only the thread's author or a moderator can do this",
    }
    ok = await f.data(ACCEPT, {"r": rb["id"]}, ada)
    assert ok["acceptAnswer"] == {
        "__typename": "Thread",
        "id": t["id"],
        "status": "SOLVED",
        "acceptedReplyId": rb["id"],
    }
    bob_profile = await f.profile(bob)
    assert (bob_profile["reputation"], bob_profile["acceptedCount"]) == (5, 1)
    assert "FIRST_ACCEPTED_ANSWER" in {b["kind"] for b in bob_profile["badges"]}

    # Moving the accept (a moderator may) reverses the first one.
    await f.data(ACCEPT, {"r": rc["id"]}, mod)
    assert (await f.profile(bob))["reputation"] == 0
    assert (await f.profile(cy))["reputation"] == 5
    d = await f.data(UNACCEPT, {"t": t["id"]}, ada)
    assert d["unacceptAnswer"] == {
        "__typename": "Thread",
        "status": "OPEN",
        "acceptedReplyId": None,
    }
    assert (await f.profile(cy))["reputation"] == 0
    d = await f.data(UNACCEPT, {"t": t["id"]}, ada)
    assert d["unacceptAnswer"]["code"] == "NOT_ACCEPTED"

    # Accepting your own reply solves the thread but earns nothing.
    await f.data(ACCEPT, {"r": mine["id"]}, ada)
    assert (await f.profile(ada))["reputation"] == 0
    d = await f.data(
        "query($id: ID!) { thread(id: $id) { status acceptedReply { id isAccepted } } }",
        {"id": t["id"]},
    )
    assert d["thread"] == {
        "status": "SOLVED",
        "acceptedReply": {"id": mine["id"], "isAccepted": True},
    }
    d = await f.data(
        """mutation($id: ID!) { editReply(id: $id, body: "Self answer, clarified.") {
             ... on Reply { isAccepted } } }""",
        {"id": mine["id"]},
        ada,
    )
    assert d["editReply"] == {"isAccepted": True}


async def test_badges_are_awarded_once_on_the_ladder(api: Api, app: FastAPI) -> None:
    f = await make_forum(api, app)
    author = await f.member("author")
    voters = await f.members(11, prefix="voter")
    cat = await f.category()
    p = await f.profile(author)
    assert p["badges"] == [] and p["reputation"] == 0
    t = await f.thread(author, cat, "A very good question")
    await f.reply(author, t["id"], "and a follow-up")
    p = await f.profile(author)
    assert [b["kind"] for b in p["badges"]] == ["FIRST_POST"]
    assert (p["threadCount"], p["replyCount"]) == (1, 1)

    for v in voters[:10]:
        await f.vote(v, "THREAD", t["id"], 1)
    p = await f.profile(author)
    assert p["reputation"] == 10
    assert [b["kind"] for b in p["badges"]] == ["FIRST_POST", "CONTRIBUTOR"]
    assert p["badges"][1]["name"] == "Contributor"
    # Dropping below the threshold and climbing back does not award it twice.
    await f.vote(voters[0], "THREAD", t["id"], 0)
    await f.vote(voters[10], "THREAD", t["id"], 1)
    p = await f.profile(author)
    assert p["reputation"] == 10
    assert [b["kind"] for b in p["badges"]] == ["FIRST_POST", "CONTRIBUTOR"]


async def test_reputation_is_exact_under_concurrent_votes(api: Api, app: FastAPI) -> None:
    f = await make_forum(api, app)
    author = await f.member("author")
    voters = await f.members(24, prefix="voter")
    cat = await f.category()
    t = await f.thread(author, cat, "Concurrency question")
    r = await f.reply(author, t["id"], "my own answer")

    # Everyone upvotes the thread and the reply at once, through the HTTP app.
    results = await asyncio.gather(
        *[
            f.vote(v, kind, target, 1)
            for v in voters
            for kind, target in (("THREAD", t["id"]), ("REPLY", r["id"]))
        ]
    )
    assert all(x["__typename"] == "VoteCast" for x in results), results
    p = await f.profile(author)
    assert p["reputation"] == 48
    assert {"CONTRIBUTOR"} <= {b["kind"] for b in p["badges"]}

    # Half of them flip to a downvote, the other half vote again (no change), concurrently.
    half = len(voters) // 2
    await asyncio.gather(
        *[f.vote(v, "REPLY", r["id"], -1) for v in voters[:half]],
        *[f.vote(v, "REPLY", r["id"], 1) for v in voters[half:]],
        *[f.vote(v, "THREAD", t["id"], 0) for v in voters[:half]],
    )
    p = await f.profile(author)
    assert p["reputation"] == 48 - 2 * half
    d = await f.data(
        "query($id: ID!) { thread(id: $id) { score replies { score } } }", {"id": t["id"]}
    )
    assert d["thread"]["score"] == len(voters) - half
    assert d["thread"]["replies"][0]["score"] == (len(voters) - half) - half
