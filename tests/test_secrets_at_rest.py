"""Raw secrets exist in exactly one response each: never in the database, logs or events."""

from __future__ import annotations

import logging
import os
import subprocess

import asyncpg
import pytest

from aforo.config import Settings
from aforo.runtime.postgres import OWNER_ROLE, EmbeddedPostgres, find_bindir
from aforo.tenancy.hashing import sha256
from tests.gateway import create_key, make_key_world, rotate_key, verify
from tests.support import Api


def pg_dump(pg: EmbeddedPostgres, database: str) -> str:
    """A full dump (schema and data) as the owner, like an operator's backup."""
    kwargs: dict[str, object] = {}
    if os.geteuid() == 0:  # the cluster's files belong to the postgres OS user
        kwargs = {"user": "postgres", "group": "postgres", "extra_groups": []}
    out = subprocess.run(
        [
            str(find_bindir() / "pg_dump"),
            "-h",
            "127.0.0.1",
            "-p",
            str(pg.port),
            "-U",
            OWNER_ROLE,
            "--no-password",
            database,
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PGPASSWORD": pg.credentials()[OWNER_ROLE]},
        **kwargs,  # type: ignore[call-overload]
    )
    return str(out.stdout)


async def test_no_raw_secret_at_rest_in_logs_or_events(
    api: Api,
    pg: EmbeddedPostgres,
    database: str,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")  # statements and parameters
    w = await make_key_world(api)
    cc = await create_key(api, w.dev, w.subscription_id, fmt="CLIENT_CREDENTIALS")
    rotated = await rotate_key(api, w.dev, w.key_id, grace=60)
    rotated_cc = await rotate_key(api, w.dev, cc["apiKey"]["id"], grace=60)
    secrets = [w.key, cc["secret"], rotated["secret"], rotated_cc["secret"], w.gateway]
    for key in (w.key, rotated["secret"]):
        assert (await verify(api, w.gateway, key))[1]["code"] == "VALID"
    for secret in (cc["secret"], rotated_cc["secret"]):
        r = await api.client.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": cc["clientId"],
                "client_secret": secret,
            },
        )
        assert r.status_code == 200
        assert (await verify(api, w.gateway, r.json()["access_token"]))[1]["valid"]
    await api.client._transport.app.state.key_verifier.flush()  # type: ignore[attr-defined]

    dump = pg_dump(pg, database)
    dsn = (settings.owner_url or "").replace("postgresql+asyncpg", "postgresql")
    conn = await asyncpg.connect(dsn)
    try:
        outbox = str(await conn.fetch("select topic, type, payload from outbox"))
    finally:
        await conn.close()
    logs = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    # The places searched do hold the keys' traces: their hashes and display parts.
    assert sha256(w.key).hex() in dump and f"{cc['apiKey']['prefix']}" in dump
    assert "key.rotated" in outbox and "INSERT INTO api_keys" in logs
    for secret in secrets:
        body = secret.split("_", 2)[-1]
        for where, text in (("pg_dump", dump), ("logs", logs), ("outbox", outbox)):
            assert secret not in text, f"a raw secret is in the {where}"
            assert body not in text, f"a secret's random part is in the {where}"
