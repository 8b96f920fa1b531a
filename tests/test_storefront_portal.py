"""The reference portal (portal/, built by Vite on @aforo/storefront) in real headless
Chromium, served from an origin other than the console's: a developer signs up through the
mailed link, subscribes, creates a key and sees its secret once, copies it, reloads (still
revealable in this tab), opens a new tab (not revealable), rotates, tries an operation through
the console's proxy against a local upstream and sees the waterfall, posts and reports in the
forum; a moderator removes the report's post. The raw key never reaches localStorage, a cookie
or any request the page sends; every page is screenshotted and scanned by axe-core with no
serious violation; the strict CSP holds (no console errors). `aforo serve`'s own /portal/
serves the same build, and says how to build it when there is none."""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    Response,
    expect,
)

from aforo.app import create_app
from aforo.config import Settings
from tests.conftest import with_settings
from tests.gateway import create_plan, create_product, ok
from tests.mailbox import link_of
from tests.sdk.conformance import toolchains
from tests.services import AppServer
from tests.support import Api
from tests.test_edge_browser import ADD_ORIGIN, chromium  # noqa: F401 (the session's browser)
from tests.test_forum_support import Forum, make_forum
from tests.test_playground_support import IMPORT, Upstream, openapi, upstream

BRANDING = """mutation($i: MailBrandingInput!) { updateMailBranding(input: $i) { __typename } }"""
DOC = """mutation($i: CreateDocPageInput!) { createDocPage(input: $i) { __typename } }"""
PASSWORD = "correct horse battery staple 7"


@pytest.fixture(scope="module")
def portal_dist() -> Path:
    return toolchains.build_portal()


