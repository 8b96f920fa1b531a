"""API keys over GraphQL: formats, listing, rotation with grace, revocation, audit, isolation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from aforo.models.outbox import OutboxEvent
from aforo.services import api_keys
from tests.gateway import (
    create_key,
    make_key_world,
    queries,
    revoke_key,
    rotate_key,
    statements,
    subscribe,
    verify,
)
from tests.support import Api


def test_key_format_has_a_checksum_that_catches_typos() -> None:
    key = api_keys.new_key_secret()
    assert key.startswith("sk_live_") and len(key) >= 8 + 43
    assert api_keys.well_formed(key)
    i = 20
    typo = key[:i] + ("a" if key[i] != "a" else "b") + key[i + 1 :]
    assert not api_keys.well_formed(typo)
    assert not api_keys.well_formed(key[:-1])
    assert not api_keys.well_formed(key.replace("sk_live_", "sk_test_"))
    assert len({api_keys.new_key_secret() for _ in range(100)}) == 100


async def test_create_both_formats_secret_shown_once(api: Api) -> None:
    w = await make_key_world(api)
    cc = await create_key(api, w.dev, w.subscription_id, fmt="CLIENT_CREDENTIALS")
    assert cc["secret"].startswith("cs_live_") and cc["clientId"].startswith("ci_")
    k = cc["apiKey"]
    assert k["format"] == "CLIENT_CREDENTIALS" and k["status"] == "ACTIVE"
    assert k["prefix"] == cc["secret"][:12] and k["last4"] == cc["secret"][-4:]
    assert k["clientId"] == cc["clientId"]
    assert k["subscriptions"] == [{"id": w.subscription_id, "status": "ACTIVE"}]
    listed = await api.data("{ apiKeys { id prefix last4 } }", token=w.dev)
    assert len(listed["apiKeys"]) == 2
    assert cc["secret"] not in str(listed) and w.key not in str(listed)


async def test_key_inputs_are_validated(api: Api) -> None:
    w = await make_key_world(api)
    q = """mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { __typename
             ... on UserError { code field } } }"""
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    far = (datetime.now(UTC) + timedelta(days=4000)).isoformat()
    cases = [
        ({"name": ""}, "INVALID", "name"),
        ({"name": "x" * 201}, "INVALID", "name"),
        ({"expiresAt": past}, "INVALID", "expiresAt"),
        ({"expiresAt": far}, "INVALID", "expiresAt"),
        ({"subscriptionId": "not-an-id"}, "INVALID", "subscriptionId"),
        ({"subscriptionId": "00000000-0000-0000-0000-000000000000"}, "NOT_FOUND", "subscriptionId"),
    ]
    for change, code, field in cases:
        i = {"subscriptionId": w.subscription_id, "name": "k", **change}
        d = await api.data(q, {"i": i}, token=w.dev)
        assert d["createApiKey"] == {"__typename": "UserError", "code": code, "field": field}, (
            change
        )
    # Someone else's subscription is invisible to a developer.
    other = (await api.sign_up(w.tenant, "o@example.com"))["accessToken"]
    d = await api.data(q, {"i": {"subscriptionId": w.subscription_id, "name": "k"}}, token=other)
    assert d["createApiKey"]["code"] == "NOT_FOUND"
    for grace in (-1, 86401):
        r = await api.data(
            "mutation($id: ID!, $g: Int!) { rotateApiKey(id: $id, graceSeconds: $g) "
            "{ __typename ... on UserError { code field } } }",
            {"id": w.key_id, "g": grace},
            token=w.dev,
        )
        assert r["rotateApiKey"] == {
            "__typename": "UserError",
            "code": "INVALID",
            "field": "graceSeconds",
        }


async def test_listing_shows_bindings_and_events_without_n_plus_one(api: Api) -> None:
    w = await make_key_world(api)
    for _ in range(4):
        k = await create_key(api, w.dev, w.subscription_id)
        await rotate_key(api, w.dev, k["apiKey"]["id"], grace=60)
    q = """{ apiKeys { id status owner { id } subscriptions { id plan { slug } }
             events { type occurredAt actorId successorId } } }"""
    with statements(api.client._transport.app) as seen:  # type: ignore[attr-defined]
        d = await api.data(q, token=w.dev)
    assert len(d["apiKeys"]) == 9
    # keys, their users, their bindings, the subscriptions' plans, their events
    assert len(queries(seen)) == 5
    rotating = [k for k in d["apiKeys"] if k["status"] == "ROTATING"]
    assert len(rotating) == 4
    assert rotating[0]["events"][0]["type"] == "ROTATED"
    assert rotating[0]["events"][0]["actorId"] == w.dev_id
    assert all(k["subscriptions"][0]["plan"]["slug"] == "starter" for k in d["apiKeys"])


async def test_rotation_inherits_bindings_and_expiry_and_caps_grace(api: Api) -> None:
    w = await make_key_world(api)
    expires = datetime.now(UTC) + timedelta(seconds=120)
    k = await create_key(api, w.dev, w.subscription_id, expiresAt=expires.isoformat())
    r = await rotate_key(api, w.dev, k["apiKey"]["id"], grace=3600)
    new = r["apiKey"]
    assert new["id"] != k["apiKey"]["id"] and r["secret"] != k["secret"]
    assert new["subscriptions"] == k["apiKey"]["subscriptions"]
    assert datetime.fromisoformat(new["expiresAt"]) == datetime.fromisoformat(
        k["apiKey"]["expiresAt"]
    )
    # The grace never runs past the original expiry.
    assert datetime.fromisoformat(r["previousKeyExpiresAt"]) == datetime.fromisoformat(
        k["apiKey"]["expiresAt"]
    )
    assert (await verify(api, w.gateway, k["secret"]))[1]["code"] == "VALID"  # in grace
    assert (await verify(api, w.gateway, r["secret"]))[1]["code"] == "VALID"
    again = await api.data(
        "mutation($id: ID!) { rotateApiKey(id: $id) { __typename ... on UserError { code } } }",
        {"id": k["apiKey"]["id"]},
        token=w.dev,
    )
    assert again["rotateApiKey"]["code"] == "CONFLICT"


async def test_rotation_with_zero_grace_refuses_the_old_key_at_once(api: Api) -> None:
    w = await make_key_world(api)
    assert (await verify(api, w.gateway, w.key))[1]["code"] == "VALID"  # cached
    r = await rotate_key(api, w.dev, w.key_id, grace=0)
    status, body = await verify(api, w.gateway, w.key)
    assert (status, body["code"]) == (403, "EXPIRED")
    assert (await verify(api, w.gateway, r["secret"]))[1]["code"] == "VALID"


async def test_default_grace_is_five_minutes(api: Api) -> None:
    w = await make_key_world(api)
    before = datetime.now(UTC)
    r = await rotate_key(api, w.dev, w.key_id)
    end = datetime.fromisoformat(r["previousKeyExpiresAt"])
    assert timedelta(seconds=299) <= end - before <= timedelta(seconds=330)


async def test_revoke_refuses_at_once_and_records_attempts(api: Api) -> None:
    w = await make_key_world(api)
    assert (await verify(api, w.gateway, w.key))[1]["code"] == "VALID"
    r = await revoke_key(api, w.dev, w.key_id)
    assert r["status"] == "REVOKED"
    for _ in range(3):
        status, body = await verify(api, w.gateway, w.key)
        assert (status, body["code"]) == (403, "REVOKED")
    await api.client._transport.app.state.key_verifier.flush()  # type: ignore[attr-defined]
    d = await api.data("{ apiKeys { events { type reason count } } }", token=w.dev)
    events = d["apiKeys"][0]["events"]
    assert events[0] == {"type": "VERIFIED_AFTER_REVOKE", "reason": None, "count": 3}
    assert [e["type"] for e in events[1:]] == ["REVOKED", "CREATED"]
    again = await api.data(
        "mutation($id: ID!) { revokeApiKey(id: $id) { __typename ... on UserError { code } } }",
        {"id": w.key_id},
        token=w.dev,
    )
    assert again["revokeApiKey"]["code"] == "CONFLICT"


async def test_developers_touch_only_their_keys_admins_all(api: Api) -> None:
    w = await make_key_world(api)
    other = (await api.sign_up(w.tenant, "o@example.com"))["accessToken"]
    await create_key(api, other, await subscribe(api, other, w.plan_id))
    mine = await api.data("{ apiKeys { id } }", token=other)
    assert w.key_id not in {k["id"] for k in mine["apiKeys"]}
    for mutation in ("revokeApiKey(id: $id)", "rotateApiKey(id: $id)"):
        d = await api.data(
            f"mutation($id: ID!) {{ {mutation} {{ __typename ... on UserError {{ code }} }} }}",
            {"id": w.key_id},
            token=other,
        )
        assert next(iter(d.values()))["code"] == "NOT_FOUND"
    everything = await api.data("{ apiKeys { id owner { email } } }", token=w.admin)
    assert len(everything["apiKeys"]) == 2
    assert (await revoke_key(api, w.admin, w.key_id))["status"] == "REVOKED"
    anonymous = await api.gql("{ apiKeys { id } }", storefront=w.tenant.storefront_key)
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_keys_of_another_tenant_are_invisible(api: Api) -> None:
    a = await make_key_world(api, name="Alpha")
    b = await make_key_world(api, name="Beta")
    assert {k["id"] for k in (await api.data("{ apiKeys { id } }", token=b.admin))["apiKeys"]} == {
        b.key_id
    }
    d = await api.data(
        "mutation($id: ID!) { revokeApiKey(id: $id) { __typename ... on UserError { code } } }",
        {"id": a.key_id},
        token=b.admin,
    )
    assert d["revokeApiKey"]["code"] == "NOT_FOUND"


async def test_key_events_reach_the_outbox_without_secrets(api: Api) -> None:
    w = await make_key_world(api)
    r = await rotate_key(api, w.dev, w.key_id, grace=10)
    await revoke_key(api, w.dev, r["apiKey"]["id"])
    runtime = api.client._transport.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.transaction(uuid.UUID(w.tenant.id)) as s:
        rows = list(await s.scalars(select(OutboxEvent).order_by(OutboxEvent.seq)))
    types = [(e.topic, e.type) for e in rows]
    for expected in [
        ("aforo.billing.events", "subscription.created"),
        ("aforo.keys.events", "key.created"),
        ("aforo.keys.events", "key.rotated"),
        ("aforo.keys.events", "key.revoked"),
    ]:
        assert expected in types
    blob = str([e.payload for e in rows])
    assert w.key not in blob and r["secret"] not in blob
