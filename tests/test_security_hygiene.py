"""Hygiene at the boundary, each an attack of the assessment and its refusal: client-chosen
metric labels, an open /metrics, malformed bodies answered in text/plain, slow clients never
timed out, forgeable search highlights, raw HTML in plain-text fields."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text

from aforo.app import create_app
from aforo.config import Settings
from aforo.runtime import server
from aforo.runtime.postgres import free_port
from tests.conftest import with_settings
from tests.gateway import create_product, serving
from tests.support import Api, make_tenant
from tests.test_forum_support import make_forum


async def test_client_chosen_operation_names_cannot_grow_metrics(api: Api, app: FastAPI) -> None:
    t = await make_tenant(api.settings)
    before = len((await api.client.get("/metrics")).content)
    for i in range(10):  # the assessment's: anonymous requests with 100 KB operation names
        name = f"Q{i}" + "x" * 100_000
        r = await api.raw(f"query {name} {{ tenant {{ name }} }}", storefront=t.storefront_key)
        assert r.status_code in (200, 400, 413)
    r = await api.client.request("BREW", "/graphql")  # a client-chosen method, too
    after = (await api.client.get("/metrics")).text
    assert len(after) - before < 20_000, len(after) - before
    assert 'operation="other"' in after and "xxxxxxxxxx" not in after
    assert 'method="other"' in after and "BREW" not in after


async def test_metrics_can_require_a_token_or_move_to_a_listener(settings: Settings) -> None:
    async with serving(with_settings(settings, metrics_token="s3cret-scrape")) as api:
        r = await api.client.get("/metrics")
        assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHENTICATED"
        ok = await api.client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape"})
        assert ok.status_code == 200 and "aforo_http_requests" in ok.text
    port = free_port()
    moved = create_app(with_settings(settings, metrics_listen=f"127.0.0.1:{port}"))
    async with moved.router.lifespan_context(moved):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=moved), base_url="http://i"
        ) as c:
            assert (await c.get("/metrics")).status_code == 404
        metrics_app = moved.state.metrics_app
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=metrics_app), base_url="http://m"
        ) as c:
            assert "aforo_http_requests" in (await c.get("/metrics")).text


async def test_malformed_bodies_are_400_in_the_json_error_shape(api: Api) -> None:
    t = await make_tenant(api.settings)
    admin = await api.admin_token(t)
    deep = ("[" * 5000 + "]" * 5000).encode()
    for body in (deep, b'{"query": "\xff\xfe"}', b'{"query": ' * 3000, b"\x00\x01"):
        r = await api.client.post(
            "/graphql",
            content=body,
            headers={"content-type": "application/json", "X-Storefront-Key": t.storefront_key},
        )
        assert r.status_code == 400 and r.headers["content-type"] == "application/json", r.text
        assert r.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    product = await create_product(api, admin)
    r = await api.client.post(
        "/api/v1/docs/api-specs",
        content=deep,
        headers={"content-type": "application/json", "Authorization": f"Bearer {admin}"},
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "body", (product, r.text)


# -- slow clients, on a real socket ---------------------------------------------------------
@pytest.fixture
def guarded(settings: Settings) -> Iterator[int]:
    """The service behind uvicorn with our protocol, short read timeouts (no database needed
    for /healthz, so the app runs without its lifespan)."""
    quick = with_settings(settings, header_timeout_s=0.5, body_timeout_s=0.5)
    port = free_port()
    config = server.config(
        create_app(quick), quick, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.02)
    yield port
    srv.should_exit = True
    thread.join(10)


def _until_closed(sock: socket.socket, trickle: bytes = b"") -> bytes:
    """Everything the server sends until it closes; sends ``trickle`` a byte at a time."""
    sock.settimeout(10)  # far past the timeout: the server must close first
    got = b""
    for b in trickle:
        try:
            sock.sendall(bytes([b]))
        except OSError:
            break
        time.sleep(0.1)
    try:
        while chunk := sock.recv(4096):
            got += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return got


def test_slow_clients_are_timed_out(guarded: int) -> None:
    def connect() -> socket.socket:
        return socket.create_connection(("127.0.0.1", guarded))

    # Says nothing at all.
    with connect() as s:
        assert _until_closed(s).startswith(b"HTTP/1.1 408 Request Timeout")
    # Slowloris: a steady trickle of header bytes never completes the head in time.
    with connect() as s:
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40
        assert b"408 Request Timeout" in _until_closed(s, head)
    # Stops half-way through its body.
    with connect() as s:
        s.sendall(b'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"q')
        reply = _until_closed(s)
        assert b"200 OK" not in reply
    # A client that keeps to time is served.
    with connect() as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert _until_closed(s).startswith(b"HTTP/1.1 200 OK")


# -- highlights and plain text --------------------------------------------------------------
async def test_search_highlights_cannot_be_forged(api: Api, app: FastAPI) -> None:
    f = await make_forum(api, app)
    ada = await f.member()
    cat = await f.category()
    # The assessment wrote the highlight markers into a post: refused now.
    body = await api.gql(
        """mutation($c: ID!) { createThread(input: {categoryId: $c, title: "Forged rotation",
             body: "\\u0002<img src=x onerror=alert(1)>\\u0003 rotation"}) { __typename } }""",
        {"c": cat},
        token=ada.token,
    )
    assert body["errors"][0]["extensions"] == {"code": "INVALID_CHARACTERS", "field": "body"}
    # A row stored before that rule, markers and all, still cannot forge one.
    t = await f.thread(ada, cat, "Forged rotation question")
    async with app.state.runtime.transaction(uuid.UUID(f.tenant.id)) as s:
        await s.execute(
            text("update community_threads set body = :b where id = :id"),
            {"b": "\x02<img src=x onerror=alert(1)>\x03 key rotation", "id": uuid.UUID(t["id"])},
        )
    d = await f.data('{ searchForum(query: "rotation") { titleHtml snippetHtml } }')
    (hit,) = d["searchForum"]
    html = hit["snippetHtml"]
    # One highlight, the real match; the stored markers placed none, and no markup but <mark>.
    assert html.count("<mark>") == 1 and "<mark>rotation</mark>" in html, html
    assert html.replace("<mark>", "").replace("</mark>", "").count("<") == 0, html


async def test_plain_text_fields_are_plain_and_html_fields_safe(api: Api) -> None:
    t = await make_tenant(api.settings)
    admin = await api.admin_token(t)
    product = await create_product(api, admin)
    payload = "<img src=x onerror=alert(1)>"
    md = f"# Setup *fast* {payload}\n\nWebhooks {payload} arrive signed."
    d = await api.data(
        """mutation($p: ID!, $m: String!) { createDocPage(input: {productId: $p,
             title: "Webhooks", markdown: $m, status: PUBLISHED}) {
             ... on DocPage { id slug } } }""",
        {"p": product, "m": md},
        token=admin,
    )
    page = d["createDocPage"]
    d = await api.data(
        """query($p: ID!, $s: String!) { docPage(productId: $p, slug: $s) {
             html toc { text textHtml anchor } } }""",
        {"p": product, "s": page["slug"]},
        storefront=t.storefront_key,
    )
    (toc,) = d["docPage"]["toc"]
    assert toc["text"] == f"Setup fast {payload}"  # plain: the text a reader sees, markup gone
    assert toc["textHtml"] == "Setup <em>fast</em> &lt;img src=x onerror=alert(1)&gt;"
    assert "<img" not in d["docPage"]["html"]
    d = await api.data(
        """query($p: ID!) { searchDocs(productId: $p, query: "webhooks") {
             snippet snippetHtml } }""",
        {"p": product},
        storefront=t.storefront_key,
    )
    (hit,) = d["searchDocs"]
    assert "<mark>" not in hit["snippet"] and "**" not in hit["snippet"]
    assert "<img" not in hit["snippetHtml"] and "<mark>Webhooks</mark>" in hit["snippetHtml"]
    await asyncio.sleep(0)