class _Portal(BaseHTTPRequestHandler):
    """A tenant's own static host for the built portal: its files under /portal/, index.html
    for any other path, its config.json pointing at the console, and a strict CSP."""

    dist: Path
    config: bytes
    csp: str

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        rel = path.removeprefix("/portal/")
        file = (self.dist / rel).resolve() if rel else None
        if rel == "config.json":
            body, ctype = self.config, "application/json"
        elif file and file.is_file() and file.is_relative_to(self.dist):
            body = file.read_bytes()
            ctype = {".js": "text/javascript", ".css": "text/css"}.get(file.suffix, "text/html")
        else:
            body, ctype = (self.dist / "index.html").read_bytes(), "text/html"
        self.send_response(200)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        self.send_header("content-security-policy", self.csp)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def portal_host(dist: Path, api_url: str, storefront_key: str) -> Iterator[str]:
    handler = type(
        "Portal",
        (_Portal,),
        {
            "dist": dist.resolve(),
            "config": json.dumps(
                {"url": api_url, "storefrontKey": storefront_key, "storage": "sessionStorage"}
            ).encode(),
            "csp": (
                "default-src 'self'; script-src 'self'; style-src 'self'; "
                f"img-src 'self' data:; connect-src 'self' {api_url} "
                f"{api_url.replace('http', 'ws', 1)}; frame-ancestors 'none'; "
                "base-uri 'none'; object-src 'none'"
            ),
        },
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class World:
    api: Api
    forum: Forum
    console: str  # the console's origin
    portal: str  # the portal's origin (another port)
    product: str
    operation: str  # GET /forecast/{city} of the imported spec
    upstream: Upstream


@pytest.fixture
async def world(settings: Settings, portal_dist: Path) -> AsyncIterator[World]:
    server = AppServer(create_app(with_settings(settings, portal_dir=portal_dist))).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            app = server.config.app
            assert isinstance(app, FastAPI)
            api = Api(client, settings)
            f = await make_forum(api, app)
            with (
                upstream() as (up, up_server),
                portal_host(portal_dist, server.url, f.tenant.storefront_key) as origin,
            ):
                admin = f.admin.token
                await f.data(ADD_ORIGIN, {"o": origin}, f.admin)
                brand = {"brandName": "Acme APIs", "primaryColor": "#0b6e4f"}
                await ok(
                    api,
                    BRANDING,
                    {"i": {**brand, "portalUrl": f"{origin}/portal"}},
                    "updateMailBranding",
                    token=admin,
                )
                product = await create_product(api, admin)
                await create_plan(api, admin, product)
                imported = await ok(
                    api,
                    IMPORT,
                    {
                        "i": {
                            "productId": product,
                            "format": "OPENAPI_3",
                            "name": "weather",
                            "content": openapi([up_server.url]),
                        }
                    },
                    "importSpec",
                    token=admin,
                )
                ops = {o["key"]: o["id"] for o in imported["version"]["operations"]}
                await ok(
                    api,
                    DOC,
                    {
                        "i": {
                            "productId": product,
                            "title": "Getting started",
                            "markdown": "# Getting started\n\nCall the API with your key.",
                            "status": "PUBLISHED",
                        }
                    },
                    "createDocPage",
                    token=admin,
                )
                await f.category("Questions")
                yield World(api, f, server.url, origin, product, ops["GET /forecast/{city}"], up)
    finally:
        server.stop()


class Watch:
    """Everything a browser context sends, and the console errors of its pages (a CSP
    refusal is one)."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.sent: list[str] = []
        self.errors: list[str] = []
        context.on("request", self._request)
        context.on("page", self._page)

    def _request(self, r: Request) -> None:
        self.sent.append(f"{r.method} {r.url} {json.dumps(r.headers)} {r.post_data or ''}")

    def _page(self, p: Page) -> None:
        p.on("console", self._console)
        p.on("pageerror", lambda e: self.errors.append(str(e)))
        p.on("response", self._response)

    def _console(self, m: ConsoleMessage) -> None:
        # Chromium logs each 4xx answer as an error too: those are judged by _response.
        if m.type == "error" and not m.text.startswith("Failed to load resource"):
            self.errors.append(f"{m.text} ({m.location.get('url', '')})")

    async def _response(self, r: Response) -> None:
        if r.status < 400:
            return
        body = await r.text()
        # A persisted query's first try (its hash alone) is answered PERSISTED_QUERY_NOT_FOUND
        # by protocol, and the SDK sends the document; any other error answer is a failure.
        if "PERSISTED_QUERY_NOT_FOUND" not in body:
            self.errors.append(f"HTTP {r.status} {r.url}: {body[:300]}")

    async def leaked(self, secret: str) -> list[str]:
        """Where the secret is that it must never be: requests, localStorage, cookies."""
        out = [s[:200] for s in self.sent if secret in s]
        for p in self.context.pages:
            if secret in await p.evaluate("JSON.stringify(Object.entries(localStorage))"):
                out.append(f"localStorage of {p.url}")
        out += [c["name"] for c in await self.context.cookies() if secret in c["value"]]
        return out


class Checks:
    """A screenshot and an axe-core scan of each page (axe is evaluated through the DevTools
    protocol, which the page's CSP does not govern)."""

    def __init__(self, shots: Path) -> None:
        self.shots = shots
        self.axe = (toolchains.PORTAL / "node_modules" / "axe-core" / "axe.min.js").read_text()
        self.pages: dict[str, list[str]] = {}

    async def __call__(self, page: Page, name: str) -> None:
        await page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)
        if not await page.evaluate("typeof axe !== 'undefined'"):
            await page.evaluate(self.axe)
        result = await page.evaluate(
            "axe.run(document, {resultTypes: ['violations']}).then(r => r.violations"
            ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target)})))"
        )
        serious = [v for v in result if v["impact"] in ("serious", "critical")]
        self.pages[name] = [v["id"] for v in result]
        assert not serious, (name, serious)


async def _signed_in_tab(
    context: BrowserContext, w: World, email: str, password: str, check: Checks | None = None
) -> Page:
    page = await context.new_page()
    await page.goto(f"{w.portal}/portal/keys")
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    if check:
        await check(page, "log-in")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    return page


