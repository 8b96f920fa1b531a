"""Teams: invitations by mail, the role matrix (table-driven), team-owned subscriptions and
keys (verify, usage attribution, quota, try-it runs), removal ending access at once, ownership
transfer, deletion cancelling subscriptions and revoking keys; and no team reaching another."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.gateway import (
    KeyWorld,
    app_of,
    create_plan,
    make_key_world,
    queries,
    statements,
    verify,
)
from tests.mailbox import text_of, token_of
from tests.support import Api
from tests.test_playground_support import make_world, try_it, upstream

ROLES = ("OWNER", "ADMIN", "BILLING", "MEMBER", "OUTSIDER")
INVITE = """mutation($t: ID!, $e: String!, $r: TeamRole!) { inviteTeamMember(teamId: $t,
  email: $e, role: $r) { __typename ... on TeamInvitation { id status }
  ... on UserError { code field } } }"""
ACCEPT = """mutation($t: String!) { acceptTeamInvitation(token: $t) { __typename
  ... on Team { id myRole } ... on UserError { code field } } }"""
SUBSCRIBE = """mutation($p: ID!, $t: ID) { subscribe(planId: $p, teamId: $t) { __typename
  ... on Subscription { id teamId } ... on UserError { code field } } }"""
CANCEL = """mutation($id: ID!) { cancelSubscription(id: $id) { __typename
  ... on Subscription { status } ... on UserError { code } } }"""
CREATE_KEY = """mutation($s: ID!) { createApiKey(input: {subscriptionId: $s, name: "t"}) {
  __typename ... on ApiKeyCreated { secret apiKey { id teamId } } ... on UserError { code } } }"""
ROTATE = """mutation($id: ID!) { rotateApiKey(id: $id, graceSeconds: 0) { __typename
  ... on UserError { code } } }"""
REVOKE = """mutation($id: ID!) { revokeApiKey(id: $id) { __typename
  ... on UserError { code } } }"""


def code(payload: dict[str, Any]) -> str | None:
    """None for success, else the typed error's code."""
    return payload.get("code") if payload["__typename"] in ("UserError", "RateLimited") else None


async def gql(api: Api, q: str, v: dict[str, Any], token: str) -> dict[str, Any]:
    data = await api.data(q, v, token=token)
    [payload] = data.values()
    assert isinstance(payload, dict)
    return payload


@dataclass
class TeamWorld:
    w: KeyWorld
    team: str
    tokens: dict[str, str]
    users: dict[str, str]
    plan: str  # a second plan, hard quota of 3 calls
    sub: str = ""  # the team's subscription to it
    key_id: str = ""
    key: str = ""
    other: dict[str, str] = field(default_factory=dict)  # the outsider's own team

    async def key_for_team(self, api: Api) -> str:
        """A fresh key on the team's subscription, made by its owner."""
        created = await gql(api, CREATE_KEY, {"s": self.sub}, self.tokens["OWNER"])
        return str(created["apiKey"]["id"])


async def create_team(api: Api, token: str, name: str) -> str:
    t = await gql(
        api,
        "mutation($n: String!) { createTeam(name: $n) { __typename ... on Team { id myRole } } }",
        {"n": name},
        token,
    )
    assert t["myRole"] == "OWNER"
    return str(t["id"])


async def join(api: Api, w: KeyWorld, team: str, inviter: str, email: str, role: str) -> str:
    inv = await gql(api, INVITE, {"t": team, "e": email, "r": role}, inviter)
    assert inv["status"] == "OPEN", inv
    session = await api.sign_up(w.tenant, email)
    msg = await api.mailbox.wait(email, "invited you to")
    joined = await gql(
        api, ACCEPT, {"t": token_of(msg, "/accept-invitation")}, session["accessToken"]
    )
    assert joined["myRole"] == role, joined
    return str(session["accessToken"])


