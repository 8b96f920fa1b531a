"""Raw secrets exist in exactly one response each: never in the database, logs or events."""

from __future__ import annotations

import logging
import os
import stat
import subprocess

import asyncpg
import pytest

from aforo.config import Settings
from aforo.runtime.postgres import OWNER_ROLE, EmbeddedPostgres, find_bindir
from aforo.tenancy.hashing import sha256
from tests.gateway import create_key, make_key_world, rotate_key, verify
from tests.mailbox import token_of
from tests.support import Api, make_tenant
from tests.test_totp import LOG_IN, SECOND, enroll


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


async def test_account_tokens_seeds_codes_and_passwords_are_not_at_rest_in_logs_or_events(
    api: Api,
    pg: EmbeddedPostgres,
    database: str,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")
    t = await make_tenant(settings)
    pw, new_pw = "correct horse battery", "an entirely new secret"
    secrets: list[str] = [pw, new_pw]
    # A verification link (signing in), two-factor sign-in with its seed and recovery codes.
    dev = await api.sign_up(t, "dev@example.com", password=pw)
    secrets += [dev["refreshToken"], dev["accessToken"]]
    otp, codes = await enroll(api, dev["accessToken"])
    secrets += [otp.secret, *codes, *(c.replace("-", "") for c in codes)]
    step = await api.data(LOG_IN, {"e": "dev@example.com", "p": pw}, storefront=t.storefront_key)
    challenge = step["logIn"]["challenge"]
    secrets.append(challenge)
    await api.data(SECOND, {"c": challenge, "code": codes[0]}, storefront=t.storefront_key)
    # A password reset, a change of address, a team invitation: each mails a link.
    await api.data(
        'mutation { requestPasswordReset(email: "dev@example.com") { __typename } }',
        storefront=t.storefront_key,
    )
    reset = token_of(await api.mailbox.wait("dev@example.com", "Reset your"))
    d = await api.data(
        "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) "
        "{ __typename } }",
        {"t": reset, "p": new_pw},
        storefront=t.storefront_key,
    )
    assert d["resetPassword"]["__typename"] == "User"
    step = await api.data(
        LOG_IN, {"e": "dev@example.com", "p": new_pw}, storefront=t.storefront_key
    )
    signed = await api.data(
        SECOND, {"c": step["logIn"]["challenge"], "code": codes[1]}, storefront=t.storefront_key
    )
    token = signed["logInSecondFactor"]["accessToken"]
    await api.data(
        'mutation($p: String!) { requestEmailChange(newEmail: "new@example.com", password: $p) '
        "{ __typename } }",
        {"p": new_pw},
        token=token,
    )
    change = token_of(await api.mailbox.wait("new@example.com", "Confirm your new"))
    team = await api.data('mutation { createTeam(name: "T") { ... on Team { id } } }', token=token)
    await api.data(
        'mutation($t: ID!) { inviteTeamMember(teamId: $t, email: "mate@example.com") '
        "{ __typename } }",
        {"t": team["createTeam"]["id"]},
        token=token,
    )
    invite = token_of(await api.mailbox.wait("mate@example.com", "invited you"))
    verify = [m for m in api.mailbox.all() if "Confirm your email" in str(m["Subject"])]
    secrets += [reset, change, invite, *(token_of(m) for m in verify)]

    dump = pg_dump(pg, database)
    dsn = (settings.owner_url or "").replace("postgresql+asyncpg", "postgresql")
    conn = await asyncpg.connect(dsn)
    try:
        outbox = str(await conn.fetch("select topic, type, payload from outbox"))
        jobs = str(await conn.fetch("select params from mail_jobs"))
    finally:
        await conn.close()
    logs = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    # The places searched hold the traces: token hashes, the sealed seed, the mail jobs.
    assert "account_tokens" in dump and "totp_credentials" in dump and "INSERT INTO" in logs
    assert "mail.queued" in outbox and "user.password_reset" in outbox
    for secret in secrets:
        for where, text in (("pg_dump", dump), ("logs", logs), ("outbox", outbox + jobs)):
            assert secret not in text, f"a secret ({secret[:6]}…) is in the {where}"
    # The key that seals seeds lives outside the database, readable by its owner only.
    [key_file] = list(settings.data_keys_dir.glob("*.key"))
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