def _shots(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.png"))


async def test_a_developer_onboards_in_the_portal_and_the_key_never_leaks(
    world: World,
    chromium: Browser,  # noqa: F811
) -> None:
    w = world
    # A shared machine under load: a page's requests may take longer than expect's 5 s default.
    expect.set_options(timeout=20_000)
    try:
        await _onboard(w, chromium)
    finally:
        expect.set_options(timeout=5_000)


async def _onboard(w: World, chromium: Browser) -> None:  # noqa: F811
    shots = Path(tempfile.mkdtemp(prefix="portal-shots-"))
    check = Checks(shots)
    context = await chromium.new_context()
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=w.portal)
    watch = Watch(context)
    page = await context.new_page()

    # Sign up; the mailed link (the tenant's portal URL) verifies and signs in.
    await page.goto(f"{w.portal}/portal/sign-up")
    await expect(page.locator("#brand-name")).to_have_text("Acme APIs")
    brand = await page.evaluate(
        "getComputedStyle(document.documentElement).getPropertyValue('--brand')"
    )
    assert brand.strip() == "#0b6e4f"
    await check(page, "sign-up")
    email = "newdev@example.com"
    await page.get_by_label("Name").fill("New Dev")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign up").click()
    await expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    link = link_of(await w.api.mailbox.wait(email, "Confirm your email"), "verify-email")
    assert link.startswith(f"{w.portal}/portal/verify-email?token=")
    await page.goto(link)
    await expect(page.get_by_role("heading", name="Email verified")).to_be_visible()

    # Products and plans; subscribe.
    await page.get_by_role("link", name="Choose a plan").click()
    await expect(page.get_by_role("heading", name="Weather")).to_be_visible()
    await check(page, "products")
    await page.get_by_role("button", name="Subscribe to Starter").click()
    await expect(page.get_by_text("Subscribed", exact=True)).to_be_visible()

    # Create a key: its secret is shown once, only inside the reveal element.
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Keys").click()
    await page.get_by_label("Name").fill("Server")
    await page.get_by_role("button", name="Create key").click()
    show = page.get_by_role("button", name="Show secret")
    await expect(show).to_be_focused()
    await check(page, "keys")
    await page.keyboard.press("Enter")  # keyboard: the focused Show button
    secret_el = page.locator("code.secret")
    await expect(secret_el).not_to_be_empty()
    secret = await secret_el.inner_text()
    assert len(secret) > 20
    assert (await page.content()).count(secret) == 1  # only inside the reveal element
    await page.get_by_role("button", name="Copy secret").click()
    assert await page.evaluate("navigator.clipboard.readText()") == secret
    await page.get_by_role("button", name="Hide secret").click()
    assert secret not in await page.content()

    # Reload: this tab still reveals it.
    await page.reload()
    await page.get_by_role("button", name="Show secret").click()
    await expect(secret_el).to_have_text(secret)
    await page.get_by_role("button", name="Hide secret").click()
    assert secret not in await page.content()

    # A new tab of the same browser: signed out (sessionStorage is per tab), and once signed
    # in the key is listed without its secret.
    other = await _signed_in_tab(context, w, email, PASSWORD)
    await expect(other.get_by_role("heading", name="API keys")).to_be_visible()
    await expect(other.locator("li.key")).to_have_count(1)
    await expect(other.get_by_role("button", name="Show secret")).to_have_count(0)
    assert secret not in await other.content()
    await other.close()

    # Rotate: a new secret, revealed in this tab; the old key keeps working for the grace.
    page.on("dialog", lambda d: d.accept())
    await page.get_by_role("button", name="Rotate Server").click()
    await expect(page.get_by_text("the old secret works until")).to_be_visible()
    await page.get_by_role("button", name="Show secret").click()
    await expect(secret_el).not_to_be_empty()
    rotated = await secret_el.inner_text()
    assert rotated != secret
    await page.get_by_role("button", name="Hide secret").click()

    # The API reference: samples in 8 languages; Try goes through the console's proxy, which
    # adds a credential, and the waterfall fills in.
    await page.goto(f"{w.portal}/portal/reference/{w.product}/{w.operation}")
    await expect(page.get_by_role("tab")).to_have_count(8)
    await page.get_by_role("tab", name="Python").click()
    await expect(page.get_by_role("tabpanel")).to_contain_text("urllib.request")
    await page.get_by_label("city (path, required)").fill("oslo")
    await page.get_by_role("button", name="Send").click()
    await expect(page.get_by_text("HTTP 200")).to_be_visible()
    for phase in ("dns", "connect", "ttfb", "transfer"):
        await expect(page.locator(f".waterfall li[data-phase={phase}]")).to_have_count(1)
    await check(page, "reference")
    assert w.upstream.seen[-1]["path"] == "/forecast/oslo"
    # The console sent a credential of its own making (a short-lived try-it token).
    sent_auth = w.upstream.seen[-1]["headers"]["authorization"]
    assert sent_auth.startswith("Bearer ") and rotated not in sent_auth

    # Docs.
    await page.goto(f"{w.portal}/portal/docs/{w.product}")
    await expect(page.get_by_role("heading", name="Getting started", level=1)).to_be_visible()
    await check(page, "docs")

    # The forum: ask (similar threads are looked up while typing), reply, report.
    await page.goto(f"{w.portal}/portal/forum/new")
    await page.get_by_label("Title").fill("How do I page through forecasts?")
    await page.get_by_label("Details").fill("The forecast endpoint returns 7 days; I need 30.")
    await page.get_by_role("button", name="Post question").click()
    await expect(
        page.get_by_role("heading", name="How do I page through forecasts?")
    ).to_be_visible()
    await page.get_by_label("Your reply").fill("Use the days parameter.")
    await page.get_by_role("button", name="Post reply").click()
    await expect(page.locator("ol.replies")).to_contain_text("Use the days parameter.")
    # Another member answers: the reply appears live (graphql-ws); the developer reports it.
    thread_id = page.url.rsplit("/", 1)[1]
    poster = await w.forum.member("poster")
    await w.forum.reply(poster, thread_id, "Buy the enterprise plan, it is better.")
    await expect(page.locator("ol.replies")).to_contain_text("Buy the enterprise plan")
    await page.reload()
    await page.get_by_text("Report", exact=True).click()
    await page.get_by_label("Reason").select_option("SPAM")
    await page.get_by_role("button", name="Send report").click()
    await expect(page.get_by_text("a moderator will look at it")).to_be_visible()
    await check(page, "forum-thread")
    await page.goto(f"{w.portal}/portal/forum")
    await expect(page.get_by_role("link", name="How do I page through forecasts?")).to_be_visible()
    await check(page, "forum")
    await page.goto(f"{w.portal}/portal/usage")
    await expect(page.get_by_role("heading", name="Usage", level=1)).to_be_visible()
    await check(page, "usage")
    await page.goto(f"{w.portal}/portal/invoices")
    await expect(page.get_by_role("region", name="Upcoming invoice for Starter")).to_be_visible()
    await check(page, "invoices")

    for s in (secret, rotated):
        assert await watch.leaked(s) == []
    assert watch.errors == []
    await context.close()

    # A moderator (the tenant's admin) works the queue in a browser of their own.
    staff = await chromium.new_context()
    staff_watch = Watch(staff)
    t = w.forum.tenant
    mod = await _signed_in_tab(staff, w, t.admin_email, t.admin_password, check)
    await mod.get_by_role("navigation", name="Main").get_by_role("link", name="Moderation").click()
    await expect(mod.get_by_text("1 report(s)")).to_be_visible()
    await check(mod, "moderation")
    await mod.get_by_label("Action").select_option("SOFT_DELETE")
    await mod.get_by_label("Reason (kept in the log)").fill("Duplicate question")
    await mod.get_by_role("button", name="Apply").click()
    await expect(mod.get_by_text("Nothing reported")).to_be_visible()
    assert staff_watch.errors == []
    await staff.close()
    assert _shots(shots) == sorted(f"{n}.png" for n in check.pages)


