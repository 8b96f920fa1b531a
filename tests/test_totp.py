"""Two-factor sign-in (TOTP, RFC 6238) on the real clock: enrolment, the typed second step
of logIn, one-time codes and recovery codes, the staff policy; and the session list."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pyotp

from tests.support import Api, TenantFixture, make_tenant

PW = "correct horse battery"
LOG_IN = """mutation($e: String!, $p: String!) { logIn(input: {email: $e, password: $p}) {
  __typename ... on SecondFactorRequired { challenge expiresAt }
  ... on AuthPayload { accessToken refreshToken staffRolesWithheld user { roles } }
  ... on UserError { code } } }"""
SECOND = """mutation($c: String!, $code: String!) { logInSecondFactor(challenge: $c, code: $code)
  { __typename ... on AuthPayload { accessToken refreshToken staffRolesWithheld }
  ... on RateLimited { retryAfterSeconds } ... on UserError { code field } } }"""


async def _step_start() -> None:
    """Wait until a 30-second step has just begun: codes computed now stay in one step for
    the few calls a check makes (no race with the clock)."""
    into = time.time() % 30
    if into > 25:
        await asyncio.sleep(30 - into + 0.05)


async def enroll(api: Api, token: str, password: str = PW) -> tuple[pyotp.TOTP, list[str]]:
    begin = """mutation($p: String!) { beginTwoFactorEnrollment(password: $p) { __typename
      ... on TwoFactorEnrollment { secret otpauthUri } ... on UserError { code field } } }"""
    wrong = await api.data(begin, {"p": "not my password"}, token=token)
    assert wrong["beginTwoFactorEnrollment"]["code"] == "INVALID_CREDENTIALS"
    e = (await api.data(begin, {"p": password}, token=token))["beginTwoFactorEnrollment"]
    otp = pyotp.parse_uri(e["otpauthUri"])
    assert isinstance(otp, pyotp.TOTP) and otp.secret == e["secret"]
    assert (otp.digits, otp.interval) == (6, 30)
    confirm = """mutation($c: String!) { confirmTwoFactorEnrollment(code: $c) { __typename
      ... on RecoveryCodes { codes } ... on UserError { code field } } }"""
    bad = await api.data(
        confirm, {"c": "000000" if otp.now() != "000000" else "111111"}, token=token
    )
    assert bad["confirmTwoFactorEnrollment"] == {
        "__typename": "UserError",
        "code": "INVALID_CODE",
        "field": "code",
    }
    await _step_start()
    codes = (await api.data(confirm, {"c": otp.now()}, token=token))["confirmTwoFactorEnrollment"]
    assert len(codes["codes"]) == 10 and len(set(codes["codes"])) == 10
    return otp, codes["codes"]


async def log_in(api: Api, t: TenantFixture, email: str, password: str = PW) -> dict[str, Any]:
    r: dict[str, Any] = (
        await api.data(LOG_IN, {"e": email, "p": password}, storefront=t.storefront_key)
    )["logIn"]
    return r


async def second(api: Api, t: TenantFixture, challenge: str, code: str) -> dict[str, Any]:
    r: dict[str, Any] = (
        await api.data(SECOND, {"c": challenge, "code": code}, storefront=t.storefront_key)
    )["logInSecondFactor"]
    return r


async def test_totp_on_the_real_clock_codes_once_recovery_codes_once(api: Api) -> None:
    t = await make_tenant(api.settings)
    dev = await api.sign_up(t, "dev@example.com")
    otp, recovery = await enroll(api, dev["accessToken"])
    status = await api.data("{ twoFactor { enabled recoveryCodesLeft } }", token=dev["accessToken"])
    assert status["twoFactor"] == {"enabled": True, "recoveryCodesLeft": 10}

    await _step_start()
    now = time.time()
    step = await log_in(api, t, "dev@example.com")
    assert step["__typename"] == "SecondFactorRequired" and "accessToken" not in step
    # The code of the step just before now is in the window, but enrolment spent the current
    # step: RFC 6238 §5.2 lets no code through twice, nor an older one after it.
    assert (await second(api, t, step["challenge"], otp.at(now - 30)))["code"] == "CODE_REUSED"
    assert (await second(api, t, step["challenge"], otp.at(now - 90)))["code"] == "INVALID_CODE"
    # The next step's code is in the window too (a clock a little ahead).
    signed = await second(api, t, step["challenge"], otp.at(now + 30))
    assert signed["__typename"] == "AuthPayload"
    me = await api.data("{ me { email } }", token=signed["accessToken"])
    assert me["me"]["email"] == "dev@example.com"
    # A used challenge is done.
    spent = await second(api, t, step["challenge"], otp.at(now + 30))
    assert spent["code"] == "INVALID_CHALLENGE"

    # A recovery code stands in once, whatever its case or dashes.
    step = await log_in(api, t, "dev@example.com")
    code = recovery[0].lower().replace("-", " ")
    assert (await second(api, t, step["challenge"], code))["__typename"] == "AuthPayload"
    step = await log_in(api, t, "dev@example.com")
    assert (await second(api, t, step["challenge"], recovery[0]))["code"] == "INVALID_CODE"
    assert (await second(api, t, step["challenge"], recovery[1]))["__typename"] == "AuthPayload"
    status = await api.data("{ twoFactor { recoveryCodesLeft } }", token=dev["accessToken"])
    assert status["twoFactor"] == {"recoveryCodesLeft": 8}
    # A challenge takes five wrong codes, then not even a right one.
    step = await log_in(api, t, "dev@example.com")
    for _ in range(5):
        assert (await second(api, t, step["challenge"], "123456x"))["code"] == "INVALID_CODE"
    assert (await second(api, t, step["challenge"], recovery[2]))["code"] == "INVALID_CHALLENGE"
    # And the account at most ten in a quarter of an hour, whatever the challenge.
    step = await log_in(api, t, "dev@example.com")
    for _ in range(2):
        assert (await second(api, t, step["challenge"], "123456x"))["code"] == "INVALID_CODE"
    limited = await second(api, t, step["challenge"], recovery[2])
    assert limited["__typename"] == "RateLimited" and limited["retryAfterSeconds"] > 60

    # Turning it off needs the password and a code; then logIn signs in at once again.
    off = """mutation($p: String!, $c: String!) { disableTwoFactor(password: $p, code: $c) {
      __typename ... on UserError { code } } }"""
    d = await api.data(off, {"p": PW, "c": "000000"}, token=dev["accessToken"])
    assert d["disableTwoFactor"]["__typename"] == "UserError"
    d = await api.data(off, {"p": PW, "c": recovery[3]}, token=dev["accessToken"])
    assert d["disableTwoFactor"] == {"__typename": "TwoFactorDisabled"}
    status = await api.data("{ twoFactor { enabled } }", token=dev["accessToken"])
    assert status["twoFactor"] == {"enabled": False}
    assert (await log_in(api, t, "dev@example.com"))["__typename"] == "AuthPayload"


async def test_staff_policy_withholds_staff_roles_until_a_second_factor(api: Api) -> None:
    t = await make_tenant(api.settings)
    admin = await api.admin_token(t)
    policy = """mutation { updateAccountSettings(input: {staffSecondFactor: true}) {
      __typename ... on AccountSettings { staffSecondFactor } } }"""
    assert (await api.data(policy, token=admin))["updateAccountSettings"]["staffSecondFactor"]
    r = (
        await api.data(
            LOG_IN, {"e": t.admin_email, "p": t.admin_password}, storefront=t.storefront_key
        )
    )["logIn"]
    assert r["staffRolesWithheld"] is True and r["user"]["roles"] == ["ADMIN"]
    body = await api.gql("{ users { id } }", token=r["accessToken"])
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # Refreshing the session does not bring the roles back.
    refreshed = await api.data(
        """mutation($t: String!) { refreshToken(token: $t) { ... on AuthPayload {
             accessToken staffRolesWithheld } } }""",
        {"t": r["refreshToken"]},
        storefront=t.storefront_key,
    )
    assert refreshed["refreshToken"]["staffRolesWithheld"] is True
    # Enrolling (with the admin's password), then logging in with the factor: roles back.
    otp, _ = await enroll(api, r["accessToken"], t.admin_password)
    step = await log_in(api, t, t.admin_email, t.admin_password)
    await _step_start()
    full = await second(api, t, step["challenge"], otp.at(time.time() + 30))
    assert full["staffRolesWithheld"] is False
    users = await api.data("{ users { email } }", token=full["accessToken"])
    assert [u["email"] for u in users["users"]] == [t.admin_email]


async def test_a_user_lists_their_sessions_and_revokes_any_of_them(api: Api) -> None:
    t = await make_tenant(api.settings)
    first = await api.sign_up(t, "dev@example.com")
    other = await api.data(
        LOG_IN,
        {"e": "dev@example.com", "p": PW},
        storefront=t.storefront_key,
        headers={"User-Agent": "curl/8.5 (laptop)"},
    )
    other = other["logIn"]
    listing = """{ sessions { id current userAgent ipAddress secondFactor } }"""
    rows = (await api.data(listing, token=first["accessToken"]))["sessions"]
    assert len(rows) == 2 and sum(r["current"] for r in rows) == 1
    laptop = next(r for r in rows if r["userAgent"] == "curl/8.5 (laptop)")
    assert laptop["current"] is False and laptop["secondFactor"] is False
    revoke = """mutation($id: ID!) { revokeSession(id: $id) { __typename
      ... on UserError { code } } }"""
    d = await api.data(revoke, {"id": laptop["id"]}, token=first["accessToken"])
    assert d["revokeSession"]["__typename"] == "SessionRevoked"
    gone = await api.data(
        "mutation($t: String!) { refreshToken(token: $t) { ... on UserError { code } } }",
        {"t": other["refreshToken"]},
        storefront=t.storefront_key,
    )
    assert gone["refreshToken"] == {"code": "INVALID_TOKEN"}
    # The revoked session's access token is refused at once; the current one still works.
    body = await api.gql("{ me { id } }", token=other["accessToken"])
    assert [e["extensions"]["code"] for e in body["errors"]] == ["SESSION_ENDED"], body
    rows = (await api.data(listing, token=first["accessToken"]))["sessions"]
    assert [r["current"] for r in rows] == [True]
    # Someone else's session is not yours to revoke (nor to learn about).
    intruder = await api.sign_up(t, "intruder@example.com")
    d = await api.data(revoke, {"id": rows[0]["id"]}, token=intruder["accessToken"])
    assert d["revokeSession"] == {"__typename": "UserError", "code": "NOT_FOUND"}
