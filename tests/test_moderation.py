"""Reports, the moderators' queue, moderation actions, bans and the action record."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi import FastAPI

from aforo.errors import Forbidden
from aforo.services import reputation
from tests.support import Api
from tests.test_forum_support import REPLY, Forum, Member, make_forum

REPORT = """mutation($k: ForumTargetType!, $id: ID!, $r: ReportReason!, $n: String) {
  report(targetType: $k, targetId: $id, reason: $r, note: $n) { __typename
  ... on Report { id status reason note reporter { name } } ... on UserError { code field } } }"""
QUEUE = """query($s: ReportStatus) { moderationQueue(status: $s) { targetType targetId reportCount
  thread { id title removed } reply { id body removed }
  reports { id reason note reporter { name } } } }"""
MODERATE = """mutation($i: ModerateInput!) { moderate(input: $i) { __typename
  ... on ModerationRecord { id action targetType targetId reason createdAt
        moderator { name } subjectUser { name } }
  ... on UserError { code field message } } }"""
LOG = """query($t: ID) { moderationLog(targetId: $t) { action reason targetId
  moderator { name } subjectUser { name } } }"""


async def _report(
    f: Forum, who: Member, kind: str, target: str, reason: str = "SPAM", note: str | None = None
) -> dict[str, Any]:
    d = await f.data(REPORT, {"k": kind, "id": target, "r": reason, "n": note}, who)
    result: dict[str, Any] = d["report"]
    return result


async def _moderate(f: Forum, who: Member, **i: Any) -> dict[str, Any]:
    d = await f.data(MODERATE, {"i": i}, who)
    result: dict[str, Any] = d["moderate"]
    return result


async def test_reports_are_grouped_in_the_queue_and_soft_delete_resolves_them(
    api: Api, app: FastAPI
) -> None:
    f = await make_forum(api, app)
    spammer, ada, bob = await f.members(3)
    mod = await f.moderator()
    cat = await f.category()
    t = await f.thread(ada, cat, "Legit question here")
    spam = await f.reply(spammer, t["id"], "BUY CHEAP KEYS")

    first = await _report(f, ada, "REPLY", spam["id"], "SPAM", "ads")
    assert first["status"] == "OPEN" and first["reporter"]["name"] == "dev1"
    again = await _report(f, ada, "REPLY", spam["id"], "INAPPROPRIATE")
    assert again == {"__typename": "UserError", "code": "ALREADY_REPORTED", "field": "targetId"}
    await _report(f, bob, "REPLY", spam["id"], "OTHER", "scam link")
    other = await _report(f, bob, "REPLY", spam["id"], "SPAM")
    assert other["code"] == "ALREADY_REPORTED"
    no_note = await _report(f, spammer, "THREAD", t["id"], "OTHER")
    assert (no_note["code"], no_note["field"]) == ("INVALID", "note")
    await _report(f, spammer, "THREAD", t["id"], "OFF_TOPIC")
    own = await _report(f, ada, "THREAD", t["id"], "SPAM")
    assert own["code"] == "SELF_REPORT"

    q = (await f.data(QUEUE, {}, mod))["moderationQueue"]
    assert [(i["targetType"], i["reportCount"]) for i in q] == [("REPLY", 2), ("THREAD", 1)]
    item = q[0]
    assert item["reply"]["body"] == "BUY CHEAP KEYS" and item["thread"]["id"] == t["id"]
    assert {r["reporter"]["name"] for r in item["reports"]} == {"dev1", "dev2"}

    done = await _moderate(f, mod, reportId=first["id"], action="SOFT_DELETE", reason="spam")
    assert done["action"] == "SOFT_DELETE" and done["targetId"] == spam["id"]
    assert done["subjectUser"]["name"] == "dev0" and done["moderator"]["name"] == "mod0"
    q = (await f.data(QUEUE, {}, mod))["moderationQueue"]
    assert [i["targetType"] for i in q] == ["THREAD"]  # both reports on the reply resolved
    resolved = (await f.data(QUEUE, {"s": "RESOLVED"}, mod))["moderationQueue"]
    assert resolved[0]["reportCount"] == 2 and resolved[0]["reply"]["removed"] is True
    # Moderators still see the removed content; members see a removed marker.
    assert resolved[0]["reply"]["body"] == "BUY CHEAP KEYS"
    d = await f.data(
        "query($id: ID!) { thread(id: $id) { replies { removed body } } }", {"id": t["id"]}, bob
    )
    assert d["thread"]["replies"] == [{"removed": True, "body": None}]

    dismissed = await _moderate(
        f, mod, targetType="THREAD", targetId=t["id"], action="DISMISS", reason="fine"
    )
    assert dismissed["action"] == "DISMISS"
    assert (await f.data(QUEUE, {}, mod))["moderationQueue"] == []
    nothing = await _moderate(
        f, mod, targetType="THREAD", targetId=t["id"], action="DISMISS", reason="again"
    )
    assert nothing["code"] == "NOTHING_TO_DISMISS"

    restored = await _moderate(
        f, mod, targetType="REPLY", targetId=spam["id"], action="RESTORE", reason="appeal accepted"
    )
    assert restored["action"] == "RESTORE"
    d = await f.data(
        "query($id: ID!) { thread(id: $id) { replyCount replies { body } } }", {"id": t["id"]}, bob
    )
    assert d["thread"] == {"replyCount": 1, "replies": [{"body": "BUY CHEAP KEYS"}]}

    log = (await f.data(LOG, {}, mod))["moderationLog"]
    assert [(a["action"], a["reason"]) for a in log] == [
        ("RESTORE", "appeal accepted"),
        ("DISMISS", "fine"),
        ("SOFT_DELETE", "spam"),
    ]
    log = (await f.data(LOG, {"t": t["id"]}, mod))["moderationLog"]
    assert [a["action"] for a in log] == ["DISMISS"]


async def test_a_ban_suspends_the_account_until_unbanned(api: Api, app: FastAPI) -> None:
    f = await make_forum(api, app)
    troll, ada = await f.members(2)
    mod = await f.moderator()
    cat = await f.category()
    t = await f.thread(ada, cat, "Some question to argue about")
    r = await f.reply(troll, t["id"], "flame")

    warned = await _moderate(
        f, mod, targetType="REPLY", targetId=r["id"], action="WARN", reason="be civil"
    )
    assert warned["subjectUser"]["name"] == "dev0"
    d = await f.data(
        "query($u: ID) { communityProfile(userId: $u) { warningCount } }", {"u": troll.id}, troll
    )
    assert d["communityProfile"]["warningCount"] == 1
    d = await f.data(
        "query($u: ID) { communityProfile(userId: $u) { warningCount } }", {"u": troll.id}, ada
    )
    assert d["communityProfile"]["warningCount"] is None

    bad = await _moderate(f, mod, targetType="USER", targetId=troll.id, action="BAN", reason="")
    assert (bad["code"], bad["field"]) == ("INVALID", "reason")
    bad = await _moderate(f, mod, targetType="USER", targetId=troll.id, action="LOCK", reason="x")
    assert (bad["code"], bad["field"]) == ("INVALID", "action")
    bad = await _moderate(f, mod, action="BAN", reason="x")
    assert (bad["code"], bad["field"]) == ("INVALID", "reportId")
    staff = await _moderate(
        f, mod, targetType="USER", targetId=f.admin.id, action="BAN", reason="x"
    )
    assert staff["code"] == "CANNOT_BAN_STAFF"
    banned = await _moderate(
        f, mod, targetType="USER", targetId=troll.id, action="BAN", reason="repeated flaming"
    )
    assert banned["action"] == "BAN"
    assert (await f.profile(troll))["isBanned"] is True

    # A ban suspends the account (docs/security.md): every request with its tokens is refused
    # at once, before any field runs; the forum reads on for anonymous callers.
    attempts = [
        await f.api.raw(
            """mutation($c: ID!) { createThread(input: {categoryId: $c, title: "Another rant",
                 body: "x"}) { __typename ... on UserError { code } } }""",
            {"c": cat},
            token=troll.token,
        ),
        await f.api.raw(REPLY, {"t": t["id"], "p": None, "b": "more"}, token=troll.token),
        await f.api.raw(
            "query($id: ID!) { thread(id: $id) { title } }", {"id": t["id"]}, token=troll.token
        ),
    ]
    assert [(r.status_code, r.json()["errors"][0]["extensions"]["code"]) for r in attempts] == [
        (200, "ACCOUNT_DISABLED")  # a GraphQL refusal under application/json is HTTP 200
    ] * 3
    d = await f.data("query($id: ID!) { thread(id: $id) { title } }", {"id": t["id"]})
    assert d["thread"]["title"] == "Some question to argue about"

    await _moderate(f, mod, targetType="USER", targetId=troll.id, action="UNBAN", reason="served")
    assert (await f.reply(troll, t["id"], "sorry"))["__typename"] == "Reply"
    # The last line behind the request-level check: a banned member's write is refused.
    await _moderate(f, mod, targetType="USER", targetId=troll.id, action="BAN", reason="relapsed")
    async with f.runtime.transaction(uuid.UUID(f.tenant.id)) as s:
        with pytest.raises(Forbidden) as refused:
            await reputation.ensure_can_participate(s, uuid.UUID(troll.id))
    assert refused.value.code == "BANNED"


async def test_pin_and_lock_threads(api: Api, app: FastAPI) -> None:
    f = await make_forum(api, app)
    ada = await f.member()
    mod = await f.moderator()
    cat = await f.category()
    old = await f.thread(ada, cat, "Read this first please")
    await f.thread(ada, cat, "A newer question")
    await _moderate(f, mod, targetType="THREAD", targetId=old["id"], action="PIN", reason="faq")
    d = await f.data("{ threads { edges { node { title pinned } } } }")
    assert d["threads"]["edges"][0]["node"] == {"title": "Read this first please", "pinned": True}
    bad = await _moderate(f, mod, targetType="REPLY", targetId=old["id"], action="PIN", reason="x")
    assert bad["code"] == "NOT_FOUND"


async def test_moderation_is_for_moderators_only(api: Api, app: FastAPI) -> None:
    f = await make_forum(api, app)
    ada = await f.member()
    for query, variables in (
        (QUEUE, {}),
        (LOG, {}),
        (
            MODERATE,
            {"i": {"action": "BAN", "reason": "x", "targetType": "USER", "targetId": ada.id}},
        ),
    ):
        body = await api.gql(query, variables, token=ada.token)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
        body = await api.gql(query, variables, storefront=f.tenant.storefront_key)
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", body
    # Admins moderate too.
    d = await f.data(QUEUE, {}, f.admin)
    assert d["moderationQueue"] == []