async def test_aforo_serves_the_built_portal_and_says_how_to_build_it_otherwise(
    settings: Settings, portal_dist: Path, tmp_path: Path
) -> None:
    for root, built in ((portal_dist, True), (tmp_path, False)):
        app = create_app(with_settings(settings, portal_dir=root))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://console"
        ) as c:
            r = await c.get("/portal/verify-email?token=x")
            csp = r.headers["content-security-policy"]
            assert "script-src 'self';" in csp and "unsafe-inline" not in csp
            if not built:
                assert r.status_code == 503 and "npm run build" in r.text
                continue
            assert r.status_code == 200 and '<main id="main"' in r.text
            script = r.text.split('src="')[1].split('"')[0]
            assert script.startswith("/portal/assets/")
            asset = await c.get(script)
            assert asset.status_code == 200 and "immutable" in asset.headers["cache-control"]
            # A path out of the build answers the app's page, never the file.
            escaped = await c.get("/portal/..%2f..%2fpyproject.toml")
            assert "[project]" not in escaped.text and '<main id="main"' in escaped.text


REQUEST_EMAIL_CHANGE = """mutation($e: String!, $p: String!) { requestEmailChange(newEmail: $e,
  password: $p) { __typename ... on UserError { code message } } }"""
CREATE_TEAM = """mutation($n: String!) { createTeam(name: $n) { __typename
  ... on Team { id } ... on UserError { code message } } }"""
