"""Several worker processes on one database, without Redis: what one does, the others see.

Two real server processes (as ``aforo serve --workers 2`` runs them, each its own uvicorn
worker; addressed separately here so the test knows which one it talks to) share PostgreSQL
only: a key revoked through one is refused on the very next request to the other, and a
subscription on one hears the events a mutation on the other causes.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import websockets
from sqlalchemy.ext.asyncio import create_async_engine

from aforo.cli import worker_environment
from aforo.config import Settings
from aforo.db import asyncpg_dsn
from aforo.runtime.postgres import free_port
from aforo.tenancy.hashing import sha256
from tests.gateway import create_key, make_key_world, revoke_key, verify
from tests.support import Api
from tests.test_forum_support import CREATE_THREAD, REPLY, SAVE_CATEGORY

ACTIVITY = """subscription($t: ID!) { threadActivity(threadId: $t) { type threadId replyId } }"""


@asynccontextmanager
async def workers(settings: Settings, n: int = 2) -> AsyncIterator[list[Api]]:
    """``n`` server processes on the test's database, each told it is one of ``n`` workers
    (so they pick the PostgreSQL bus and shared cache, as ``aforo serve --workers`` does)."""
    env = {
        **os.environ,
        **worker_environment(settings, n),
        "AFORO_JWT_KEYS_DIR": str(settings.keys_dir),
        "AFORO_MAIL_DIR": str(settings.mail_dir),  # the test reads the mail the workers send
        "AFORO_MAIL_RETRY_BASE": str(settings.mail_retry_base_s),
        "AFORO_RATE_LIMITS": ",".join(f"{k}={v}" for k, v in settings.rate_limits),
        "AFORO_OUTBOUND_ALLOW": ",".join(settings.outbound_allow),
        "AFORO_LOG_LEVEL": "warning",
        "AFORO_SPEC_SYNC_INTERVAL": "0",
    }
    env.pop("AFORO_REDIS_URL", None)
    ports = [free_port() for _ in range(n)]
    args = ["-m", "uvicorn", "--factory", "aforo.app:create_app", "--host", "127.0.0.1"]
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, *args, "--port", str(port), "--log-level", "warning", env=env
        )
        for port in ports
    ]
    clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{p}", timeout=30) for p in ports]
    try:
        for client, proc in zip(clients, procs, strict=True):
            for _ in range(600):
                assert proc.returncode is None, "a worker exited at start-up"
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        yield [Api(c, settings) for c in clients]
    finally:
        for c in clients:
            await c.aclose()
        for p in procs:
            p.terminate()
        for p in procs:
            await asyncio.wait_for(p.wait(), 20)


async def test_a_revocation_or_an_event_on_one_worker_reaches_the_other_at_once(
    settings: Settings,
) -> None:
    async with workers(settings) as (a, b):
        w = await make_key_world(a)
        other = await create_key(a, w.dev, w.subscription_id)
        for key in (w.key, other["secret"]):
            for _ in range(2):  # the second answer comes from B's own cache
                assert (await verify(b, w.gateway, key))[1]["code"] == "VALID"
        # B really answers from its cache: a revocation written behind the service's back
        # (no invalidation sent) is not seen by B ...
        owner = await asyncpg.connect(asyncpg_dsn(create_async_engine(settings.owner_url or "")))
        try:
            await owner.execute(
                "update api_keys set revoked_at = now() where key_hash = $1",
                sha256(other["secret"]),
            )
        finally:
            await owner.close()
        assert (await verify(b, w.gateway, other["secret"]))[1]["code"] == "VALID"
        # ... while one through worker A is refused by B at once, as is a revoked gateway token.
        await revoke_key(a, w.dev, w.key_id)
        assert (await verify(b, w.gateway, w.key))[1]["code"] == "REVOKED"
        tokens = await a.data("{ gatewayTokens { id } }", token=w.admin)
        await a.data(
            "mutation($id: ID!) { revokeGatewayToken(id: $id) { __typename } }",
            {"id": tokens["gatewayTokens"][0]["id"]},
            token=w.admin,
        )
        status, body = await verify(b, w.gateway, w.key)
        assert (status, body["error"]["code"]) == (401, "INVALID_GATEWAY_TOKEN")

        # A subscription on B hears the reply posted through A.
        await _reply_heard_across(a, b, w.admin)


async def _reply_heard_across(a: Api, b: Api, admin: str) -> None:
    cat = await a.data(SAVE_CATEGORY, {"i": {"name": "Help"}}, token=admin)
    i = {"categoryId": cat["saveCategory"]["id"], "title": "Across workers", "body": "?"}
    tid = (await a.data(CREATE_THREAD, {"i": i}, token=admin))["createThread"]["id"]
    ws_url = str(b.client.base_url).replace("http", "ws") + "/graphql"
    async with websockets.connect(
        ws_url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]
    ) as ws:
        params = {"Authorization": f"Bearer {admin}"}
        await ws.send(json.dumps({"type": "connection_init", "payload": params}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
        sub = {"query": ACTIVITY, "variables": {"t": tid}}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": sub}))
        await asyncio.sleep(0.3)  # B's subscription is registered with its bus
        posted = await a.data(REPLY, {"t": tid, "p": None, "b": "From A."}, token=admin)
        msg: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert msg["type"] == "next", msg
    event = msg["payload"]["data"]["threadActivity"]
    assert (event["type"], event["threadId"]) == ("reply.created", tid)
    assert event["replyId"] == posted["reply"]["id"]
