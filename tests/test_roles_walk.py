"""Roles, walked over the live schema: every Query, Mutation and subscription field is called
by no one, an anonymous storefront caller, a developer, a moderator and an admin, and each is
refused or let through exactly as the field's declared ``permission_classes`` say: admin-only
fields refuse developers and moderators (FORBIDDEN) and anonymous callers (UNAUTHENTICATED),
moderator fields let moderators in, storefront fields work anonymously.

Extended to sessions: a token's roles are a cache, so an admin demoted on one instance is a
moderator on the next request on another instance (sharing Redis), field by field, and a
logged-out caller is refused by every field there."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets

from aforo.app import schema
from tests.gateway import serving
from tests.isolation_cases import CASES, kind
from tests.world import (
    Served,
    World,
    Worlds,
    document,
    error_codes,
    root_fields,
    served,
    sign_in_again,
    worlds,
)

__all__ = ["served", "worlds"]  # module-scoped fixtures, used by the tests below

ROLES = ("nobody", "anonymous", "developer", "moderator", "admin")
REFUSALS = {"FORBIDDEN", "UNAUTHENTICATED"}
KNOWN = {"HasTenant", "IsAuthenticated", "IsAdmin", "IsModerator"}
SCHEMA = schema()
# Fields let through for a role that still read only the caller's own rows: another member's
# row is NOT_FOUND to them (the developer owns B's subscription; the moderator does not).
OWN_ROWS = {
    ("Query.currentUsage", "moderator"): "NOT_FOUND",
    ("Query.invoice", "moderator"): "NOT_FOUND",
    ("Query.upcomingInvoice", "moderator"): "NOT_FOUND",
    ("Query.team", "admin"): "NOT_FOUND",  # the developer's team: the admin is no member
}


def declared(key: str) -> set[str]:
    root, name = key.split(".")
    f = SCHEMA.get_field_for_type(name, root)
    assert f is not None, key
    return {p.__name__ for p in f.permission_classes}


def expected(key: str) -> dict[str, str | None]:
    """Each role's refusal code for field ``key`` (None: let through), from its declaration."""
    p = declared(key)
    signed_in = p & {"IsAuthenticated", "IsAdmin", "IsModerator"}
    return {
        "nobody": "UNAUTHENTICATED",
        "anonymous": "UNAUTHENTICATED" if signed_in else None,
        "developer": "FORBIDDEN" if p & {"IsAdmin", "IsModerator"} else None,
        "moderator": "FORBIDDEN" if "IsAdmin" in p else None,
        "admin": None,
    }


def test_every_field_declares_known_permissions() -> None:
    """No root field is open without a tenant, and only the four known checks are used (a new
    kind of check needs its expectation written down here first)."""
    for key in root_fields():
        p = declared(key)
        assert p and p <= KNOWN, (key, p)
        if p & {"IsAdmin", "IsModerator"}:
            assert "IsAuthenticated" in p, f"{key}: a role check without IsAuthenticated first"


def caller(w: World, role: str) -> dict[str, str]:
    return {} if role == "nobody" else w.caller(role)


def args_for(key: str, w: Worlds) -> dict[str, Any]:
    """Queries read B's own data (so a caller let through gets an answer); mutations name A's
    ids (a caller let through gets NOT_FOUND, and B's world is left standing)."""
    own = CASES[key].args(w.b, w.b)[0]
    return own if kind(key) == "Query" else CASES[key].args(w.a, w.b)[0]


async def test_every_query_and_mutation_refuses_exactly_as_declared(
    served: Served, worlds: Worlds
) -> None:
    b = worlds.b
    problems: list[str] = []
    keys = sorted(
        (k for k in root_fields() if kind(k) != "RootSubscription"),
        key=lambda k: (k == "Mutation.logOut", k),  # it ends the callers' sessions: last
    )
    counts = {"refused": 0, "let through": 0}
    for key in keys:
        args = args_for(key, worlds)
        want = expected(key)
        bodies = await asyncio.gather(
            *(served.api.raw(document(key, args, depth=1), args, **caller(b, r)) for r in ROLES)
        )
        for role, r in zip(ROLES, bodies, strict=True):
            body = r.json()
            codes = set(error_codes(body))
            name = key.split(".")[1]
            if want[role] is not None:
                counts["refused"] += 1
                if codes != {want[role]} or (body.get("data") or {}).get(name) is not None:
                    problems.append(f"{key} as {role}: wanted {want[role]}, got {body}")
            else:
                counts["let through"] += 1
                if codes & REFUSALS:
                    problems.append(f"{key} as {role}: refused although declared open: {body}")
                elif kind(key) == "Query" and codes - {OWN_ROWS.get((key, role))}:
                    problems.append(f"{key} as {role}: {body}")
    await sign_in_again(served.api, b)  # logOut ended B's sessions, at once
    assert not problems, "\n".join(problems)
    print(f"roles walk: {len(keys)} fields, {counts}")