async def team_world(api: Api) -> TeamWorld:
    w = await make_key_world(api, email="owner@example.com")
    owner = w.dev
    team = await create_team(api, owner, "Acme Engineering")
    tokens = {"OWNER": owner}
    for role in ("ADMIN", "BILLING", "MEMBER"):
        tokens[role] = await join(api, w, team, owner, f"{role.lower()}@example.com", role)
    tokens["OUTSIDER"] = (await api.sign_up(w.tenant, "outsider@example.com"))["accessToken"]
    users = {}
    for role, tok in tokens.items():
        users[role] = (await api.data("{ me { id } }", token=tok))["me"]["id"]
    plan = await create_plan(
        api, w.admin, w.product_id, slug="tiny", name="Tiny", monthlyQuota=3, hardQuota=True
    )
    tw = TeamWorld(w, team, tokens, users, plan)
    sub = await gql(api, SUBSCRIBE, {"p": plan, "t": team}, owner)
    assert sub["teamId"] == team
    tw.sub = str(sub["id"])
    created = await gql(api, CREATE_KEY, {"s": tw.sub}, owner)
    assert created["apiKey"]["teamId"] == team
    tw.key_id, tw.key = created["apiKey"]["id"], created["secret"]
    # The outsider runs a team of their own in the same tenant.
    other = await create_team(api, tokens["OUTSIDER"], "Other Co")
    osub = await gql(api, SUBSCRIBE, {"p": plan, "t": other}, tokens["OUTSIDER"])
    okey = await gql(api, CREATE_KEY, {"s": osub["id"]}, tokens["OUTSIDER"])
    tw.other = {"team": other, "sub": osub["id"], "key": okey["apiKey"]["id"]}
    return tw


async def sees(api: Api, tw: TeamWorld, role: str) -> dict[str, Any]:
    """What one caller can read of team X's resources (and of team Y's, the outsider's)."""
    tok = tw.tokens[role]
    d = await api.data("{ mySubscriptions { id } apiKeys { id } playgroundRuns { id } }", token=tok)
    subs = {s["id"] for s in d["mySubscriptions"]}
    keys = {k["id"] for k in d["apiKeys"]}
    team = await api.gql(
        "query($id: ID!) { team(id: $id) { myRole apiKeys { id } subscriptions { id } } }",
        {"id": tw.team},
        token=tok,
    )
    usage = await api.gql(
        "query($s: ID!) { currentUsage(subscriptionId: $s) { used } }", {"s": tw.sub}, token=tok
    )
    invoice = await api.gql(
        "query($s: ID!) { upcomingInvoice(subscriptionId: $s) { total { amount } } }",
        {"s": tw.sub},
        token=tok,
    )
    return {
        "subscription": tw.sub in subs,
        "key": tw.key_id in keys,
        "usage": usage.get("data") is not None and not usage.get("errors"),
        "invoices": invoice.get("data") is not None and not invoice.get("errors"),
        "team": (team.get("data") or {}).get("team") is not None,
        "team keys": bool(((team.get("data") or {}).get("team") or {}).get("apiKeys")),
        "other team's": tw.other["sub"] in subs or tw.other["key"] in keys,
    }


# What each role reads, OWNER, ADMIN, BILLING, MEMBER, OUTSIDER (a member of another team).
READS: dict[str, tuple[bool, ...]] = {
    "subscription": (True, True, True, True, False),
    "key": (True, True, False, True, False),
    "usage": (True, True, True, True, False),
    "invoices": (True, True, True, False, False),
    "team": (True, True, True, True, False),
    "team keys": (True, True, False, True, False),
    "other team's": (False, False, False, False, True),
}
F, N = "TEAM_ROLE_FORBIDS", "NOT_FOUND"
# What each role may do (None: allowed), in the same order.
WRITES: dict[str, tuple[str | None, ...]] = {
    "create key": (None, None, F, F, N),
    "rotate key": (None, None, F, F, N),
    "revoke key": (None, None, F, F, N),
    "subscribe team": (None, None, None, F, N),
    "cancel subscription": (None, None, None, F, N),
    "invite": (None, None, F, F, N),
    "change a role": (None, None, F, F, N),
    "transfer ownership": (F, F, F, F, N),  # allowed for OWNER: tested on its own below
    "delete team": (F, F, F, F, N),  # idem
}