INVITE = """mutation($t: ID!, $e: String!) { inviteTeamMember(teamId: $t, email: $e) {
  __typename ... on UserError { code message } } }"""
TEAM = """query($t: ID!) { team(id: $t) { members { email role } } }"""


async def test_mailed_links_to_a_new_address_and_to_a_team_land_on_working_pages(
    world: World,
    chromium: Browser,  # noqa: F811
) -> None:
    """Every mailed link has its page in the portal: a new address's confirmation (no
    sign-in: the token is the proof) and a team invitation (the invited address signs in
    first; the log-in page brings it back to the invitation, and it joins)."""
    w, api, tenant = world, world.api, world.forum.tenant
    expect.set_options(timeout=20_000)
    context = await chromium.new_context()
    watch = Watch(context)
    try:
        owner = (await api.sign_up(tenant, "owner@example.com", PASSWORD, "Owner"))["accessToken"]
        await api.sign_up(tenant, "invitee@example.com", PASSWORD, "Invitee")
        team = await ok(api, CREATE_TEAM, {"n": "Platform"}, "createTeam", token=owner)
        invite = {"t": team["id"], "e": "invitee@example.com"}
        await ok(api, INVITE, invite, "inviteTeamMember", token=owner)
        invitation = link_of(
            await api.mailbox.wait("invitee@example.com", "invited you to"), "accept-invitation"
        )
        assert invitation.startswith(f"{w.portal}/portal/accept-invitation?token=")
        page = await context.new_page()
        await page.goto(invitation)
        await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        await page.get_by_label("Email").fill("invitee@example.com")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("heading", name="You joined Platform")).to_be_visible()
        members = (await api.data(TEAM, {"t": team["id"]}, token=owner))["team"]["members"]
        assert {"email": "invitee@example.com", "role": "MEMBER"} in members

        change = {"e": "owner.new@example.com", "p": PASSWORD}
        await ok(api, REQUEST_EMAIL_CHANGE, change, "requestEmailChange", token=owner)
        confirm = link_of(
            await api.mailbox.wait("owner.new@example.com", "Confirm your new email"),
            "confirm-email",
        )
        assert confirm.startswith(f"{w.portal}/portal/confirm-email?token=")
        fresh = await context.new_page()  # a new tab, signed in as nobody: the token is the proof
        await fresh.goto(confirm)
        await expect(fresh.get_by_role("heading", name="Email changed")).to_be_visible()
        await expect(fresh.get_by_text("owner.new@example.com")).to_be_visible()
        moved = await api.log_in(tenant, "owner.new@example.com", PASSWORD)
        assert moved["__typename"] == "AuthPayload"
        assert moved["user"]["email"] == "owner.new@example.com"
        assert watch.errors == []
    finally:
        await context.close()
        expect.set_options(timeout=5_000)
