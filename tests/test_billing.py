"""Products, plans and subscriptions; cancelling revokes the bound keys atomically."""

from __future__ import annotations

import json

import asyncpg

from aforo.config import Settings
from tests.gateway import (
    cancel,
    create_key,
    create_plan,
    create_product,
    make_key_world,
    queries,
    statements,
    subscribe,
    verify,
)
from tests.support import Api, make_tenant

PRODUCTS = """{ products { slug plans { slug priceCents currency interval monthlyQuota
                rateLimitPerMinute hardQuota archivedAt } } }"""


async def test_admin_builds_a_catalogue_that_the_storefront_reads(api: Api) -> None:
    t = await make_tenant(api.settings)
    admin = await api.admin_token(t)
    for slug in ("weather", "maps", "news"):
        pid = await create_product(api, admin, slug)
        await create_plan(api, admin, pid, hardQuota=True)
        await create_plan(api, admin, pid, slug="pro", name="Pro", priceCents=9900, interval="YEAR")
    with statements(api.client._transport.app) as seen:  # type: ignore[attr-defined]
        d = await api.data(PRODUCTS, storefront=t.storefront_key)
    assert len(d["products"]) == 3
    weather = next(p for p in d["products"] if p["slug"] == "weather")
    assert [p["slug"] for p in weather["plans"]] == ["starter", "pro"]  # cheapest first
    assert weather["plans"][0] == {
        "slug": "starter",
        "priceCents": 1900,
        "currency": "USD",
        "interval": "MONTH",
        "monthlyQuota": 10000,
        "rateLimitPerMinute": 60,
        "hardQuota": True,
        "archivedAt": None,
    }
    assert len(queries(seen)) == 2  # products, then every product's plans in one batch


async def test_catalogue_inputs_are_validated_with_the_offending_field(api: Api) -> None:
    t = await make_tenant(api.settings)
    admin = await api.admin_token(t)
    pid = await create_product(api, admin)
    q = """mutation($i: CreatePlanInput!) { createPlan(input: $i) { __typename
             ... on UserError { code field } } }"""
    base = {
        "productId": pid,
        "name": "P",
        "slug": "p",
        "priceCents": 1,
        "currency": "USD",
        "interval": "MONTH",
    }
    cases = [
        ({"priceCents": -1}, "priceCents"),
        ({"currency": "usd"}, "currency"),
        ({"slug": "Not A Slug"}, "slug"),
        ({"monthlyQuota": 0}, "monthlyQuota"),
        ({"rateLimitPerMinute": -5}, "rateLimitPerMinute"),
        ({"hardQuota": True}, "hardQuota"),  # a hard quota without a quota
        ({"productId": "00000000-0000-0000-0000-000000000000"}, "productId"),
        ({"productId": "nope"}, "productId"),
        ({"name": " "}, "name"),
    ]
    for change, field in cases:
        d = await api.data(q, {"i": {**base, **change}}, token=admin)
        assert d["createPlan"]["__typename"] == "UserError", change
        assert d["createPlan"]["field"] == field, (change, d)
    await create_plan(api, admin, pid, slug="p")
    d = await api.data(q, {"i": base}, token=admin)
    assert d["createPlan"] == {"__typename": "UserError", "code": "CONFLICT", "field": "slug"}
    dup = await api.data(
        """mutation { createProduct(input: {name: "W", slug: "weather"}) { __typename
             ... on UserError { code field } } }""",
        token=admin,
    )
    assert dup["createProduct"] == {"__typename": "UserError", "code": "CONFLICT", "field": "slug"}