async def _write(api: Api, tw: TeamWorld, action: str, role: str, n: int) -> str | None:
    tok, owner = tw.tokens[role], tw.tokens["OWNER"]
    if action == "create key":
        return code(await gql(api, CREATE_KEY, {"s": tw.sub}, tok))
    if action in ("rotate key", "revoke key"):
        fresh = await tw.key_for_team(api)
        return code(
            await gql(api, ROTATE if action == "rotate key" else REVOKE, {"id": fresh}, tok)
        )
    if action in ("subscribe team", "cancel subscription"):
        plan = await create_plan(
            api, tw.w.admin, tw.w.product_id, slug=f"p{action[0]}{n}", name=f"P {n}"
        )
        if action == "subscribe team":
            return code(await gql(api, SUBSCRIBE, {"p": plan, "t": tw.team}, tok))
        sub = await gql(api, SUBSCRIBE, {"p": plan, "t": tw.team}, owner)
        return code(await gql(api, CANCEL, {"id": sub["id"]}, tok))
    if action == "invite":
        return code(
            await gql(api, INVITE, {"t": tw.team, "e": f"new{n}@example.com", "r": "MEMBER"}, tok)
        )
    if action == "change a role":
        q = """mutation($t: ID!, $u: ID!) { setTeamMemberRole(teamId: $t, userId: $u,
               role: MEMBER) { __typename ... on UserError { code } } }"""
        return code(await gql(api, q, {"t": tw.team, "u": tw.users["MEMBER"]}, tok))
    if action == "transfer ownership":
        q = """mutation($t: ID!, $u: ID!) { transferTeamOwnership(teamId: $t, userId: $u) {
               __typename ... on UserError { code } } }"""
        target = tw.users["OWNER"] if role != "OWNER" else tw.users["ADMIN"]
        return code(await gql(api, q, {"t": tw.team, "u": target}, tok))
    assert action == "delete team"
    q = "mutation($t: ID!) { deleteTeam(id: $t) { __typename ... on UserError { code } } }"
    return code(await gql(api, q, {"t": tw.team}, tok))


async def test_team_role_matrix_and_no_reach_into_another_team(api: Api) -> None:
    tw = await team_world(api)
    got_reads = {role: await sees(api, tw, role) for role in ROLES}
    problems = [
        f"{role} {what}: saw {got_reads[role][what]}, expected {want[i]}"
        for what, want in READS.items()
        for i, role in enumerate(ROLES)
        if got_reads[role][what] != want[i]
    ]
    n = 0
    for action, want in WRITES.items():
        for i, role in enumerate(ROLES):
            if action in ("transfer ownership", "delete team") and role == "OWNER":
                continue
            n += 1
            got = await _write(api, tw, action, role, n)
            if got != want[i]:
                problems.append(f"{role} {action}: got {got}, expected {want[i]}")
    assert not problems, "\n".join(problems)
    # The other team's resources, named by id, are NOT_FOUND to every member of this one.
    for role in ("OWNER", "ADMIN", "MEMBER"):
        tok = tw.tokens[role]
        assert code(await gql(api, REVOKE, {"id": tw.other["key"]}, tok)) == N
        assert code(await gql(api, CANCEL, {"id": tw.other["sub"]}, tok)) == N
        assert code(await gql(api, CREATE_KEY, {"s": tw.other["sub"]}, tok)) == N
        body = await api.gql(
            "query($id: ID!) { team(id: $id) { id } }", {"id": tw.other["team"]}, token=tok
        )
        assert body["errors"][0]["extensions"]["code"] == N


async def _calls(api: Api, gateway: str, key_id: str, n: int, prefix: str) -> None:
    at = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    r = await api.client.post(
        "/v1/usage/events",
        json={
            "events": [
                {
                    "event_id": f"{prefix}{i}",
                    "metric": "api_calls",
                    "occurred_at": at,
                    "consumer": key_id,
                }
                for i in range(n)
            ]
        },
        headers={"Authorization": f"Bearer {gateway}"},
    )
    assert r.json()["accepted"] == n


