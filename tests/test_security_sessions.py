"""Authorization is current: the assessment's attacks with stale tokens, refused now.

An admin demoted to DEVELOPER kept listing users, creating gateway tokens and making itself
ADMIN again with its old token; a banned or removed user's token worked; a logged-out token
worked; a subscription outlived its token. Each is replayed here with the refusal expected.
The walk over every field for a demoted and a logged-out caller on a second instance is in
``test_roles_walk``."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from fastapi import FastAPI

from aforo.app import create_app
from aforo.config import Settings
from aforo.errors import Forbidden
from aforo.services import accounts
from aforo.services.authz import CLOSE_FORBIDDEN, CLOSE_UNAUTHORIZED
from aforo.tenancy.context import Role
from tests.services import AppServer
from tests.support import Api, TenantFixture, make_tenant
from tests.test_forum_support import CREATE_THREAD, SAVE_CATEGORY

SET_ROLES = """mutation($u: ID!, $r: [Role!]!) { setUserRoles(userId: $u, roles: $r) { __typename
  ... on User { id roles } ... on UserError { code field } } }"""
REMOVE = """mutation($u: ID!) { removeUser(userId: $u) { __typename
  ... on User { id } ... on UserError { code field } } }"""
BAN = """mutation($u: ID!, $a: ModerationActionType!) { moderate(input: {targetType: USER,
  targetId: $u, action: $a, reason: "abuse"}) { __typename ... on UserError { code } } }"""
REFRESH = """mutation($t: String!) { refreshToken(token: $t) { __typename
  ... on AuthPayload { accessToken } ... on UserError { code } } }"""
GATEWAY_TOKEN = """mutation { createGatewayToken(name: "edge") { __typename
  ... on UserError { code } } }"""


def refusal(r: httpx.Response) -> tuple[int, str | None]:
    # Under application/json a GraphQL refusal is HTTP 200 (GraphQL-over-HTTP); its code says why.
    body = r.json()
    errors = body.get("errors") or []
    return r.status_code, (errors[0]["extensions"]["code"] if errors else None)


async def _admin_and_dev(api: Api) -> tuple[TenantFixture, str, dict[str, Any]]:
    t = await make_tenant(api.settings)
    return t, await api.admin_token(t), await api.sign_up(t, "dev@example.com")


async def test_a_demoted_admin_s_old_token_is_a_developer_s(api: Api, app: FastAPI) -> None:
    t, admin, dev = await _admin_and_dev(api)
    me = (await api.data("{ me { id } }", token=admin))["me"]["id"]
    d = await api.data(SET_ROLES, {"u": dev["user"]["id"], "r": ["ADMIN"]}, token=admin)
    assert d["setUserRoles"]["roles"] == ["ADMIN"]
    second = (await api.log_in(t, "dev@example.com", "correct horse battery"))["accessToken"]
    # The second admin demotes the first: the first's token is a developer's from now on.
    d = await api.data(SET_ROLES, {"u": me, "r": ["DEVELOPER"]}, token=second)
    assert d["setUserRoles"]["roles"] == ["DEVELOPER"]
    for query, variables in (
        ("{ users { id } }", {}),
        (GATEWAY_TOKEN, {}),
        (SET_ROLES, {"u": me, "r": ["ADMIN"]}),  # making itself admin again
    ):
        body = await api.gql(query, variables, token=admin)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", (query, body)
    assert (await api.data("{ me { roles } }", token=admin))["me"]["roles"] == ["DEVELOPER"]
    # Nobody raises their own role (only admins manage roles today, so this is the service's
    # own rule, behind the permission); the last admin stays.
    async with app.state.runtime.transaction(uuid.UUID(t.id)) as s:
        with pytest.raises(Forbidden) as raised:
            await accounts.set_roles(s, uuid.UUID(me), uuid.UUID(me), [Role.ADMIN])
    assert (raised.value.code, raised.value.field) == ("OWN_ROLE", "roles")
    d = await api.data(SET_ROLES, {"u": dev["user"]["id"], "r": ["DEVELOPER"]}, token=second)
    assert d["setUserRoles"] == {"__typename": "UserError", "code": "LAST_ADMIN", "field": "userId"}
    d = await api.data(REMOVE, {"u": dev["user"]["id"]}, token=second)
    assert d["removeUser"] == {"__typename": "UserError", "code": "LAST_ADMIN", "field": "userId"}


async def test_two_admins_demoting_each_other_at_once_leave_one(api: Api) -> None:
    t, admin, dev = await _admin_and_dev(api)
    me = (await api.data("{ me { id } }", token=admin))["me"]["id"]
    await api.data(SET_ROLES, {"u": dev["user"]["id"], "r": ["ADMIN"]}, token=admin)
    second = (await api.log_in(t, "dev@example.com", "correct horse battery"))["accessToken"]
    bodies = await asyncio.gather(
        api.gql(SET_ROLES, {"u": dev["user"]["id"], "r": ["DEVELOPER"]}, token=admin),
        api.gql(SET_ROLES, {"u": me, "r": ["DEVELOPER"]}, token=second),
    )

    def outcome(b: dict[str, Any]) -> str:
        if b.get("errors"):
            return str(b["errors"][0]["extensions"]["code"])
        return str(b["data"]["setUserRoles"].get("code") or "User")

    outcomes = sorted(outcome(b) for b in bodies)
    # One demotion went through; the other found its target the last admin (or its caller
    # already demoted: its token is a developer's by then).
    assert outcomes in (["LAST_ADMIN", "User"], ["FORBIDDEN", "User"]), bodies
    lists = [await api.gql("{ users { roles } }", token=tok) for tok in (admin, second)]
    (users,) = [b["data"]["users"] for b in lists if not b.get("errors")]
    assert [u["roles"] for u in users].count(["ADMIN"]) == 1


async def test_logout_ban_and_removal_end_the_sessions_they_touch(api: Api, app: FastAPI) -> None:
    t, admin, dev = await _admin_and_dev(api)
    sf = t.storefront_key
    # logOut: the access token and the refresh token stop working at once.
    await api.data("mutation { logOut { __typename } }", token=dev["accessToken"])
    assert refusal(await api.raw("{ me { id } }", token=dev["accessToken"])) == (
        200,
        "SESSION_ENDED",
    )
    d = await api.data(REFRESH, {"t": dev["refreshToken"]}, storefront=sf)
    assert d["refreshToken"]["code"] == "INVALID_TOKEN"
    # A ban: refused on the next request, log-in and refresh refused, key creation with it.
    live = await api.log_in(t, "dev@example.com", "correct horse battery")
    d = await api.data(BAN, {"u": dev["user"]["id"], "a": "BAN"}, token=admin)
    assert d["moderate"]["__typename"] == "ModerationRecord"
    create_key = """mutation { createApiKey(input: {name: "k",
        subscriptionId: "00000000-0000-0000-0000-000000000000"}) { __typename } }"""
    for query in ("{ me { id } }", create_key):
        assert refusal(await api.raw(query, token=live["accessToken"])) == (200, "ACCOUNT_DISABLED")
    d = await api.data(REFRESH, {"t": live["refreshToken"]}, storefront=sf)
    assert d["refreshToken"]["code"] in ("ACCOUNT_DISABLED", "INVALID_TOKEN")
    refused = await api.log_in(t, "dev@example.com", "correct horse battery")
    assert refused["code"] == "ACCOUNT_DISABLED"
    wrong = await api.log_in(t, "dev@example.com", "not the password at all")
    assert wrong["code"] == "INVALID_CREDENTIALS"  # a ban shows only to the password's holder
    await api.data(BAN, {"u": dev["user"]["id"], "a": "UNBAN"}, token=admin)
    back = await api.log_in(t, "dev@example.com", "correct horse battery")
    assert back["__typename"] == "AuthPayload"
    assert refusal(await api.raw("{ me { id } }", token=live["accessToken"]))[1] is not None
    # Removal: the account's tokens stop, it cannot sign in, it leaves the user list.
    d = await api.data(REMOVE, {"u": dev["user"]["id"]}, token=admin)
    assert d["removeUser"]["__typename"] == "User"
    assert refusal(await api.raw("{ me { id } }", token=back["accessToken"])) == (
        200,
        "ACCOUNT_DISABLED",
    )
    gone = await api.log_in(t, "dev@example.com", "correct horse battery")
    assert gone["code"] == "INVALID_CREDENTIALS"
    users = (await api.data("{ users { id } }", token=admin))["users"]
    assert dev["user"]["id"] not in [u["id"] for u in users]


# -- live subscriptions ---------------------------------------------------------------------------
@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[tuple[Api, FastAPI, str]]:
    app = create_app(settings)
    server = AppServer(app).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            yield Api(client, settings), app, server.url.replace("http", "ws") + "/graphql"
    finally:
        server.stop()


async def _subscribed(url: str, token: str, thread: str) -> Any:
    ws = await websockets.connect(
        url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]
    )
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
    )
    assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
    query = "subscription($t: ID!) { threadActivity(threadId: $t) { type } }"
    await ws.send(
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": query, "variables": {"t": thread}},
            }
        )
    )
    return ws


async def _closed(ws: Any) -> tuple[int | None, str | None]:
    """Read until the server closes the socket (bounded); its close code and reason."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 15)
    except websockets.ConnectionClosed as e:
        return (e.rcvd.code, e.rcvd.reason) if e.rcvd else (None, None)


