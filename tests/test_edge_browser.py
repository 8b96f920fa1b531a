"""A tenant's web frontend in real headless Chromium (Debian's, driven by Playwright): a page
on another loopback origin signs up, logs in, queries and holds a graphql-transport-ws
subscription; a page on an origin the tenant does not allow is refused; GraphiQL and the REST
reference render and work with every request that would leave loopback aborted."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, BrowserContext, Page, Request, Route, async_playwright

from aforo.app import create_app
from aforo.config import Settings
from tests.conftest import with_settings
from tests.services import AppServer
from tests.support import Api
from tests.test_forum_support import Forum, make_forum

ADD_ORIGIN = """mutation($o: String!) { addAllowedOrigin(origin: $o) { __typename } }"""
LOOPBACK = {"127.0.0.1", "localhost", "[::1]"}


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    """One browser for the session: Debian's chromium, never a downloaded one."""
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not installed (it is in .ci/apt-packages)")
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=path, args=["--no-sandbox", "--disable-background-networking"]
        )
        yield browser
        await browser.close()


class _Blank(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>tenant frontend</title><p>frontend</p>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def frontends() -> Iterator[tuple[str, str]]:
    """Two page origins on loopback (other ports than the API's): one the tenant allows."""
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Blank) for _ in range(2)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    try:
        urls = [f"http://127.0.0.1:{s.server_address[1]}" for s in servers]
        yield urls[0], urls[1]
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()


@dataclass
class Live:
    url: str
    forum: Forum


@pytest.fixture
async def live(settings: Settings, ui_assets: Path) -> AsyncIterator[Live]:
    server = AppServer(create_app(with_settings(settings, assets_dir=ui_assets))).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            app = server.config.app
            assert isinstance(app, FastAPI)
            yield Live(server.url, await make_forum(Api(client, settings), app))
    finally:
        server.stop()


@pytest.fixture
async def page(chromium: Browser) -> AsyncIterator[tuple[Page, list[str], list[str]]]:
    """A fresh context whose requests off loopback are aborted (and recorded), and whose
    console errors are recorded."""
    context: BrowserContext = await chromium.new_context()
    outside: list[str] = []
    errors: list[str] = []

    async def guard(route: Route, request: Request) -> None:
        host = urlsplit(request.url).hostname or ""
        if request.url.startswith(("http:", "https:", "ws:", "wss:")) and host not in LOOPBACK:
            outside.append(request.url)
            await route.abort()
        else:
            await route.continue_()

    await context.route("**/*", guard)
    p = await context.new_page()
    p.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    p.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield p, outside, errors
    finally:
        await context.close()


FRONTEND = """async ({api, key}) => {
  const gql = async (query, variables, token) => {
    const headers = {"content-type": "application/json", "X-Storefront-Key": key};
    if (token) headers["Authorization"] = "Bearer " + token;
    const body = JSON.stringify({query, variables});
    const r = await fetch(api + "/graphql", {method: "POST", headers, body});
    return await r.json();
  };
  const creds = {email: "web@example.com", password: "correct horse battery staple"};
  const up = await gql(`mutation($i: SignUpInput!) { signUp(input: $i) { __typename } }`,
                       {i: {...creds, name: "Web"}});
  const login = await gql(`mutation($i: LogInInput!) { logIn(input: $i) {
      ... on AuthPayload { accessToken } } }`, {i: creds});
  const token = login.data.logIn.accessToken;
  const me = await gql("{ me { email } }", null, token);
  return {signUp: up.data.signUp.__typename, me: me.data.me.email, token};
}"""

SUBSCRIBE = """async ({api, key, thread}) => {
  window.events = [];
  const ws = new WebSocket(api.replace("http", "ws") + "/graphql", "graphql-transport-ws");
  return await new Promise((resolve, reject) => {
    ws.onerror = () => reject(new Error("websocket error"));
    const init = {type: "connection_init", payload: {"X-Storefront-Key": key}};
    ws.onopen = () => ws.send(JSON.stringify(init));
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.type === "connection_ack") {
        ws.send(JSON.stringify({id: "1", type: "subscribe", payload: {
          query: "subscription($t: ID!) { threadActivity(threadId: $t) { type bodyHtml } }",
          variables: {t: thread}}}));
        resolve("subscribed");
      } else if (msg.type === "next") {
        window.events.push(msg.payload);
      }
    };
    ws.onclose = (e) => resolve({code: e.code, reason: e.reason});
  });
}"""