async def test_team_keys_verify_count_usage_and_quota_and_leaving_ends_access(
    api: Api,
) -> None:
    tw = await team_world(api)
    member = tw.tokens["MEMBER"]
    status, body = await verify(api, tw.w.gateway, tw.key)
    assert status == 200 and body["valid"] and body["subscription_id"] == tw.sub
    # A member tries the team key out (the server injects it; the member never sees it).
    with upstream() as (_, server):
        world = await make_world(api, [server.url], keys=tw.w)
        run = await try_it(
            api,
            member,
            {
                **world.run("GET /forecast/{city}", pathParams=[{"name": "city", "value": "oslo"}]),
                "keyId": tw.key_id,
            },
        )
        assert run["__typename"] == "PlaygroundResponse" and run["status"] == 200, run
    runs = "{ playgroundRuns { id } }"  # (waits for the run's record and usage to land)
    assert [
        r["id"] for r in (await api.data(runs, token=tw.tokens["OWNER"]))["playgroundRuns"]
    ] == [run["runId"]]
    await _calls(api, tw.w.gateway, tw.key_id, 2, "team")  # 3 with the run: the quota
    status, body = await verify(api, tw.w.gateway, tw.key)
    assert status == 403 and body["code"] == "QUOTA_EXCEEDED" and body["quota"]["used"] == 3
    # Usage and runs are the team's: its members and billing see them, others do not.
    usage = "query($s: ID!) { currentUsage(subscriptionId: $s) { used quota } }"
    for role in ("OWNER", "BILLING", "MEMBER"):
        d = await api.data(usage, {"s": tw.sub}, token=tw.tokens[role])
        assert d["currentUsage"] == {"used": "3", "quota": 3} or d["currentUsage"]["used"] in (
            3,
            "3",
            "3.0",
        ), d
    member_runs = (await api.data(runs, token=member))["playgroundRuns"]
    assert [r["id"] for r in member_runs] == [run["runId"]]
    assert (await api.data(runs, token=tw.tokens["BILLING"]))["playgroundRuns"] == []
    assert (await api.data(runs, token=tw.tokens["OUTSIDER"]))["playgroundRuns"] == []
    # Removing the member ends their access on their very next request (same token).
    q = """mutation($t: ID!, $u: ID!) { removeTeamMember(teamId: $t, userId: $u) {
           __typename ... on UserError { code } } }"""
    d = await gql(api, q, {"t": tw.team, "u": tw.users["MEMBER"]}, tw.tokens["ADMIN"])
    assert d["__typename"] == "TeamMemberRemoved"
    after = await sees(api, tw, "MEMBER")
    assert not any(after.values()), after
    assert (await api.data(runs, token=member))["playgroundRuns"] == []
    again = await try_it(
        api,
        member,
        {
            **world.run("GET /forecast/{city}", pathParams=[{"name": "city", "value": "oslo"}]),
            "keyId": tw.key_id,
        },
    )
    assert again["__typename"] == "UserError" and again["code"] == "NOT_FOUND"
    # The owner cannot leave; ownership moves, then the new owner deletes the team: its
    # subscription is cancelled and its key revoked in that same transaction.
    q = """mutation($t: ID!, $u: ID!) { transferTeamOwnership(teamId: $t, userId: $u) {
           __typename ... on Team { myRole } ... on UserError { code } } }"""
    d = await gql(api, q, {"t": tw.team, "u": tw.users["ADMIN"]}, tw.tokens["OWNER"])
    assert d == {"__typename": "Team", "myRole": "ADMIN"}
    roles = await api.data(
        "query($t: ID!) { team(id: $t) { members { role email } } }",
        {"t": tw.team},
        token=tw.tokens["ADMIN"],
    )
    assert sorted((m["email"], m["role"]) for m in roles["team"]["members"]) == [
        ("admin@example.com", "OWNER"),
        ("billing@example.com", "BILLING"),
        ("owner@example.com", "ADMIN"),
    ]
    q = """mutation($t: ID!) { deleteTeam(id: $t) { __typename
           ... on TeamDeleted { cancelledSubscriptions revokedKeys }
           ... on UserError { code } } }"""
    assert code(await gql(api, q, {"t": tw.team}, tw.tokens["OWNER"])) == F
    d = await gql(api, q, {"t": tw.team}, tw.tokens["ADMIN"])
    assert d == {"__typename": "TeamDeleted", "cancelledSubscriptions": 1, "revokedKeys": 1}
    status, body = await verify(api, tw.w.gateway, tw.key)
    assert status in (401, 403) and body["valid"] is False and body["code"] == "REVOKED"
    subs = await api.data("{ subscriptions { id status } }", token=tw.w.admin)
    assert {"id": tw.sub, "status": "CANCELLED"} in subs["subscriptions"]
    assert (await sees(api, tw, "BILLING"))["team"] is False


