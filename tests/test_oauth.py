"""POST /oauth/token (RFC 6749 client credentials) and the JWTs standing in for a key."""

from __future__ import annotations

import base64
import uuid

import jwt
import pytest
from fastapi import FastAPI

from aforo.errors import Conflict, NotFound
from aforo.services import api_keys
from aforo.services.key_state import GATEWAY_AUDIENCE
from tests.gateway import KeyWorld, create_key, make_key_world, revoke_key, verify
from tests.support import Api

FORM = {"content-type": "application/x-www-form-urlencoded"}


def _basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {**FORM, "Authorization": f"Basic {raw}"}


async def _client(api: Api, w: KeyWorld) -> dict[str, str]:
    cc = await create_key(api, w.dev, w.subscription_id, fmt="CLIENT_CREDENTIALS")
    return {"id": cc["clientId"], "secret": cc["secret"], "key_id": cc["apiKey"]["id"]}


async def test_client_secret_basic_and_post_get_a_gateway_token(api: Api) -> None:
    w = await make_key_world(api)
    c = await _client(api, w)
    r = await api.client.post(
        "/oauth/token",
        content="grant_type=client_credentials",
        headers=_basic(c["id"], c["secret"]),
    )
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["token_type"] == "Bearer" and 0 < body["expires_in"] <= 600
    r2 = await api.client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": c["id"],
            "client_secret": c["secret"],
        },
    )
    assert r2.status_code == 200, r2.text
    # Signed with a key published at the JWKS endpoint, for gateways, bound to the subscription.
    jwks = (await api.client.get("/.well-known/jwks.json")).json()
    kid = jwt.get_unverified_header(body["access_token"])["kid"]
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == kid))
    claims = jwt.decode(body["access_token"], key, algorithms=["ES256"], audience=GATEWAY_AUDIENCE)
    assert claims["sub"] == c["key_id"] and claims["sid"] == w.subscription_id
    assert claims["tid"] == w.tenant.id and claims["client_id"] == c["id"]
    status, v = await verify(api, w.gateway, body["access_token"])
    assert (status, v["code"], v["key_id"], v["subscription_id"]) == (
        200,
        "VALID",
        c["key_id"],
        w.subscription_id,
    )


async def test_rfc_shaped_errors(api: Api) -> None:
    w = await make_key_world(api)
    c = await _client(api, w)
    bad = c["secret"][:-1] + ("A" if c["secret"][-1] != "A" else "B")
    cases = [
        (_basic(c["id"], bad), "grant_type=client_credentials", 401, "invalid_client"),
        (_basic("ci_other", c["secret"]), "grant_type=client_credentials", 401, "invalid_client"),
        (_basic(c["id"], w.key), "grant_type=client_credentials", 401, "invalid_client"),
        (
            {**FORM, "Authorization": "Basic !!!"},
            "grant_type=client_credentials",
            401,
            "invalid_client",
        ),
        (_basic(c["id"], c["secret"]), "grant_type=password", 400, "unsupported_grant_type"),
        (_basic(c["id"], c["secret"]), "", 400, "invalid_request"),
        (
            _basic(c["id"], c["secret"]),
            f"grant_type=client_credentials&client_secret={c['secret']}",
            400,
            "invalid_request",
        ),
        (FORM, "grant_type=client_credentials", 401, "invalid_client"),
        (
            FORM,
            f"grant_type=client_credentials&client_id={c['id']}&client_secret={bad}",
            401,
            "invalid_client",
        ),
        (
            {"content-type": "application/json"},
            '{"grant_type": "client_credentials"}',
            400,
            "invalid_request",
        ),
        (
            FORM,
            "grant_type=client_credentials&grant_type=client_credentials",
            400,
            "invalid_request",
        ),
    ]
    for headers, body, status, error in cases:
        r = await api.client.post("/oauth/token", content=body, headers=headers)
        assert (r.status_code, r.json()["error"]) == (status, error), (body, r.text)
        basic = headers.get("Authorization", "").startswith("Basic")
        if status == 401 and basic:
            assert r.headers["www-authenticate"].startswith("Basic")
        if status == 401 and not basic:
            assert "www-authenticate" not in r.headers
    # A bearer key cannot be exchanged: it has no client id.
    r = await api.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "", "client_secret": w.key},
    )
    assert r.status_code == 401


