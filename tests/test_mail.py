"""Mail through a real SMTP server (aiosmtpd: STARTTLS and AUTH required), the embedded .eml
default and its CLI, retries across an outage with every mail arriving once, dead letters,
branding and previews."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from aforo.app import create_app
from aforo.cli import app as cli
from aforo.config import Settings
from tests.conftest import with_settings
from tests.mailbox import html_of, link_of, text_of, token_of
from tests.smtp import SmtpServer
from tests.support import Api, make_tenant

SIGN_UP = """mutation($i: SignUpInput!) { signUp(input: $i) { __typename
  ... on UserError { code message field } } }"""
DELIVERIES = """query($s: MailStatus) { mailDeliveries(status: $s) {
  id template to status attempts lastError sentAt } }"""


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Api]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as c:
            yield Api(c, settings)


async def until(check: Any, within: float = 20.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        got = await check()
        if got:
            return got
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def _sign_up(api: Api, key: str, email: str, name: str = "Dev") -> None:
    d = await api.data(
        SIGN_UP,
        {"i": {"email": email, "password": "correct horse battery", "name": name}},
        storefront=key,
    )
    assert d["signUp"]["__typename"] == "SignUpAccepted", d


async def test_sign_up_mail_over_starttls_and_auth_and_its_link_signs_in(
    settings: Settings, workdir: Path
) -> None:
    smtp = SmtpServer(workdir / "smtp-e2e").start()
    try:
        async with serving(with_settings(settings, smtp_url=smtp.url)) as api:
            t = await make_tenant(settings, "Acme <Labs>")
            admin = await api.admin_token(t)
            await api.data(
                """mutation($i: MailBrandingInput!) { updateMailBranding(input: $i) {
                     __typename } }""",
                {
                    "i": {
                        "fromAddress": "devs@acme.example",
                        "primaryColor": "#ff5500",
                        "portalUrl": "https://developers.acme.example/account",
                        "footer": "Acme & Co <b>Labs</b>",
                    }
                },
                token=admin,
            )
            await _sign_up(api, t.storefront_key, "ada@example.com", name="Ada <script>x</script>")
            got = await until(lambda: _received(smtp, 1))
        r = got[0]
        assert r.tls and r.authenticated, "sent in clear or without AUTH"
        assert r.rcpt_tos == ["ada@example.com"] and r.mail_from == "devs@acme.example"
        msg = r.message
        assert msg.get_content_type() == "multipart/alternative"
        assert str(msg["From"]) == '"Acme <Labs>" <devs@acme.example>'
        assert str(msg["Subject"]) == "Confirm your email address for Acme <Labs>"
        assert str(msg["Auto-Submitted"]) == "auto-generated" and msg["Message-ID"]
        text, html = text_of(msg), html_of(msg)
        # User input is escaped in the HTML part and left as written in the text part.
        assert "Ada <script>x</script>" in text and "<script>" not in html
        assert "Ada &lt;script&gt;x&lt;/script&gt;" in html
        assert "Acme &amp; Co &lt;b&gt;Labs&lt;/b&gt;" in html and "#ff5500" in html
        token = token_of(msg, "/verify-email")
        assert "https://developers.acme.example/account/verify-email?token=" in text
        # The link works once: it verifies the address and signs in.
        async with serving(settings) as api:
            session = await api.verify_email(t, token)
            me = await api.data("{ me { email emailVerified } }", token=session["accessToken"])
            assert me["me"] == {"email": "ada@example.com", "emailVerified": True}
            again = await api.data(
                "mutation($t: String!) { verifyEmail(token: $t) { ... on UserError { code } } }",
                {"t": token},
                storefront=t.storefront_key,
            )
            assert again["verifyEmail"] == {"code": "INVALID_TOKEN"}
    finally:
        smtp.stop()


async def _received(smtp: SmtpServer, n: int) -> list[Any] | None:
    return list(smtp.received) if len(smtp.received) >= n else None


async def test_smtp_outage_delays_mail_and_every_mail_arrives_once(
    settings: Settings, workdir: Path
) -> None:
    smtp = SmtpServer(workdir / "smtp-outage").start()
    async with serving(with_settings(settings, smtp_url=smtp.url)) as api:
        t = await make_tenant(settings)
        admin = await api.admin_token(t)
        await _sign_up(api, t.storefront_key, "first@example.com")
        await until(lambda: _received(smtp, 1))
        smtp.stop()  # the relay goes away mid-test
        for i in range(2):
            await _sign_up(api, t.storefront_key, f"dev{i}@example.com")
        await api.data(
            'mutation { requestPasswordReset(email: "first@example.com") { __typename } }',
            storefront=t.storefront_key,
        )

        async def failing() -> bool:
            rows = (await api.data(DELIVERIES, {"s": "PENDING"}, token=admin))["mailDeliveries"]
            return len(rows) == 3 and all(r["attempts"] >= 2 and r["lastError"] for r in rows)

        await until(failing)  # retried with backoff, none lost, none sent
        assert len(smtp.received) == 1
        smtp.start()  # back, on the same port
        await until(lambda: _received(smtp, 4))
        await asyncio.sleep(0.5)  # anything sent twice would have arrived by now
        sent = (await api.data(DELIVERIES, {"s": "SENT"}, token=admin))["mailDeliveries"]
        smtp.stop()
    ids = [str(r.message["Message-ID"]) for r in smtp.received]
    assert len(ids) == len(set(ids)) == 4, ids
    assert sorted(r.rcpt_tos[0] for r in smtp.received) == sorted(
        ["first@example.com", "first@example.com", "dev0@example.com", "dev1@example.com"]
    )
    assert len(sent) == 4 and all(s["sentAt"] for s in sent)
    # A link delayed by the outage still works (its token was minted when it was sent).
    reset = next(r for r in smtp.received if "Reset your" in str(r.message["Subject"]))
    async with serving(settings) as api:
        d = await api.data(
            """mutation($t: String!) { resetPassword(token: $t, newPassword: "a new long secret")
                 { __typename } }""",
            {"t": token_of(reset.message, "/reset-password")},
            storefront=t.storefront_key,
        )
        assert d["resetPassword"]["__typename"] == "User"


async def test_refused_and_exhausted_mail_become_dead_letters_admins_see_and_retry(
    settings: Settings, workdir: Path
) -> None:
    smtp = SmtpServer(workdir / "smtp-dead").start()
    smtp.refuse.add("nobody@example.com")
    s = with_settings(settings, smtp_url=smtp.url, mail_max_attempts=3)
    async with serving(s) as api:
        t = await make_tenant(settings)
        admin = await api.admin_token(t)
        await _sign_up(api, t.storefront_key, "nobody@example.com")  # 550: dead at once

        async def dead(n: int) -> list[dict[str, Any]] | None:
            rows = (await api.data(DELIVERIES, {"s": "DEAD"}, token=admin))["mailDeliveries"]
            return rows if len(rows) >= n else None

        [refused] = await until(lambda: dead(1))
        assert refused["attempts"] == 1 and "550" in refused["lastError"]
        smtp.stop()
        await _sign_up(api, t.storefront_key, "later@example.com")
        rows = await until(lambda: dead(2))
        later = next(r for r in rows if r["to"] == "later@example.com")
        assert later["attempts"] == 3 and later["template"] == "VERIFY_EMAIL"
        # Developers do not see the dead letters.
        dev_view = await api.gql(DELIVERIES, {"s": "DEAD"}, storefront=t.storefront_key)
        assert dev_view["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        smtp.start()
        d = await api.data(
            """mutation($id: ID!) { retryMailDelivery(id: $id) { __typename
                 ... on MailDelivery { status attempts } } }""",
            {"id": later["id"]},
            token=admin,
        )
        assert d["retryMailDelivery"] == {
            "__typename": "MailDelivery",
            "status": "PENDING",
            "attempts": 0,
        }
        got = await until(lambda: _received(smtp, 1))
        smtp.stop()
    assert got[0].rcpt_tos == ["later@example.com"]
    assert "/verify-email?token=" in text_of(got[0].message)


def test_eml_files_by_default_and_the_mail_cli(tmp_path: Path, monkeypatch: Any) -> None:
    from email.message import EmailMessage

    from aforo.services.mail.transport import FileTransport

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@x.example", "b@y.example", "Hello <b>"
    msg["Message-ID"] = "<1234abcd@x.example>"
    msg.set_content("see https://portal.example/verify-email?token=at_X")
    msg.add_alternative("<p>see the link</p>", subtype="html")
    asyncio.run(FileTransport(tmp_path / "mail").send(msg))
    [path] = list((tmp_path / "mail").glob("*.eml"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it may hold a sign-in link
    assert stat.S_IMODE((tmp_path / "mail").stat().st_mode) == 0o700
    monkeypatch.setenv("AFORO_MAIL_DIR", str(tmp_path / "mail"))
    runner = CliRunner()
    listed = runner.invoke(cli, ["mail", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    [item] = json.loads(listed.output)
    assert (item["to"], item["subject"]) == ("b@y.example", "Hello <b>")
    assert item["id"] == path.stem and item["id"].endswith("1234abcd")
    shown = runner.invoke(cli, ["mail", "show", item["id"][-8:]])
    assert shown.exit_code == 0 and "token=at_X" in shown.output
    assert "Subject: Hello <b>" in shown.output
    assert (
        "<p>see the link</p>" in runner.invoke(cli, ["mail", "show", item["id"], "--html"]).output
    )
    missing = runner.invoke(cli, ["mail", "show", "nope"])
    assert missing.exit_code == 1 and "0 messages match" in missing.output


async def test_branding_is_validated_and_previewed_for_admins_only(api: Api) -> None:
    t = await make_tenant(api.settings, "Globex")
    admin = await api.admin_token(t)
    update = """mutation($i: MailBrandingInput!) { updateMailBranding(input: $i) { __typename
      ... on MailBranding { brandName primaryColor footer }
      ... on UserError { code field } } }"""
    for bad, field in (
        ({"primaryColor": "red;background:url(x)"}, "primaryColor"),
        ({"logoUrl": "javascript:alert(1)"}, "logoUrl"),
        ({"logoUrl": "http://cdn.example/logo.png"}, "logoUrl"),  # https only: mixed content
        ({"fromAddress": "a@b.example\r\nBcc: x@y"}, "fromAddress"),
        ({"brandName": "Two\nlines"}, "brandName"),
        ({"portalUrl": "ftp://x.example"}, "portalUrl"),
    ):
        d = await api.data(update, {"i": bad}, token=admin)
        assert d["updateMailBranding"] == {
            "__typename": "UserError",
            "code": "INVALID",
            "field": field,
        }, bad
    d = await api.data(
        update,
        {"i": {"brandName": "Globex API", "primaryColor": "#112233", "footer": "Globex <Inc>"}},
        token=admin,
    )
    assert d["updateMailBranding"]["brandName"] == "Globex API"
    preview = """query($t: EmailTemplate!) { emailPreview(template: $t) {
      subject from text html } }"""
    for template in (
        "VERIFY_EMAIL",
        "PASSWORD_RESET",
        "TEAM_INVITATION",
        "EMAIL_CHANGED",
        "ACCOUNT_EXISTS",
        "PASSWORD_CHANGED",
        "EMAIL_CHANGE",
    ):
        p = (await api.data(preview, {"t": template}, token=admin))["emailPreview"]
        assert "Globex <Inc>" in p["text"] and "Globex &lt;Inc&gt;" in p["html"], template
        assert "#112233" in p["html"] and p["from"].startswith("Globex API")
    p = (await api.data(preview, {"t": "TEAM_INVITATION"}, token=admin))["emailPreview"]
    assert p["subject"] == "Grace Hopper invited you to Example Team"
    dev = await api.sign_up(t, "dev@example.com")
    body = await api.gql(preview, {"t": "VERIFY_EMAIL"}, token=dev["accessToken"])
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_mailed_links_default_to_the_portal_this_service_serves(api: Api) -> None:
    """Without a tenant's portal URL or AFORO_PORTAL_URL, a mailed link opens the reference
    portal this service serves under /portal (at AFORO_PUBLIC_URL when it is set)."""
    anywhere = "0.0.0.0"  # noqa: S104 - a listen address, as an operator sets it
    s = with_settings(api.settings, portal_url=None, public_url=None, host=anywhere, port=8100)
    assert s.mail_portal_url == "http://localhost:8100/portal"
    assert with_settings(s, host="::1").mail_portal_url == "http://[::1]:8100/portal"
    public = with_settings(s, public_url="https://api.example.com/")
    assert public.mail_portal_url == "https://api.example.com/portal"
    chosen = with_settings(public, portal_url="https://developers.example.com")
    assert chosen.mail_portal_url == "https://developers.example.com"

    t = await make_tenant(api.settings)
    await api.raw(
        'mutation { signUp(input: {email: "new@example.com", password: "correct horse battery",'
        ' name: "New"}) { __typename } }',
        storefront=t.storefront_key,
    )
    link = link_of(await api.mailbox.wait("new@example.com", "Confirm your email"))
    assert link.startswith(f"{api.settings.mail_portal_url}/verify-email?token=")
    assert api.settings.mail_portal_url.endswith("/portal")
    served = await api.client.get(link.replace(api.settings.mail_portal_url, "/portal"))
    if served.status_code == 503:  # no portal build here: the page says how to make one
        assert "npm run build" in served.text
    else:  # the built portal's page, which routes verify-email itself
        assert served.status_code == 200 and '<main id="main"' in served.text, served.text