async def _first(s: Served, w: World, role: str, key: str, args: dict[str, Any]) -> Any:
    """The first message a subscription gets within a second (None: it is open, quiet)."""
    params = {} if role == "nobody" else {"X-Storefront-Key": w.tenant.storefront_key}
    if role not in ("nobody", "anonymous"):
        params["Authorization"] = f"Bearer {w.caller(role)['token']}"
    async with websockets.connect(
        s.url.replace("http", "ws") + "/graphql",
        subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": params}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
        query = document(key, args, depth=1)
        msg = {"id": "s", "type": "subscribe", "payload": {"query": query, "variables": args}}
        await ws.send(json.dumps(msg))
        try:
            return json.loads(await asyncio.wait_for(ws.recv(), 1.0))
        except TimeoutError:
            return None


async def test_every_subscription_refuses_exactly_as_declared(
    served: Served, worlds: Worlds
) -> None:
    b = worlds.b
    subs = [k for k in root_fields() if kind(k) == "RootSubscription"]
    jobs = [(k, r) for k in subs for r in ROLES]
    firsts = await asyncio.gather(
        *(_first(served, b, r, k, CASES[k].args(b, b)[0]) for k, r in jobs)
    )
    problems = []
    for (key, role), msg in zip(jobs, firsts, strict=True):
        want = expected(key)[role]
        errors = (msg or {}).get("payload") if (msg or {}).get("type") == "error" else []
        if msg and msg.get("type") == "next":
            errors = msg["payload"].get("errors") or []
        codes = {(e.get("extensions") or {}).get("code") for e in errors or []}
        if want is not None and codes != {want}:
            problems.append(f"{key} as {role}: wanted {want}, got {msg}")
        if want is None and codes & REFUSALS:
            problems.append(f"{key} as {role}: refused although declared open: {msg}")
    assert not problems, "\n".join(problems)


SET_ROLES = """mutation($u: ID!, $r: [Role!]!) { setUserRoles(userId: $u, roles: $r) { __typename
  ... on User { roles } ... on UserError { code } } }"""


async def _until_refused(api: Any, token: str, query: str, code: str) -> None:
    """Another instance learns of a change through Redis pub/sub: a message, not a poll; wait
    (bounded) for it to land rather than race it."""
    for _ in range(200):
        body = (await api.raw(query, token=token)).json()
        if code in error_codes(body):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never refused with {code}: {body}")


async def test_a_demoted_or_logged_out_caller_is_refused_at_once_on_another_instance(
    served: Served, worlds: Worlds
) -> None:
    b = worlds.b
    one = served.api  # the served instance; `two` is a second one on the same database and Redis
    async with serving(served.settings) as two:
        # B's moderator is made an admin, signs in on instance two, then is demoted on one.
        d = await one.data(SET_ROLES, {"u": b.mod_id, "r": ["ADMIN"]}, token=b.admin)
        assert d["setUserRoles"]["roles"] == ["ADMIN"]
        signed = await two.log_in(b.tenant, f"mod-{b.marker}@example.com", "correct horse battery")
        stale_admin = signed["accessToken"]
        assert (await two.data("{ users { id } }", token=stale_admin))["users"]
        d = await one.data(SET_ROLES, {"u": b.mod_id, "r": ["MODERATOR"]}, token=b.admin)
        assert d["setUserRoles"]["roles"] == ["MODERATOR"]
        await _until_refused(two, stale_admin, "{ users { id } }", "FORBIDDEN")
        # B's developer signs in on two and logs out on one.
        dev = await two.log_in(b.tenant, f"dev-{b.marker}@example.com", "correct horse battery")
        await one.data("mutation { logOut { __typename } }", token=dev["accessToken"])
        await _until_refused(two, dev["accessToken"], "{ me { id } }", "SESSION_ENDED")

        problems: list[str] = []
        keys = sorted(
            (k for k in root_fields() if kind(k) != "RootSubscription"),
            key=lambda k: (k == "Mutation.logOut", k),  # it ends the stale admin's session
        )
        for key in keys:
            args = args_for(key, worlds)
            doc = document(key, args, depth=1)
            # The stale admin token: answered exactly as a moderator's would be.
            body = (await two.raw(doc, args, token=stale_admin)).json()
            want = expected(key)["moderator"]
            codes = set(error_codes(body))
            if want is not None and codes != {want}:
                problems.append(f"{key} as a demoted admin: wanted {want}, got {body}")
            if want is None and codes & REFUSALS:
                problems.append(f"{key} as a demoted admin: refused although open: {body}")
            # The logged-out token: refused before any field runs.
            r = await two.raw(doc, args, token=dev["accessToken"])
            # under application/json a refusal is HTTP 200 (GraphQL-over-HTTP); the code says why
            if r.status_code != 200 or error_codes(r.json()) != ["SESSION_ENDED"]:
                problems.append(f"{key} logged out: {r.status_code} {r.text[:200]}")
        assert not problems, "\n".join(problems)
    await sign_in_again(served.api, b)
