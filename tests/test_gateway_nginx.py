"""A real gateway: nginx ``auth_request`` to our verify endpoint (uvicorn-served), in front
of a local upstream."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import httpx

from aforo.app import create_app
from aforo.config import Settings
from tests.conftest import with_settings
from tests.gateway import create_key, gateway, make_key_world, revoke_key, rotate_key, serving
from tests.services import RedisServer


async def test_nginx_lets_valid_keys_through_and_refuses_revoked_and_rotated_ones(
    settings: Settings, redis_server: RedisServer
) -> None:
    shared = with_settings(settings, redis_url=redis_server.url)
    # The instance nginx asks is not the one the mutations go to: invalidation must travel.
    served = create_app(shared)
    async with serving(shared) as api, httpx.AsyncClient(timeout=10) as http:
        w = await make_key_world(api)
        with gateway(served, w.gateway) as nginx:

            async def call(key: str | None) -> httpx.Response:
                headers = {"Authorization": f"Bearer {key}"} if key else {}
                return await http.get(f"{nginx.url}/forecast/today", headers=headers)

            r = await call(w.key)
            assert r.status_code == 200, r.text
            seen = r.json()
            assert seen["path"] == "/forecast/today"
            assert seen["headers"]["x-aforo-key-id"] == w.key_id
            assert seen["headers"]["x-aforo-plan"] == "starter"
            assert "authorization" not in seen["headers"]  # the key stops at the gateway
            assert (await call(None)).status_code == 403
            assert (await call("sk_live_typo")).status_code == 403

            await revoke_key(api, w.dev, w.key_id)  # through the other instance
            assert (await call(w.key)).status_code == 403  # the very next request

            dev2 = await make_key_world(api, name="Beta", email="b@example.com")
            assert (await call(dev2.key)).status_code == 403  # another tenant's key

            k = await create_key(api, w.dev, w.subscription_id)
            assert (await call(k["secret"])).status_code == 200
            rotated = await rotate_key(api, w.dev, k["apiKey"]["id"], grace=2)
            grace_end = datetime.fromisoformat(rotated["previousKeyExpiresAt"])
            assert (await call(rotated["secret"])).status_code == 200
            assert (await call(k["secret"])).status_code == 200  # within its grace
            deadline = time.monotonic() + 15
            while (await call(k["secret"])).status_code == 200:
                assert time.monotonic() < deadline, "the old key outlived its grace"
                await asyncio.sleep(0.1)
            assert datetime.now(UTC) >= grace_end  # refused only once the grace is over
            assert (await call(k["secret"])).status_code == 403
            assert (await call(rotated["secret"])).status_code == 200