async def test_only_admins_manage_the_catalogue(api: Api) -> None:
    t = await make_tenant(api.settings)
    dev = await api.sign_up(t, "d@example.com")
    body = await api.gql(
        'mutation { createProduct(input: {name: "X", slug: "x"}) { __typename } }',
        token=dev["accessToken"],
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await api.gql(
        'mutation { createProduct(input: {name: "X", slug: "x"}) { __typename } }',
        storefront=t.storefront_key,
    )
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_archived_plans_leave_the_storefront_and_take_no_subscriptions(api: Api) -> None:
    t = await make_tenant(api.settings)
    admin = await api.admin_token(t)
    pid = await create_product(api, admin)
    plan = await create_plan(api, admin, pid)
    dev = (await api.sign_up(t, "d@example.com"))["accessToken"]
    sub = await subscribe(api, dev, plan)
    d = await api.data(
        "mutation($id: ID!) { archivePlan(id: $id) { __typename ... on Plan { archivedAt } } }",
        {"id": plan},
        token=admin,
    )
    assert d["archivePlan"]["archivedAt"]
    assert (await api.data(PRODUCTS, storefront=t.storefront_key))["products"][0]["plans"] == []
    other = (await api.sign_up(t, "e@example.com"))["accessToken"]
    d = await api.data(
        "mutation($p: ID!) { subscribe(planId: $p) { __typename"
        " ... on UserError { code field } } }",
        {"p": plan},
        token=other,
    )
    assert d["subscribe"] == {"__typename": "UserError", "code": "CONFLICT", "field": "planId"}
    mine = await api.data("{ mySubscriptions { id status plan { slug archivedAt } } }", token=dev)
    assert mine["mySubscriptions"][0]["id"] == sub
    assert mine["mySubscriptions"][0]["status"] == "ACTIVE"  # existing ones keep running


async def test_subscriptions_are_per_developer_and_admins_see_all(api: Api) -> None:
    w = await make_key_world(api)
    again = await api.data(
        "mutation($p: ID!) { subscribe(planId: $p) { __typename ... on UserError { code } } }",
        {"p": w.plan_id},
        token=w.dev,
    )
    assert again["subscribe"]["code"] == "CONFLICT"
    other = (await api.sign_up(w.tenant, "other@example.com"))["accessToken"]
    await subscribe(api, other, w.plan_id)
    assert len((await api.data("{ mySubscriptions { id } }", token=other))["mySubscriptions"]) == 1
    # Another developer cannot cancel (or see) mine.
    r = await cancel(api, other, w.subscription_id)
    assert r == {
        "__typename": "UserError",
        "code": "NOT_FOUND",
        "message": r["message"],
        "field": "id",
    }
    with statements(api.client._transport.app) as seen:  # type: ignore[attr-defined]
        d = await api.data(
            "{ subscriptions { id status user { email } plan { slug } } }", token=w.admin
        )
    assert len(d["subscriptions"]) == 2
    assert {s["user"]["email"] for s in d["subscriptions"]} == {
        "dev@example.com",
        "other@example.com",
    }
    assert len(queries(seen)) == 3  # subscriptions, their users, their plans
    body = await api.gql("{ subscriptions { id } }", token=w.dev)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # An admin cancels any developer's subscription; the event names the keys it revoked.
    assert (await cancel(api, w.admin, w.subscription_id))["status"] == "CANCELLED"
    dsn = (api.settings.owner_url or "").replace("postgresql+asyncpg", "postgresql")
    conn = await asyncpg.connect(dsn)
    try:
        payload = await conn.fetchval(
            "select payload from outbox where type = 'subscription.cancelled'"
        )
    finally:
        await conn.close()
    event = json.loads(payload)
    assert event["subscription_id"] == w.subscription_id
    assert event["revoked_key_ids"] == [w.key_id]


async def test_cancel_revokes_every_bound_key_at_once(api: Api) -> None:
    w = await make_key_world(api)
    second = await create_key(api, w.dev, w.subscription_id)
    for key in (w.key, second["secret"]):
        assert (await verify(api, w.gateway, key))[1]["code"] == "VALID"
    r = await cancel(api, w.dev, w.subscription_id)
    assert r["status"] == "CANCELLED" and r["cancelledAt"]
    for key in (w.key, second["secret"]):
        assert (await verify(api, w.gateway, key))[1]["code"] == "REVOKED"  # cache dropped
    keys = await api.data("{ apiKeys { status events { type reason } } }", token=w.dev)
    for k in keys["apiKeys"]:
        assert k["status"] == "REVOKED"
        assert k["events"][0] == {"type": "REVOKED", "reason": "subscription_cancelled"}
    again = await cancel(api, w.admin, w.subscription_id)
    assert again["code"] == "CONFLICT"
    d = await api.data(
        "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { __typename "
        "... on UserError { code field } } }",
        {"i": {"subscriptionId": w.subscription_id, "name": "late"}},
        token=w.dev,
    )
    assert d["createApiKey"] == {
        "__typename": "UserError",
        "code": "CONFLICT",
        "field": "subscriptionId",
    }


async def test_a_failure_after_the_revoke_and_before_commit_changes_nothing(
    api: Api, settings: Settings
) -> None:
    w = await make_key_world(api)
    assert (await verify(api, w.gateway, w.key))[1]["code"] == "VALID"  # now cached
    # Fail the subscription update, which runs after the keys were revoked in the same
    # transaction (the trigger lives in this test's own database only).
    dsn = (settings.owner_url or "").replace("postgresql+asyncpg", "postgresql")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """create function fail_cancel() returns trigger language plpgsql as $$
               begin raise exception 'injected failure'; end $$;
               create trigger fail_cancel before update on subscriptions
               for each row when (new.status = 'CANCELLED') execute function fail_cancel();"""
        )
        body = await api.gql(
            "mutation($id: ID!) { cancelSubscription(id: $id) { __typename } }",
            {"id": w.subscription_id},
            token=w.dev,
        )
        assert body["errors"][0]["message"] == "Internal server error."
        assert (
            await conn.fetchval("select count(*) from api_keys where revoked_at is not null") == 0
        )
        assert await conn.fetchval("select status from subscriptions") == "ACTIVE"
        assert (
            await conn.fetchval("select count(*) from api_key_events where type = 'REVOKED'") == 0
        )
        assert (
            await conn.fetchval(
                "select count(*) from outbox"
                " where type in ('key.revoked', 'subscription.cancelled')"
            )
            == 0
        )
    finally:
        await conn.close()
    status, body = await verify(api, w.gateway, w.key)
    assert (status, body["code"]) == (200, "VALID")
