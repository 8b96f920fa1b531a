"""Verified email, the tenant's policy for unverified accounts, resend cooldowns, password
reset and change of address, each followed through the mail it sends and the link in it."""

from __future__ import annotations

from typing import Any

import asyncpg

from aforo.config import Settings
from tests.gateway import create_plan, create_product
from tests.mailbox import text_of, token_of
from tests.support import Api, TenantFixture, make_tenant

PW = "correct horse battery"
SIGN_UP = """mutation($i: SignUpInput!) { signUp(input: $i) { __typename
  ... on UserError { code message field } } }"""
RESEND = """mutation { resendVerificationEmail { __typename
  ... on MailRequested { ok } ... on RateLimited { code retryAfterSeconds }
  ... on UserError { code } } }"""
SETTINGS = """mutation($i: AccountSettingsInput!) { updateAccountSettings(input: $i) {
  __typename ... on AccountSettings { unverifiedAccess staffSecondFactor } } }"""
REFRESH = """mutation($t: String!) { refreshToken(token: $t) { __typename
  ... on UserError { code } } }"""


async def owner_sql(settings: Settings, sql: str, *args: Any) -> None:
    """Move time for a test (age a row, expire a token) as an operator could."""
    conn = await asyncpg.connect(
        (settings.owner_url or "").replace("postgresql+asyncpg", "postgresql")
    )
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


async def _unverified(api: Api, t: TenantFixture, email: str) -> str:
    d = await api.data(
        SIGN_UP, {"i": {"email": email, "password": PW, "name": "New"}}, storefront=t.storefront_key
    )
    assert d["signUp"]["__typename"] == "SignUpAccepted"
    logged = await api.log_in(t, email, PW)
    assert logged["__typename"] == "AuthPayload", logged
    token: str = logged["accessToken"]
    return token


async def test_unverified_accounts_read_but_do_not_write_until_the_link_is_used(api: Api) -> None:
    t = await make_tenant(api.settings)
    admin = await api.admin_token(t)
    plan = await create_plan(api, admin, await create_product(api, admin))
    dev = await _unverified(api, t, "new@example.com")
    me = await api.data("{ me { emailVerified } }", token=dev)
    assert me["me"] == {"emailVerified": False}
    # Reading works (docs catalogue, forum); subscribing and posting do not.
    await api.data("{ products { id } categories { id } }", token=dev)
    d = await api.data(
        """mutation($p: ID!) { subscribe(planId: $p) { __typename
             ... on UserError { code } } }""",
        {"p": plan},
        token=dev,
    )
    assert d["subscribe"] == {"__typename": "UserError", "code": "EMAIL_NOT_VERIFIED"}
    # The tenant decides: FULL lets the same account subscribe at once.
    d = await api.data(SETTINGS, {"i": {"unverifiedAccess": "FULL"}}, token=admin)
    assert d["updateAccountSettings"]["unverifiedAccess"] == "FULL"
    d = await api.data(
        "mutation($p: ID!) { subscribe(planId: $p) { __typename } }", {"p": plan}, token=dev
    )
    assert d["subscribe"]["__typename"] == "Subscription"
    # NO_SIGN_IN: an unverified account gets no session at all.
    await api.data(SETTINGS, {"i": {"unverifiedAccess": "NO_SIGN_IN"}}, token=admin)
    refused = await api.log_in(t, "new@example.com", PW)
    assert refused["code"] == "EMAIL_NOT_VERIFIED"
    # The link (single use, for this address) verifies; then signing in works again.
    msg = await api.mailbox.wait("new@example.com", "Confirm your email")
    assert "expires in 24 hours" in text_of(msg)
    token = token_of(msg, "/verify-email")
    await api.verify_email(t, token)
    assert (await api.log_in(t, "new@example.com", PW))["__typename"] == "AuthPayload"
    reused = await api.data(
        "mutation($t: String!) { verifyEmail(token: $t) { ... on UserError { code field } } }",
        {"t": token},
        storefront=t.storefront_key,
    )
    assert reused["verifyEmail"] == {"code": "INVALID_TOKEN", "field": "token"}


async def test_resend_has_a_cooldown_and_a_daily_cap_with_retry_hints(api: Api) -> None:
    t = await make_tenant(api.settings)
    dev = await _unverified(api, t, "slow@example.com")
    first = await api.mailbox.wait("slow@example.com", "Confirm your email")
    d = (await api.data(RESEND, token=dev))["resendVerificationEmail"]
    assert d["__typename"] == "RateLimited" and d["code"] == "RATE_LIMITED"
    assert 1 <= d["retryAfterSeconds"] <= 60
    age = "update mail_jobs set created_at = created_at - interval '2 minutes'"
    await owner_sql(api.settings, age)
    again = (await api.data(RESEND, token=dev))["resendVerificationEmail"]
    assert again == {"__typename": "MailRequested", "ok": True}
    # Ten a day: with eight more sent earlier today (aged copies of the first), the next is
    # refused until the oldest is a day old.
    await owner_sql(
        api.settings,
        "insert into mail_jobs (tenant_id, kind, user_id, to_address, status, created_at)"
        " select tenant_id, kind, user_id, to_address, 'SENT', now() - interval '20 hours'"
        " from mail_jobs, generate_series(1, 8) where kind = 'VERIFY_EMAIL'"
        " and to_address = 'slow@example.com' limit 8",
    )
    await owner_sql(api.settings, age)
    capped = (await api.data(RESEND, token=dev))["resendVerificationEmail"]
    assert capped["__typename"] == "RateLimited"
    assert 4 * 3600 - 300 < capped["retryAfterSeconds"] <= 4 * 3600 + 1
    # The resent link works; the first one did too until it expired.
    last = await api.mailbox.wait("slow@example.com", "Confirm your email")
    await owner_sql(
        api.settings,
        "update account_tokens set expires_at = now() - interval '1 second' where id ="
        " (select id from account_tokens where email = 'slow@example.com'"
        " order by created_at limit 1)",
    )
    expired = await api.data(
        "mutation($t: String!) { verifyEmail(token: $t) { ... on UserError { code } } }",
        {"t": token_of(first)},
        storefront=t.storefront_key,
    )
    assert expired["verifyEmail"] == {"code": "INVALID_TOKEN"}
    await api.verify_email(t, token_of(last))
    done = (await api.data(RESEND, token=dev))["resendVerificationEmail"]
    assert done == {"__typename": "UserError", "code": "ALREADY_VERIFIED"}