async def test_a_subscription_closes_when_its_token_expires_its_session_ends_or_roles_change(
    live: tuple[Api, FastAPI, str],
) -> None:
    api, app, url = live
    t, admin, dev = await _admin_and_dev(api)
    cat = (await api.data(SAVE_CATEGORY, {"i": {"name": "Help"}}, token=admin))["saveCategory"][
        "id"
    ]
    thread = (
        await api.data(
            CREATE_THREAD,
            {"i": {"categoryId": cat, "title": "A live question", "body": "b", "tags": []}},
            token=admin,
        )
    )["createThread"]["id"]
    # A five-second token (the assessment's), minted for the developer's session.
    runtime = app.state.runtime
    claims = runtime.auth.context_from_jwt(dev["accessToken"])
    short, _ = runtime.auth.issue_access_token(
        tenant_id=uuid.UUID(t.id),
        user_id=claims.user_id,
        roles=["DEVELOPER"],
        session_id=claims.session_id,
        ttl_s=2,
    )
    expiring = await _subscribed(url, short, thread)
    logged_out = await _subscribed(url, dev["accessToken"], thread)
    promoted = await _subscribed(url, admin, thread)
    assert await _closed(expiring) == (CLOSE_UNAUTHORIZED, "access token expired")
    await api.data("mutation { logOut { __typename } }", token=dev["accessToken"])
    assert await _closed(logged_out) == (
        CLOSE_UNAUTHORIZED,
        "this session has ended; sign in again",
    )
    me = (await api.data("{ me { id } }", token=admin))["me"]["id"]
    other = await api.sign_up(t, "second@example.com")
    await api.data(SET_ROLES, {"u": other["user"]["id"], "r": ["ADMIN"]}, token=admin)
    second = (await api.log_in(t, "second@example.com", "correct horse battery"))["accessToken"]
    await api.data(SET_ROLES, {"u": me, "r": ["MODERATOR"]}, token=second)
    assert await _closed(promoted) == (CLOSE_FORBIDDEN, "roles changed; reconnect")
