"""Sign-up, log-in, tokens, and the clear error each bad credential gets."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from aforo.tenancy.auth import CONSOLE_AUDIENCE
from aforo.tenancy.signing import KeyRing
from tests.mailbox import text_of
from tests.support import Api, make_tenant

SIGN_UP = """mutation($i: SignUpInput!) { signUp(input: $i) { __typename
  ... on SignUpAccepted { email verificationRequired }
  ... on UserError { code message field } } }"""
REFRESH = """mutation($t: String!) { refreshToken(token: $t) { __typename
  ... on AuthPayload { accessToken refreshToken }
  ... on UserError { code message field } } }"""


def _code(body: dict[str, Any]) -> str:
    code: str = body["errors"][0]["extensions"]["code"]
    return code


async def test_sign_up_log_in_me_over_http(api: Api) -> None:
    t = await make_tenant(api.settings)
    signed = await api.sign_up(t, "Ada@Example.com", name="Ada")
    assert signed["user"]["email"] == "ada@example.com"
    assert signed["user"]["roles"] == ["DEVELOPER"]

    logged = await api.log_in(t, "ada@example.com", "correct horse battery")
    assert logged["__typename"] == "AuthPayload"
    me = await api.data("{ me { id email name roles } }", token=logged["accessToken"])
    assert me["me"] == {**signed["user"], "name": "Ada"}

    claims = jwt.decode(logged["accessToken"], options={"verify_signature": False})
    assert claims["tid"] == t.id and claims["sub"] == signed["user"]["id"]
    assert claims["aud"] == CONSOLE_AUDIENCE and claims["roles"] == ["DEVELOPER"]
    assert {"iss", "exp", "iat", "jti"} <= claims.keys()
    assert 0 < claims["exp"] - claims["iat"] <= 900


@pytest.mark.parametrize(
    ("email", "password", "name", "field"),
    [
        ("not-an-email", "long enough pw", "A", "email"),
        ("a@b.co", "short", "A", "password"),
        ("a@b.co", "x" * 300, "A", "password"),
        ("a@b.co", "long enough pw", "  ", "name"),
    ],
)
async def test_sign_up_validation(
    api: Api, email: str, password: str, name: str, field: str
) -> None:
    t = await make_tenant(api.settings)
    d = await api.data(
        SIGN_UP,
        {"i": {"email": email, "password": password, "name": name}},
        storefront=t.storefront_key,
    )
    assert d["signUp"]["__typename"] == "UserError"
    assert d["signUp"]["code"] == "INVALID" and d["signUp"]["field"] == field


async def test_sign_up_answers_the_same_for_a_taken_address_and_mails_its_owner(
    api: Api,
) -> None:
    a = await make_tenant(api.settings, "Alpha")
    b = await make_tenant(api.settings, "Beta")
    first = await api.sign_up(a, "dev@x.io")
    fresh = await api.data(
        SIGN_UP,
        {"i": {"email": "new@x.io", "password": "long enough pw", "name": "N"}},
        storefront=a.storefront_key,
    )
    taken = await api.data(
        SIGN_UP,
        {"i": {"email": "DEV@x.io", "password": "long enough pw", "name": "D"}},
        storefront=a.storefront_key,
    )
    shape = {"__typename": "SignUpAccepted", "verificationRequired": True}
    assert fresh["signUp"] == {**shape, "email": "new@x.io"}
    assert taken["signUp"] == {**shape, "email": "dev@x.io"}
    # The owner of the taken address is told, and no second account exists.
    notice = await api.mailbox.wait("dev@x.io", "You already have")
    assert "log-in" in text_of(notice) and "token=" not in text_of(notice)
    admin = await api.admin_token(a)
    emails = [u["email"] for u in (await api.data("{ users { email } }", token=admin))["users"]]
    assert sorted(emails) == sorted([a.admin_email, "dev@x.io", "new@x.io"])
    # The first account's password still works; the second sign-up's does not.
    assert (await api.log_in(a, "dev@x.io", "correct horse battery"))["user"] == first["user"]
    assert (await api.log_in(a, "dev@x.io", "long enough pw"))["code"] == "INVALID_CREDENTIALS"
    other = await api.sign_up(b, "dev@x.io")  # a separate account in another tenant
    assert other["user"]["email"] == "dev@x.io" and other["user"]["id"] != first["user"]["id"]


async def test_wrong_password_and_unknown_email_look_the_same(api: Api) -> None:
    t = await make_tenant(api.settings)
    await api.sign_up(t, "dev@x.io")
    wrong = await api.log_in(t, "dev@x.io", "not the password")
    unknown = await api.log_in(t, "nobody@x.io", "not the password")
    assert (
        wrong
        == unknown
        == {
            "__typename": "UserError",
            "code": "INVALID_CREDENTIALS",
            "message": "email or password is incorrect",
            "field": None,
        }
    )


async def test_refresh_rotates_and_reuse_revokes_the_family(api: Api) -> None:
    t = await make_tenant(api.settings)
    s = await api.sign_up(t, "dev@x.io")
    first = (await api.data(REFRESH, {"t": s["refreshToken"]}, storefront=t.storefront_key))[
        "refreshToken"
    ]
    assert first["__typename"] == "AuthPayload" and first["refreshToken"] != s["refreshToken"]

    reused = (await api.data(REFRESH, {"t": s["refreshToken"]}, storefront=t.storefront_key))[
        "refreshToken"
    ]
    assert reused["code"] == "TOKEN_REUSED"
    # The whole family is gone: the newest token no longer works either.
    after = (await api.data(REFRESH, {"t": first["refreshToken"]}, storefront=t.storefront_key))[
        "refreshToken"
    ]
    assert after["code"] == "INVALID_TOKEN"


async def test_log_out_ends_the_session(api: Api) -> None:
    t = await make_tenant(api.settings)
    s = await api.sign_up(t, "dev@x.io")
    d = await api.data(
        "mutation { logOut { __typename ... on LoggedOut { ok } } }", token=s["accessToken"]
    )
    assert d["logOut"] == {"__typename": "LoggedOut", "ok": True}
    r = (await api.data(REFRESH, {"t": s["refreshToken"]}, storefront=t.storefront_key))[
        "refreshToken"
    ]
    assert r["code"] == "INVALID_TOKEN"


async def test_refresh_token_of_another_tenant_is_invalid(api: Api) -> None:
    a = await make_tenant(api.settings, "Alpha")
    b = await make_tenant(api.settings, "Beta")
    s = await api.sign_up(a, "dev@x.io")
    r = (await api.data(REFRESH, {"t": s["refreshToken"]}, storefront=b.storefront_key))[
        "refreshToken"
    ]
    assert r["code"] == "INVALID_TOKEN"


def _refused(r: httpx.Response, code: str) -> None:
    """GraphQL over HTTP with application/json: 200, the code in the body, and a challenge."""
    assert r.status_code == 200 and _code(r.json()) == code, r.text
    assert "data" not in r.json()
    assert 'realm="aforo"' in r.headers["www-authenticate"]


async def test_unknown_and_revoked_storefront_keys_are_refused(api: Api) -> None:
    t = await make_tenant(api.settings)
    r = await api.raw("{ tenant { name } }", storefront="pk_doesnotexist")
    _refused(r, "INVALID_STOREFRONT_KEY")
    assert r.headers["www-authenticate"].startswith("StorefrontKey ")
    # Asked for the GraphQL-over-HTTP media type, the same refusal is a 401.
    r = await api.raw(
        "{ tenant { name } }",
        storefront="pk_doesnotexist",
        headers={"Accept": "application/graphql-response+json, application/json;q=0.9"},
    )
    assert r.status_code == 401 and _code(r.json()) == "INVALID_STOREFRONT_KEY"
    assert r.headers["content-type"].startswith("application/graphql-response+json")

    admin = await api.admin_token(t)
    keys = await api.data("{ storefrontKeys { id } }", token=admin)
    d = await api.data(
        """mutation($id: ID!) { revokeStorefrontKey(id: $id) {
             __typename ... on StorefrontKey { revokedAt } } }""",
        {"id": keys["storefrontKeys"][0]["id"]},
        token=admin,
    )
    assert d["revokeStorefrontKey"]["revokedAt"] is not None
    _refused(
        await api.raw("{ tenant { name } }", storefront=t.storefront_key), "INVALID_STOREFRONT_KEY"
    )


async def test_new_storefront_key_is_shown_once_and_works(api: Api) -> None:
    t = await make_tenant(api.settings)
    admin = await api.admin_token(t)
    d = await api.data(
        """mutation { createStorefrontKey(name: "web") { __typename
             ... on StorefrontKeyCreated { secret storefrontKey { prefix last4 } } } }""",
        token=admin,
    )
    created = d["createStorefrontKey"]
    assert created["secret"].startswith("pk_")
    assert created["secret"].endswith(created["storefrontKey"]["last4"])
    listed = await api.data("{ storefrontKeys { name prefix last4 } }", token=admin)
    assert created["secret"] not in str(listed)
    ok = await api.data("{ tenant { id } }", storefront=created["secret"])
    assert ok["tenant"]["id"] == t.id


def _forge(
    claims: dict[str, Any], key: ec.EllipticCurvePrivateKey | None = None, kid: str = "x"
) -> str:
    key = key or ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(claims, key, "ES256", headers={"kid": kid})


async def test_bad_tokens_get_clear_errors(api: Api) -> None:
    t = await make_tenant(api.settings)
    s = await api.sign_up(t, "dev@x.io")
    good = jwt.decode(s["accessToken"], options={"verify_signature": False})
    ring = KeyRing.load(api.settings.keys_dir)
    now = int(time.time())

    expired, _ = ring.sign(
        {**{k: good[k] for k in ("sub", "tid", "roles", "aud", "iss")}, "iat": now - 100}, ttl_s=-10
    )
    wrong_aud, _ = ring.sign(
        {**{k: good[k] for k in ("sub", "tid", "roles", "iss")}, "aud": "elsewhere"}, ttl_s=60
    )
    forged_same_kid = _forge({**good, "exp": now + 60}, kid=ring.current.kid)
    unknown_kid = _forge({**good, "exp": now + 60})
    cases = {
        expired: "TOKEN_EXPIRED",
        wrong_aud: "INVALID_TOKEN",
        forged_same_kid: "INVALID_TOKEN",
        unknown_kid: "INVALID_TOKEN",
        "not.a.jwt": "INVALID_TOKEN",
    }
    for token, code in cases.items():
        r = await api.raw("{ me { id } }", token=token)
        _refused(r, code)
        assert 'error="invalid_token"' in r.headers["www-authenticate"]
    _refused(
        await api.raw("{ me { id } }", headers={"Authorization": "Basic abc"}), "INVALID_TOKEN"
    )


def test_a_token_verified_once_is_remembered_only_as_far_as_its_checks_go(
    tmp_path: Path,
) -> None:
    ring = KeyRing.load(tmp_path)
    claims = {"sub": "u", "aud": CONSOLE_AUDIENCE, "iss": "aforo"}
    token, _ = ring.sign(claims, ttl_s=2)  # exp is whole seconds: 1 to 2 s from now
    assert ring.decode(token, audience=CONSOLE_AUDIENCE, issuer="aforo")["sub"] == "u"
    # Remembered for the audience and issuer it was checked against, not for others.
    with pytest.raises(jwt.InvalidAudienceError):
        ring.decode(token, audience="elsewhere", issuer="aforo")
    with pytest.raises(jwt.InvalidIssuerError):
        ring.decode(token, audience=CONSOLE_AUDIENCE, issuer="someone")
    # A caller changing the claims it got changes nothing for the next caller.
    ring.decode(token, audience=CONSOLE_AUDIENCE, issuer="aforo")["sub"] = "admin"
    assert ring.decode(token, audience=CONSOLE_AUDIENCE, issuer="aforo")["sub"] == "u"
    # And never past its expiry.
    time.sleep(
        max(0.0, ring.decode(token, audience=CONSOLE_AUDIENCE, issuer="aforo")["exp"] - time.time())
        + 0.05
    )
    with pytest.raises(jwt.ExpiredSignatureError):
        ring.decode(token, audience=CONSOLE_AUDIENCE, issuer="aforo")


async def test_anonymous_and_missing_credentials(api: Api) -> None:
    t = await make_tenant(api.settings)
    body = await api.gql("{ me { id } }", storefront=t.storefront_key)
    assert _code(body) == "UNAUTHENTICATED"
    body = await api.gql("{ tenant { id } }")
    assert _code(body) == "UNAUTHENTICATED"


async def test_admin_only_fields_refuse_developers(api: Api) -> None:
    t = await make_tenant(api.settings)
    dev = await api.sign_up(t, "dev@x.io")
    body = await api.gql("{ users { id } }", token=dev["accessToken"])
    assert _code(body) == "FORBIDDEN" and body.get("data") is None
    body = await api.gql(
        'mutation { createGatewayToken(name: "g") { __typename } }', token=dev["accessToken"]
    )
    assert _code(body) == "FORBIDDEN"
    admin = await api.admin_token(t)
    d = await api.data(
        """mutation($u: ID!) { setUserRoles(userId: $u, roles: [MODERATOR]) {
             ... on User { roles } } }""",
        {"u": dev["user"]["id"]},
        token=admin,
    )
    assert d["setUserRoles"]["roles"] == ["MODERATOR"]
    # Roles ride in the access token: a fresh log-in carries the new role.
    again = await api.log_in(t, "dev@x.io", "correct horse battery")
    assert again["user"]["roles"] == ["MODERATOR"]


async def test_invalid_ids_are_user_errors_not_500(api: Api) -> None:
    t = await make_tenant(api.settings)
    admin = await api.admin_token(t)
    d = await api.data(
        """mutation { setUserRoles(userId: "nope", roles: [ADMIN]) {
             ... on UserError { code field } } }""",
        token=admin,
    )
    assert d["setUserRoles"] == {"code": "INVALID", "field": "userId"}
    d = await api.data(
        "mutation($id: ID!) { revokeGatewayToken(id: $id) { ... on UserError { code field } } }",
        {"id": str(uuid.uuid4())},
        token=admin,
    )
    assert d["revokeGatewayToken"] == {"code": "NOT_FOUND", "field": "id"}


async def test_jwks_publishes_the_signing_key(api: Api) -> None:
    t = await make_tenant(api.settings)
    s = await api.sign_up(t, "dev@x.io")
    r = await api.client.get("/.well-known/jwks.json")
    keys = r.json()["keys"]
    kid = jwt.get_unverified_header(s["accessToken"])["kid"]
    jwk = next(k for k in keys if k["kid"] == kid)
    assert jwk["kty"] == "EC" and jwk["alg"] == "ES256" and "d" not in jwk
    public = jwt.PyJWK(jwk).key
    claims = jwt.decode(s["accessToken"], public, algorithms=["ES256"], audience=CONSOLE_AUDIENCE)
    assert claims["tid"] == t.id