async def _events_after_replies(page: Page, live: Live, thread: str) -> list[Any]:
    """Reply until the page has an event (the subscribe message has no acknowledgement)."""
    member = await live.forum.member("poster")
    for i in range(20):
        await live.forum.reply(member, thread, f"Reply number {i}.")
        for _ in range(20):
            events: list[Any] = await page.evaluate("window.events")
            if events:
                return events
            await asyncio.sleep(0.05)
    return []


async def test_a_frontend_on_another_origin_works_and_an_unlisted_one_is_refused(
    live: Live, frontends: tuple[str, str], page: tuple[Page, list[str], list[str]]
) -> None:
    allowed, unlisted = frontends
    p, outside, _ = page
    f = live.forum
    await f.data(ADD_ORIGIN, {"o": allowed}, f.admin)
    thread = (await f.thread(f.admin, await f.category(), "Browser question"))["id"]
    args = {"api": live.url, "key": f.tenant.storefront_key, "thread": thread}

    await p.goto(allowed)
    done = await p.evaluate(FRONTEND, args)
    assert (done["signUp"], done["me"]) == ("SignUpAccepted", "web@example.com")
    assert await p.evaluate(SUBSCRIBE, args) == "subscribed"
    events = await _events_after_replies(p, live, thread)
    assert events and events[0]["data"]["threadActivity"]["type"] == "reply.created"
    assert "Reply number" in events[0]["data"]["threadActivity"]["bodyHtml"]

    await p.goto(unlisted)
    blocked = await p.evaluate(
        """async ({api, key}) => {
          try {
            await fetch(api + "/graphql", {method: "POST",
              headers: {"content-type": "application/json", "X-Storefront-Key": key},
              body: JSON.stringify({query: "{ tenant { slug } }"})});
            return "answered";
          } catch (e) { return e.name; }
        }""",
        args,
    )
    assert blocked == "TypeError"  # the browser's CORS refusal
    closed = await p.evaluate(SUBSCRIBE, args)
    assert closed["code"] == 4403 and closed["reason"].startswith("ORIGIN_NOT_ALLOWED"), closed
    assert unlisted in closed["reason"]
    assert outside == []


async def test_graphiql_runs_a_query_with_the_storefront_key_offline(
    live: Live, page: tuple[Page, list[str], list[str]]
) -> None:
    p, outside, errors = page
    key = live.forum.tenant.storefront_key
    # The headers tab, as a user leaves it (GraphiQL keeps it in local storage).
    headers = json.dumps(json.dumps({"X-Storefront-Key": key}))
    await p.add_init_script(f"localStorage.setItem('graphiql:headers', {headers});")
    response = await p.goto(live.url + "/graphql", wait_until="load")
    assert response is not None and response.status == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    await p.wait_for_selector(".graphiql-container")
    await p.click(".graphiql-execute-button")
    result = p.locator(".result-window")
    await result.get_by_text(live.forum.tenant.slug).first.wait_for()
    assert '"slug"' in await result.inner_text()
    assert outside == []
    assert not [e for e in errors if "Content Security Policy" in e], errors


async def test_the_rest_reference_renders_offline(
    live: Live, page: tuple[Page, list[str], list[str]]
) -> None:
    p, outside, errors = page
    response = await p.goto(live.url + "/api/docs", wait_until="load")
    assert response is not None and response.status == 200
    await p.get_by_text("/v1/keys/verify").first.wait_for()
    await p.get_by_text("/oauth/token").first.wait_for()
    assert outside == []
    assert not [e for e in errors if "Content Security Policy" in e], errors