async def test_invitation_links_bind_to_the_address_and_expire_or_are_revoked(api: Api) -> None:
    w = await make_key_world(api, email="owner@example.com")
    team = await create_team(api, w.dev, "Acme <Eng>")
    await gql(api, INVITE, {"t": team, "e": "Invitee@Example.com", "r": "BILLING"}, w.dev)
    msg = await api.mailbox.wait("invitee@example.com", "invited you to")
    assert str(msg["Subject"]) == "Dev invited you to Acme <Eng>"
    assert "as a billing manager" in text_of(msg)
    token = token_of(msg, "/accept-invitation")
    wrong = (await api.sign_up(w.tenant, "someone@example.com"))["accessToken"]
    d = await gql(api, ACCEPT, {"t": token}, wrong)
    assert d == {
        "__typename": "UserError",
        "code": "INVITATION_FOR_ANOTHER_ADDRESS",
        "field": "token",
    }
    # A second invitation to the address replaces the first: the first link is dead.
    await gql(api, INVITE, {"t": team, "e": "invitee@example.com", "r": "MEMBER"}, w.dev)
    second = token_of(await api.mailbox.wait("invitee@example.com", "invited you to"))
    invitee = (await api.sign_up(w.tenant, "invitee@example.com"))["accessToken"]
    assert code(await gql(api, ACCEPT, {"t": token}, invitee)) == "INVALID_TOKEN"
    # Revoked: dead too.
    listing = await api.data(
        "query($t: ID!) { team(id: $t) { invitations { id status } } }", {"t": team}, token=w.dev
    )
    open_ = [i for i in listing["team"]["invitations"] if i["status"] == "OPEN"]
    assert len(open_) == 1
    q = """mutation($id: ID!) { revokeTeamInvitation(id: $id) { __typename
           ... on TeamInvitation { status } } }"""
    assert (await gql(api, q, {"id": open_[0]["id"]}, w.dev))["status"] == "REVOKED"
    assert code(await gql(api, ACCEPT, {"t": second}, invitee)) == "INVALID_TOKEN"
    # A fresh one works once; an outsider cannot list or revoke the team's invitations.
    await gql(api, INVITE, {"t": team, "e": "invitee@example.com", "r": "MEMBER"}, w.dev)
    third = token_of(await api.mailbox.wait("invitee@example.com", "invited you to"))
    assert (await gql(api, ACCEPT, {"t": third}, invitee))["myRole"] == "MEMBER"
    assert code(await gql(api, ACCEPT, {"t": third}, invitee)) == "INVALID_TOKEN"
    body = await api.gql("query($t: ID!) { team(id: $t) { id } }", {"t": team}, token=wrong)
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    # Unverified accounts cannot create teams (nor so send invitations to anyone).
    d = await api.data(
        """mutation($i: SignUpInput!) { signUp(input: $i) { __typename } }""",
        {"i": {"email": "fresh@example.com", "password": "correct horse battery", "name": "F"}},
        storefront=w.tenant.storefront_key,
    )
    fresh = await api.log_in(w.tenant, "fresh@example.com", "correct horse battery")
    d = await api.data(
        'mutation { createTeam(name: "Spam") { ... on UserError { code } } }',
        token=fresh["accessToken"],
    )
    assert d["createTeam"] == {"code": "EMAIL_NOT_VERIFIED"}


async def test_listing_teams_costs_a_constant_number_of_statements(api: Api) -> None:
    w = await make_key_world(api, email="owner@example.com")
    listing = """{ teams { id myRole members { name email } invitations { email status }
      subscriptions { id plan { name } } apiKeys { id teamId } } }"""
    counts = {}
    for n in (1, 3):
        while len((await api.data("{ teams { id } }", token=w.dev))["teams"]) < n:
            i = len((await api.data("{ teams { id } }", token=w.dev))["teams"])
            team = await create_team(api, w.dev, f"Team {i}")
            await gql(api, INVITE, {"t": team, "e": f"m{i}@example.com", "r": "MEMBER"}, w.dev)
            sub = await gql(api, SUBSCRIBE, {"p": w.plan_id, "t": team}, w.dev)
            await gql(api, CREATE_KEY, {"s": sub["id"]}, w.dev)
        await api.data("{ me { id } }", token=w.dev)  # the caller's standing is cached now
        with statements(app_of(api)) as seen:
            got = (await api.data(listing, token=w.dev))["teams"]
        assert len(got) == n
        assert all(len(t["subscriptions"]) == len(t["apiKeys"]) == 1 for t in got)
        assert all(t["invitations"][0]["status"] == "OPEN" for t in got)
        # Not the listing's: the caller's standing (read again when a busy machine's
        # invalidation heartbeat lapsed and the caches were purged) and the key verifier's
        # background write of last use.
        counts[n] = len(
            [q for q in queries(seen) if "is_banned" not in q and "last_used_at =" not in q]
        )
    # Teams, then one batch each for members, invitations, subscriptions (and their plans),
    # keys: never one per team.
    assert counts[1] == counts[3] <= 7, counts
