"""POST /v1/keys/verify: verdicts, tenant isolation, caching (L1, Redis, negatives),
invalidation across instances, Redis outages, batched last-used bookkeeping."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from aforo.config import Settings
from aforo.runtime.postgres import EmbeddedPostgres
from aforo.services.api_keys import new_key_secret
from aforo.services.key_state import Binding, KeyState, PlanInfo, evaluate
from aforo.services.key_verify import hash_cache_key
from aforo.tenancy.hashing import sha256
from tests.conftest import with_settings
from tests.gateway import (
    app_of,
    create_gateway_token,
    create_key,
    key_reads,
    make_key_world,
    queries,
    revoke_key,
    rotate_key,
    serving,
    statements,
    verify,
)
from tests.services import RedisServer
from tests.support import Api


async def test_a_valid_key_gets_its_subscription_plan_and_tenant(api: Api) -> None:
    w = await make_key_world(api)
    status, body = await verify(api, w.gateway, w.key)
    assert status == 200
    assert body == {
        "valid": True,
        "code": "VALID",
        "key_id": w.key_id,
        "subscription_id": w.subscription_id,
        "plan": {
            "id": w.plan_id,
            "slug": "starter",
            "name": "Starter",
            "monthly_quota": 10000,
            "rate_limit_per_minute": 60,
            "hard_quota": False,
        },
        "tenant": w.tenant.id,
        "expires_at": None,
    }
    # Header forms, for gateways that cannot send a body (nginx auth_request).
    r = await api.client.post(
        "/v1/keys/verify", headers={"X-Gateway-Token": w.gateway, "X-Api-Key": w.key}
    )
    assert r.status_code == 200 and r.headers["x-aforo-key-id"] == w.key_id
    r = await api.client.post(
        "/v1/keys/verify",
        headers={"X-Gateway-Token": w.gateway, "Authorization": f"Bearer {w.key}"},
    )
    assert r.status_code == 200 and r.headers["x-aforo-plan"] == "starter"


async def test_refusals_carry_a_code(api: Api) -> None:
    w = await make_key_world(api)
    unknown = new_key_secret()  # well formed, never issued
    assert (await verify(api, w.gateway, unknown)) == (403, _refusal("NOT_FOUND"))
    assert (await verify(api, w.gateway, "hello"))[1]["code"] == "MALFORMED"
    assert (await verify(api, w.gateway, ""))[1]["code"] == "MALFORMED"
    assert (await verify(api, w.gateway, "a.b.c"))[1]["code"] == "INVALID_TOKEN"
    soon = datetime.now(UTC) + timedelta(seconds=1)
    short = await create_key(api, w.dev, w.subscription_id, expiresAt=soon.isoformat())
    assert (await verify(api, w.gateway, short["secret"]))[1]["code"] == "VALID"
    deadline = time.monotonic() + 10
    while (await verify(api, w.gateway, short["secret"]))[1]["code"] == "VALID":
        assert time.monotonic() < deadline, "the key never expired"
        await asyncio.sleep(0.1)
    status, body = await verify(api, w.gateway, short["secret"])
    assert (status, body["code"]) == (403, "EXPIRED")  # on the clock, whatever is cached


def _refusal(code: str) -> dict[str, object]:
    return {
        "valid": False,
        "code": code,
        "key_id": None,
        "subscription_id": None,
        "plan": None,
        "tenant": None,
        "expires_at": None,
    }


def test_a_key_without_an_active_subscription_is_refused() -> None:
    tenant = uuid.uuid4()
    plan = PlanInfo(uuid.uuid4(), "p", "P", None, None, False)
    sub = uuid.uuid4()
    state = KeyState(
        tenant, uuid.uuid4(), "BEARER_TOKEN", None, None, False, (Binding(sub, False, plan),)
    )
    assert evaluate(state, tenant).code == "SUBSCRIPTION_INACTIVE"
    unbound = KeyState(tenant, uuid.uuid4(), "BEARER_TOKEN", None, None, False, ())
    assert evaluate(unbound, tenant).code == "SUBSCRIPTION_INACTIVE"
    active = KeyState(
        tenant, state.key_id, "BEARER_TOKEN", None, None, False, (Binding(sub, True, plan),)
    )
    assert evaluate(active, tenant, subscription_id=uuid.uuid4()).code == "SUBSCRIPTION_INACTIVE"
    assert evaluate(active, tenant, subscription_id=sub).valid
    assert KeyState.loads(active.dumps()) == active


async def test_a_key_of_another_tenant_is_not_found(api: Api) -> None:
    a = await make_key_world(api, name="Alpha")
    b = await make_key_world(api, name="Beta")
    assert (await verify(api, b.gateway, a.key)) == (403, _refusal("NOT_FOUND"))
    assert (await verify(api, a.gateway, a.key))[1]["code"] == "VALID"  # cached now
    assert (await verify(api, b.gateway, a.key)) == (403, _refusal("NOT_FOUND"))


async def test_the_gateway_token_is_required_and_revocable_at_once(api: Api) -> None:
    w = await make_key_world(api)
    r = await api.client.post("/v1/keys/verify", json={"key": w.key})
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHENTICATED"
    r = await api.client.post(
        "/v1/keys/verify", json={"key": w.key}, headers={"Authorization": "Bearer gwt_nope"}
    )
    assert r.status_code == 401 and r.json()["error"]["code"] == "INVALID_GATEWAY_TOKEN"
    second = await create_gateway_token(api, w.admin)
    assert (await verify(api, second, w.key))[0] == 200  # cached in the L1 now
    tokens = await api.data("{ gatewayTokens { id prefix } }", token=w.admin)
    token_id = next(t["id"] for t in tokens["gatewayTokens"] if second.startswith(t["prefix"]))
    await api.data(
        "mutation($id: ID!) { revokeGatewayToken(id: $id) { __typename } }",
        {"id": token_id},
        token=w.admin,
    )
    r = await api.client.post(
        "/v1/keys/verify", json={"key": w.key}, headers={"Authorization": f"Bearer {second}"}
    )
    assert r.status_code == 401


async def test_bad_requests_are_4xx(api: Api) -> None:
    w = await make_key_world(api)
    h = {"Authorization": f"Bearer {w.gateway}", "content-type": "application/json"}
    for body, status in [
        (b"{", 400),
        (b'{"key": 5}', 400),
        (b"[1]", 400),
        (b'{"key": "' + b"x" * 9000 + b'"}', 413),
    ]:
        r = await api.client.post("/v1/keys/verify", content=body, headers=h)
        assert r.status_code == status, body[:20]
        assert r.json()["error"]["code"] in ("INVALID", "TOO_LARGE")


async def test_each_verification_is_counted_once_in_the_request_metrics(api: Api) -> None:
    """The hot path skips the metrics middleware and counts itself: every answer, with its
    status, exactly once (not twice when a request reaches the ordinary router too)."""
    w = await make_key_world(api)

    def counted(text: str, status: int) -> float:
        line = (
            f'aforo_http_requests_total{{method="POST",route="/v1/keys/verify",status="{status}"}}'
        )
        found = [row for row in text.splitlines() if row.startswith(line + " ")]
        return float(found[0].split()[-1]) if found else 0.0

    before = (await api.client.get("/metrics")).text
    for _ in range(3):
        assert (await verify(api, w.gateway, w.key))[0] == 200
    assert (await verify(api, w.gateway, new_key_secret()))[0] == 403
    assert (await verify(api, "not-a-gateway-token", w.key))[0] == 401
    bad = await api.client.post(
        "/v1/keys/verify", content=b"{", headers={"Authorization": f"Bearer {w.gateway}"}
    )
    assert bad.status_code == 400
    after = (await api.client.get("/metrics")).text
    for status, n in [(200, 3), (403, 1), (401, 1), (400, 1)]:
        assert counted(after, status) - counted(before, status) == n, status
    histogram = 'aforo_http_request_duration_seconds_count{method="POST",route="/v1/keys/verify"}'
    assert histogram in after


async def test_typos_and_repeats_are_answered_without_the_database(api: Api) -> None:
    w = await make_key_world(api)
    typo = w.key[:-1] + ("A" if w.key[-1] != "A" else "B")
    unknown = new_key_secret()
    with statements(app_of(api)) as seen:
        assert (await verify(api, w.gateway, typo))[1]["code"] == "MALFORMED"
    assert key_reads(seen) == []
    with statements(app_of(api)) as seen:
        for key, code in [(w.key, "VALID"), (unknown, "NOT_FOUND")]:
            for _ in range(5):
                assert (await verify(api, w.gateway, key))[1]["code"] == code
    assert len(key_reads(seen)) == 2  # one load each; negatives are cached too


async def test_lookups_survive_database_restarts_and_say_503_while_it_is_down(
    api: Api, pg: EmbeddedPostgres
) -> None:
    w = await make_key_world(api)

    async def miss() -> tuple[int, dict[str, Any]]:
        return await verify(api, w.gateway, new_key_secret())  # never seen: a database read

    assert (await miss())[1]["code"] == "NOT_FOUND"  # the lookup pool holds a connection now
    pg.stop()
    pg.start()
    # That connection died with the old server: found on use, replaced, the call run again.
    with statements(app_of(api)) as seen:
        assert (await miss())[1]["code"] == "NOT_FOUND"
    assert len(key_reads(seen)) == 1
    pg.stop()
    try:
        status, body = await miss()
        assert status == 503 and body["error"]["code"] == "UNAVAILABLE"
    finally:
        pg.start()
    assert (await miss())[1]["code"] == "NOT_FOUND"
    assert (await verify(api, w.gateway, w.key))[1]["code"] == "VALID"


async def test_last_used_is_batched(api: Api) -> None:
    w = await make_key_world(api)
    for _ in range(20):
        assert (await verify(api, w.gateway, w.key))[0] == 200
    listed = await api.data("{ apiKeys { lastUsedAt } }", token=w.dev)
    assert listed["apiKeys"][0]["lastUsedAt"] is None  # not written per verification
    with statements(app_of(api)) as seen:
        await app_of(api).state.key_verifier.flush()
    updates = [s for s in queries(seen) if "update api_keys" in s.lower()]
    assert len(updates) == 1
    listed = await api.data("{ apiKeys { lastUsedAt } }", token=w.dev)
    assert listed["apiKeys"][0]["lastUsedAt"] is not None
    tokens = await api.data("{ gatewayTokens { lastUsedAt } }", token=w.admin)
    assert tokens["gatewayTokens"][0]["lastUsedAt"] is not None


async def test_revocation_reaches_every_instance_through_redis(
    settings: Settings, redis_server: RedisServer
) -> None:
    shared = with_settings(settings, redis_url=redis_server.url)
    async with serving(shared) as a, serving(shared) as b:
        w = await make_key_world(a)
        for _ in range(2):  # loaded into B's L1 and the shared cache
            assert (await verify(b, w.gateway, w.key))[1]["code"] == "VALID"
        with statements(app_of(b)) as seen:
            assert (await verify(b, w.gateway, w.key))[1]["code"] == "VALID"
        assert key_reads(seen) == []  # an L1 hit
        await revoke_key(a, w.dev, w.key_id)  # on instance A
        assert (await verify(b, w.gateway, w.key))[1]["code"] == "REVOKED"  # the very next call
        k2 = await create_key(a, w.dev, w.subscription_id)
        assert (await verify(b, w.gateway, k2["secret"]))[1]["code"] == "VALID"
        r = await rotate_key(a, w.dev, k2["apiKey"]["id"], grace=0)
        assert (await verify(b, w.gateway, k2["secret"]))[1]["code"] == "EXPIRED"
        assert (await verify(b, w.gateway, r["secret"]))[1]["code"] == "VALID"


async def test_a_rotated_keys_cache_entry_ends_with_its_grace(
    settings: Settings, redis_server: RedisServer
) -> None:
    async with serving(with_settings(settings, redis_url=redis_server.url)) as a:
        w = await make_key_world(a)
        assert (await verify(a, w.gateway, w.key))[1]["code"] == "VALID"
        client = aioredis.Redis.from_url(redis_server.url)
        try:
            name = hash_cache_key(sha256(w.key))
            assert 25_000 < await client.pttl(name) <= 30_000
            await rotate_key(a, w.dev, w.key_id, grace=5)
            assert await client.exists(name) == 0  # dropped on rotation
            assert (await verify(a, w.gateway, w.key))[1]["code"] == "VALID"  # in grace
            assert 0 < await client.pttl(name) <= 5_000
        finally:
            await client.aclose()


async def test_verification_keeps_answering_when_redis_is_down(
    settings: Settings, workdir: Path
) -> None:
    server = RedisServer(workdir / f"redis-down-{uuid.uuid4().hex[:6]}")
    server.start()
    try:
        async with serving(with_settings(settings, redis_url=server.url)) as a:
            w = await make_key_world(a)
            k2 = await create_key(a, w.dev, w.subscription_id)
            assert (await verify(a, w.gateway, w.key))[1]["code"] == "VALID"
            v = app_of(a).state.key_verifier
            assert v.l1_on
            server.stop()
            # The L1 lapses once invalidations can no longer arrive...
            deadline = time.monotonic() + 10
            while v.l1_on:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
            # ...and every answer comes from the database, correct and at once.
            with statements(app_of(a)) as seen:
                assert (await verify(a, w.gateway, w.key))[1]["code"] == "VALID"
                assert (await verify(a, w.gateway, k2["secret"]))[1]["code"] == "VALID"
            assert len(key_reads(seen)) == 2
            await revoke_key(a, w.dev, w.key_id)
            assert (await verify(a, w.gateway, w.key))[1]["code"] == "REVOKED"
            assert (await verify(a, w.gateway, k2["secret"]))[1]["code"] == "VALID"
    finally:
        server.stop()


async def test_an_unreachable_database_is_a_503_not_a_crash(settings: Settings) -> None:
    broken = with_settings(settings, database_url="postgresql+asyncpg://aforo_app:x@127.0.0.1:1/x")
    async with serving(broken) as a:
        r = await a.client.post(
            "/v1/keys/verify",
            json={"key": new_key_secret()},
            headers={"Authorization": "Bearer gwt_whatever"},
        )
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "UNAVAILABLE" and r.headers["retry-after"] == "1"
