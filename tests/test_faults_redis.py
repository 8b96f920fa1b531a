"""Redis killed under key verification and GraphQL traffic, on two instances sharing it.

While it is down every answer comes from the database (correct, no 5xx); a key revoked
meanwhile is refused at once; when Redis comes back - with its data, as a persistent Redis does -
caching resumes and the revoked key's old "valid" entry is never served again."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path

import redis.asyncio as aioredis

from aforo.config import Settings
from aforo.services.key_verify import hash_cache_key
from aforo.tenancy.hashing import sha256
from tests.conftest import with_settings
from tests.faults import DurableRedis
from tests.gateway import (
    app_of,
    create_key,
    key_reads,
    make_key_world,
    revoke_key,
    serving,
    statements,
    verify,
)
from tests.support import Api


async def _until(check: object, what: str, tries: int = 300) -> None:
    for _ in range(tries):
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never: {what}")


async def test_redis_killed_under_traffic_then_back_with_a_stale_entry(
    settings: Settings, workdir: Path
) -> None:
    redis = DurableRedis(workdir / f"redis-kill-{uuid.uuid4().hex[:6]}")
    redis.start()
    shared = with_settings(settings, redis_url=redis.url)
    try:
        async with serving(shared) as a, serving(shared) as b:
            w = await make_key_world(a)
            other = await create_key(a, w.dev, w.subscription_id)
            va, vb = app_of(a).state.key_verifier, app_of(b).state.key_verifier
            for _ in range(2):  # in B's L1 and in the shared cache
                assert (await verify(b, w.gateway, w.key))[1]["code"] == "VALID"
            seen: Counter[str] = Counter()
            stop = asyncio.Event()

            async def traffic(api: Api) -> None:
                # Keys that never change: always VALID, whatever Redis is doing.
                while not stop.is_set():
                    status, body = await verify(api, w.gateway, other["secret"])
                    seen[f"verify {status} {body.get('code')}"] += 1
                    r = await api.raw("{ tenant { name } }", storefront=w.tenant.storefront_key)
                    seen[f"graphql {r.status_code} {bool(r.json().get('errors'))}"] += 1
                    r = await api.raw("{ apiKeys { id status } }", token=w.dev)
                    ok = r.status_code == 200 and len(r.json()["data"]["apiKeys"]) == 2
                    seen[f"apiKeys {r.status_code} {ok}"] += 1
                    await asyncio.sleep(0)

            loads = [asyncio.create_task(traffic(x)) for x in (a, b)]
            try:
                redis.kill()
                await _until(lambda: not va.l1_on and not vb.l1_on, "L1s lapse")
                before = sum(seen.values())
                await _until(lambda: sum(seen.values()) > before + 30, "traffic while down")
                # Revoked on A while Redis is down: its shared entry cannot be deleted.
                await revoke_key(a, w.dev, w.key_id)
                assert (await verify(b, w.gateway, w.key))[1]["code"] == "REVOKED"
                redis.start()  # same port, same data directory: the stale entry is back
                await _until(lambda: va.l1_on and vb.l1_on, "L1s resume")
                before = sum(seen.values())
                await _until(lambda: sum(seen.values()) > before + 30, "traffic after")
            finally:
                stop.set()
                await asyncio.gather(*loads)
            print(f"\n{dict(seen)}")
            assert set(seen) == {"verify 200 VALID", "graphql 200 False", "apiKeys 200 True"}

            for api in (b, a, b):  # the revocation holds on every instance, L1 and shared
                assert (await verify(api, w.gateway, w.key))[1]["code"] == "REVOKED"
            # Caching resumed: a fresh key is read once, then answered from memory and Redis.
            fresh = await create_key(a, w.dev, w.subscription_id)
            with statements(app_of(b)) as first:
                assert (await verify(b, w.gateway, fresh["secret"]))[1]["code"] == "VALID"
            with statements(app_of(b)) as again:
                assert (await verify(b, w.gateway, fresh["secret"]))[1]["code"] == "VALID"
            with statements(app_of(a)) as on_a:
                assert (await verify(a, w.gateway, fresh["secret"]))[1]["code"] == "VALID"
            assert len(key_reads(first)) == 1
            assert key_reads(again) == [] and key_reads(on_a) == []
            client = aioredis.Redis.from_url(redis.url)
            try:
                assert await client.exists(hash_cache_key(sha256(fresh["secret"]))) == 1
            finally:
                await client.aclose()
    finally:
        redis.stop()