async def test_password_reset_is_silent_about_unknown_addresses_and_ends_every_session(
    api: Api,
) -> None:
    t = await make_tenant(api.settings)
    dev = await api.sign_up(t, "dev@example.com")
    second = await api.log_in(t, "dev@example.com", PW)
    ask = """mutation($e: String!) { requestPasswordReset(email: $e) { __typename
      ... on MailRequested { ok } } }"""
    known = await api.data(ask, {"e": "Dev@Example.com"}, storefront=t.storefront_key)
    unknown = await api.data(ask, {"e": "ghost@example.com"}, storefront=t.storefront_key)
    assert known == {"requestPasswordReset": {"__typename": "MailRequested", "ok": True}}
    assert unknown == known
    msg = await api.mailbox.wait("dev@example.com", "Reset your")
    assert "expires in 1 hour" in text_of(msg)
    token = token_of(msg, "/reset-password")
    reset = """mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) {
      __typename ... on UserError { code field } } }"""
    weak = await api.data(reset, {"t": token, "p": "short"}, storefront=t.storefront_key)
    assert weak["resetPassword"] == {
        "__typename": "UserError",
        "code": "INVALID",
        "field": "newPassword",
    }
    ok = await api.data(reset, {"t": token, "p": "a brand new secret"}, storefront=t.storefront_key)
    assert ok["resetPassword"]["__typename"] == "User"
    again = await api.data(reset, {"t": token, "p": "another new one"}, storefront=t.storefront_key)
    assert again["resetPassword"]["code"] == "INVALID_TOKEN"
    # Every session is gone: no refresh token of the account works any more, and the access
    # tokens issued before the reset are refused at once, not when they expire.
    for session in (dev, second):
        d = await api.data(REFRESH, {"t": session["refreshToken"]}, storefront=t.storefront_key)
        assert d["refreshToken"] == {"__typename": "UserError", "code": "INVALID_TOKEN"}
        body = await api.gql("{ me { id } }", token=session["accessToken"])
        assert [e["extensions"]["code"] for e in body["errors"]] == ["SESSION_ENDED"], body
    assert (await api.log_in(t, "dev@example.com", PW))["code"] == "INVALID_CREDENTIALS"
    assert (await api.log_in(t, "dev@example.com", "a brand new secret"))["accessToken"]
    notice = await api.mailbox.wait("dev@example.com", "password was changed")
    assert "signed out" in text_of(notice) and "token=" not in text_of(notice)
    assert [m for m in api.mailbox.all() if str(m["To"]) == "ghost@example.com"] == []


async def test_changing_the_address_confirms_the_new_one_and_tells_the_old_one(api: Api) -> None:
    t = await make_tenant(api.settings)
    dev = (await api.sign_up(t, "old@example.com"))["accessToken"]
    change = """mutation($e: String!, $p: String!) { requestEmailChange(newEmail: $e,
      password: $p) { __typename ... on UserError { code field } } }"""
    wrong = await api.data(change, {"e": "new@example.com", "p": "nope nope nope"}, token=dev)
    assert wrong["requestEmailChange"] == {
        "__typename": "UserError",
        "code": "INVALID_CREDENTIALS",
        "field": "password",
    }
    ok = await api.data(change, {"e": "New@Example.com", "p": PW}, token=dev)
    assert ok["requestEmailChange"]["__typename"] == "MailRequested"
    msg = await api.mailbox.wait("new@example.com", "Confirm your new email")
    confirm = """mutation($t: String!) { confirmEmailChange(token: $t) { __typename
      ... on User { email emailVerified } ... on UserError { code } } }"""
    d = await api.data(confirm, {"t": token_of(msg, "/confirm-email")}, storefront=t.storefront_key)
    assert d["confirmEmailChange"] == {
        "__typename": "User",
        "email": "new@example.com",
        "emailVerified": True,
    }
    notice = await api.mailbox.wait("old@example.com", "was changed")
    assert "new@example.com" in text_of(notice)
    assert (await api.log_in(t, "new@example.com", PW))["__typename"] == "AuthPayload"
    assert (await api.log_in(t, "old@example.com", PW))["code"] == "INVALID_CREDENTIALS"
