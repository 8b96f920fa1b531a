"""No tenant can open the platform's own network: the assessment's allow-list entries are
refused, the service's own listener is never fetched (try-it, spec import), and refusals never
tell what an internal name resolves to."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from aforo.app import create_app
from aforo.config import Settings
from tests.conftest import STRICT_BOUNDARY, with_settings
from tests.gateway import make_key_world
from tests.services import AppServer
from tests.support import Api
from tests.test_playground_support import IMPORT, openapi

ALLOW = """mutation($e: String!) { addOutboundAllow(entry: $e) { __typename
  ... on OutboundAllowEntry { entry } ... on UserError { code message field } } }"""
IMPORT_URL = """mutation($i: ImportSpecInput!) { importSpec(input: $i) { __typename
  ... on UserError { code message field } } }"""
TRY = """mutation($i: TryOperationInput!) { tryOperation(input: $i) { __typename
  ... on PlaygroundResponse { status body } ... on UserError { code message field } } }"""

REFUSED_ENTRIES = [
    "127.0.0.1",
    "0.0.0.0/0",
    "::/0",
    "169.254.169.254",
    "localhost",
    "LocalHost.",
    "*.localhost",
    "10.0.0.0/8",
    "8.0.0.0/4",  # public at both ends, 10/8 inside
    "100.64.0.1",
    "fd00::/8",
    "fe80::1",
    "::ffff:127.0.0.1",
    "metadata.google.internal",
    "db.internal",
    "printer.local",
    "2130706433",  # 127.0.0.1 as one number
    "0x7f.1",
    "intranet",
]


async def test_a_tenant_allow_list_cannot_name_the_platform_network(
    strict: tuple[FastAPI, Api],
) -> None:
    _, api = strict
    w = await make_key_world(api)
    for entry in REFUSED_ENTRIES:
        d = await api.data(ALLOW, {"e": entry}, token=w.admin)
        result = d["addOutboundAllow"]
        assert (result["__typename"], result["field"]) == ("UserError", "entry"), (entry, result)
        assert "not a public" in result["message"] or "not a CIDR" in result["message"], result
    for entry, stored in (
        ("93.184.216.0/24", "93.184.216.0/24"),
        ("API.Example.com", "api.example.com"),
    ):
        d = await api.data(ALLOW, {"e": entry}, token=w.admin)
        assert d["addOutboundAllow"] == {"__typename": "OutboundAllowEntry", "entry": stored}


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[tuple[Api, str]]:
    """The app on a real socket, with the tests' operator policy (loopback opened): even then
    its own listener stays closed."""
    server = AppServer(create_app(settings)).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            yield Api(client, settings), server.url
    finally:
        server.stop()


async def test_the_service_never_fetches_itself(served: tuple[Api, str]) -> None:
    api, url = served
    w = await make_key_world(api)
    # The assessment: importSpec(sourceUrl: …/api/openapi.json) stored the service's own
    # document, readable anonymously afterwards.
    d = await api.data(
        IMPORT_URL,
        {
            "i": {
                "productId": w.product_id,
                "format": "OPENAPI_3",
                "sourceUrl": f"{url}/api/openapi.json",
            }
        },
        token=w.admin,
    )
    assert d["importSpec"]["code"] == "OUTBOUND_BLOCKED_ADDRESS", d
    assert d["importSpec"]["message"] == "127.0.0.1 is not a public address"
    # tryOperation on a spec whose server is the service itself read its /metrics.
    imported = await api.data(
        IMPORT,
        {
            "i": {
                "productId": w.product_id,
                "format": "OPENAPI_3",
                "content": openapi([url]),
                "name": "self",
            }
        },
        token=w.admin,
    )
    ops = {o["key"]: o["id"] for o in imported["importSpec"]["version"]["operations"]}
    d = await api.data(
        TRY,
        {"i": {"operationId": ops["GET /big"], "keyId": w.key_id, "server": url}},
        token=w.dev,
    )
    assert d["tryOperation"]["code"] == "OUTBOUND_BLOCKED_ADDRESS", d
    # What anonymous storefront callers can read back holds nothing of the service's own.
    specs = await api.data(
        "query($p: ID!) { apiSpecs(productId: $p) { currentVersion { source } } }",
        {"p": w.product_id},
        storefront=w.tenant.storefront_key,
    )
    assert "aforo_http_requests" not in json.dumps(specs) and "Aforo Console" not in json.dumps(
        specs
    )


async def test_refusals_never_say_what_an_internal_name_resolves_to(
    strict: tuple[FastAPI, Api], monkeypatch: pytest.MonkeyPatch
) -> None:
    from aforo.runtime import outbound

    async def dns(host: str, port: int) -> list[Any]:
        import ipaddress

        return [ipaddress.ip_address("10.20.30.40")]  # an "internal" answer for any name

    _, api = strict
    w = await make_key_world(api)
    monkeypatch.setattr(outbound, "_resolve", dns)
    for source in (
        "http://build.example.com/openapi.json",
        "http://localhost:8000/api/openapi.json",
    ):
        d = await api.data(
            IMPORT_URL,
            {"i": {"productId": w.product_id, "format": "OPENAPI_3", "sourceUrl": source}},
            token=w.admin,
        )
        result: dict[str, Any] = d["importSpec"]
        host = httpx.URL(source).host
        assert result == {
            "__typename": "UserError",
            "code": "OUTBOUND_BLOCKED_ADDRESS",
            "message": f"{host} is not a public address",
            "field": "sourceUrl",
        }


def test_strict_boundary_is_the_shipped_default() -> None:
    shipped = Settings(database_url="postgresql+asyncpg://unused/unused")
    assert shipped.outbound_allow == STRICT_BOUNDARY["outbound_allow"]
    assert shipped.rate_limits == STRICT_BOUNDARY["rate_limits"]
    assert with_settings(shipped, outbound_allow=("10.0.0.0/8",)).outbound_allow == ("10.0.0.0/8",)