async def test_a_revoked_client_loses_its_tokens_at_once(api: Api) -> None:
    w = await make_key_world(api)
    c = await _client(api, w)
    r = await api.client.post(
        "/oauth/token",
        content="grant_type=client_credentials",
        headers=_basic(c["id"], c["secret"]),
    )
    token = r.json()["access_token"]
    assert (await verify(api, w.gateway, token))[1]["code"] == "VALID"
    await revoke_key(api, w.dev, c["key_id"])
    assert (await verify(api, w.gateway, token))[1]["code"] == "REVOKED"  # before its exp
    r = await api.client.post(
        "/oauth/token",
        content="grant_type=client_credentials",
        headers=_basic(c["id"], c["secret"]),
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


async def test_tokens_stay_in_their_tenant_and_expire(api: Api) -> None:
    a = await make_key_world(api, name="Alpha")
    b = await make_key_world(api, name="Beta")
    c = await _client(api, a)
    r = await api.client.post(
        "/oauth/token",
        content="grant_type=client_credentials",
        headers=_basic(c["id"], c["secret"]),
    )
    token = r.json()["access_token"]
    assert (await verify(api, b.gateway, token))[1]["code"] == "NOT_FOUND"
    app: FastAPI = api.client._transport.app  # type: ignore[attr-defined]
    ring = app.state.runtime.auth.ring
    claims = jwt.decode(token, options={"verify_signature": False})
    old, _ = ring.sign({k: claims[k] for k in ("sub", "tid", "sid", "aud", "iss")}, ttl_s=-5)
    assert (await verify(api, a.gateway, old))[1]["code"] == "TOKEN_EXPIRED"
    forged = jwt.encode({**claims, "exp": claims["exp"] + 60}, "k" * 32, algorithm="HS256")
    assert (await verify(api, a.gateway, forged))[1]["code"] == "INVALID_TOKEN"


async def test_try_it_tokens_stand_in_for_the_callers_key(api: Api) -> None:
    w = await make_key_world(api)
    app: FastAPI = api.client._transport.app  # type: ignore[attr-defined]
    rt = app.state.runtime
    tenant, dev = uuid.UUID(w.tenant.id), uuid.UUID(w.dev_id)
    async with rt.transaction(tenant) as s:
        minted = await api_keys.mint_key_token(
            s, rt.auth.ring, rt.auth.issuer, key_id=uuid.UUID(w.key_id), user_id=dev
        )
    assert minted.expires_in == 60
    status, v = await verify(api, w.gateway, minted.token)
    assert (status, v["key_id"], v["subscription_id"]) == (200, w.key_id, w.subscription_id)
    other = (await api.sign_up(w.tenant, "o@example.com"))["user"]["id"]
    with pytest.raises(NotFound):
        async with rt.transaction(tenant) as s:
            await api_keys.mint_key_token(
                s,
                rt.auth.ring,
                rt.auth.issuer,
                key_id=uuid.UUID(w.key_id),
                user_id=uuid.UUID(other),
            )
    await revoke_key(api, w.dev, w.key_id)
    assert (await verify(api, w.gateway, minted.token))[1]["code"] == "REVOKED"
    with pytest.raises(Conflict):
        async with rt.transaction(tenant) as s:
            await api_keys.mint_key_token(
                s, rt.auth.ring, rt.auth.issuer, key_id=uuid.UUID(w.key_id), user_id=dev
            )


async def test_verifying_a_client_secret_says_to_exchange_it_at_the_token_endpoint(
    api: Api,
) -> None:
    w = await make_key_world(api)
    c = await _client(api, w)
    status, body = await verify(api, w.gateway, c["secret"])
    assert status == 403 and body["valid"] is False
    assert body["code"] == "CLIENT_SECRET_NOT_A_KEY"
    assert "/oauth/token" in body["hint"]
    # A mistyped bearer key is still just malformed.
    status, body = await verify(api, w.gateway, "sk_live_typo")
    assert (status, body["code"]) == (403, "MALFORMED") and "hint" not in body
