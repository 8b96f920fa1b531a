"""The edge, in process: allowed origins (CORS) per tenant and per storefront key, GraphQL over
HTTP (media types, status codes, challenges), persisted queries and trusted documents,
security headers and compression, and the REST contract."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from aforo.app import create_app
from aforo.config import Settings
from aforo.graphql_app import wants_graphql_response
from aforo.web.hygiene import pick_encoding
from aforo.web.negotiation import qvalues
from tests.conftest import with_settings
from tests.support import Api, TenantFixture, make_tenant

ADD = """mutation($o: String!, $k: ID) { addAllowedOrigin(origin: $o, storefrontKeyId: $k) {
  __typename ... on AllowedOrigin { id origin storefrontKeyId }
  ... on UserError { code message field } } }"""
REMOVE = """mutation($id: ID!) { removeAllowedOrigin(id: $id) { __typename } }"""
GRJ = "application/graphql-response+json"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type,x-storefront-key",
}


async def allow(api: Api, admin: str, origin: str, key: str | None = None) -> dict[str, Any]:
    d = await api.data(ADD, {"o": origin, "k": key}, token=admin)
    result: dict[str, Any] = d["addAllowedOrigin"]
    assert result["__typename"] == "AllowedOrigin", result
    return result


async def preflight(api: Api, origin: str, path: str = "/graphql") -> httpx.Response:
    return await api.client.options(path, headers={"Origin": origin, **PREFLIGHT})


async def tenant_query(api: Api, t: TenantFixture, origin: str | None) -> httpx.Response:
    headers = {"Origin": origin} if origin else {}
    return await api.raw("{ tenant { slug } }", storefront=t.storefront_key, headers=headers)


async def test_origins_are_validated_audited_and_admin_only(api: Api) -> None:
    t = await make_tenant(api.settings)
    admin = await api.admin_token(t)
    for bad, why in [
        ("https://app.example.com/path", "no path"),
        ("ftp://app.example.com", "scheme"),
        ("https://user@app.example.com", "credentials"),
        ("https://app.*.example.com", "wildcard leftmost"),
        ("https://*.com", "registrable domain"),
        ("https://*.127.0.0.1", "address"),
        ("app.example.com", "no scheme"),
        ("https://exa mple.com", "space"),
    ]:
        r = (await api.data(ADD, {"o": bad}, token=admin))["addAllowedOrigin"]
        assert (r["__typename"], r["code"], r["field"]) == ("UserError", "INVALID", "origin"), why
    ok = await allow(api, admin, "HTTPS://App.Example.com:443/")
    assert ok["origin"] == "https://app.example.com"  # normalized: the Origin header's form
    wild = await allow(api, admin, "https://*.example.com")
    dup = (await api.data(ADD, {"o": "https://app.example.com"}, token=admin))["addAllowedOrigin"]
    assert (dup["__typename"], dup["code"]) == ("UserError", "CONFLICT")
    await api.data(REMOVE, {"id": wild["id"]}, token=admin)
    events = await api.data(
        "{ tenantSettingEvents { setting action actorId detail } }", token=admin
    )
    assert [(e["action"], e["detail"]["origin"]) for e in events["tenantSettingEvents"]] == [
        ("removed", "https://*.example.com"),
        ("added", "https://*.example.com"),
        ("added", "https://app.example.com"),
    ]
    assert all(
        e["actorId"] and e["setting"] == "allowed_origins" for e in events["tenantSettingEvents"]
    )
    dev = await api.sign_up(t, "dev@example.com")
    body = await api.gql(ADD, {"o": "https://x.example.com"}, token=dev["accessToken"])
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_cors_is_answered_from_each_tenants_list(api: Api) -> None:
    a = await make_tenant(api.settings, "Alpha")
    b = await make_tenant(api.settings, "Beta")
    admin_a = await api.admin_token(a)
    await allow(api, admin_a, "https://app.alpha.test")
    await allow(api, admin_a, "https://*.alpha-preview.test")

    # Preflights carry no credential: granted to an origin some tenant allows.
    r = await preflight(api, "https://app.alpha.test")
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "https://app.alpha.test"
    allowed_headers = r.headers["access-control-allow-headers"]
    for h in ("x-storefront-key", "authorization", "content-type"):
        assert h in allowed_headers
    assert "Origin" in r.headers["vary"]
    assert "access-control-allow-credentials" not in r.headers
    for refused in (
        "https://evil.test",
        "http://app.alpha.test",  # another scheme
        "https://app.alpha.test:8443",  # another port
        "https://alpha-preview.test",  # a wildcard covers subdomains, not the domain
        "null",
    ):
        r = await preflight(api, refused)
        assert r.status_code == 403 and "access-control-allow-origin" not in r.headers, refused
        assert r.json()["error"]["code"] == "ORIGIN_NOT_ALLOWED"
    assert (await preflight(api, "https://pr-12.alpha-preview.test")).status_code == 204

    # The actual request: granted when the credential's tenant allows the origin.
    r = await tenant_query(api, a, "https://pr-12.alpha-preview.test")
    assert r.json() == {"data": {"tenant": {"slug": "alpha"}}}
    assert r.headers["access-control-allow-origin"] == "https://pr-12.alpha-preview.test"
    assert "Origin" in r.headers["vary"]
    # Beta's key from Alpha's origin: refused before running, no grant.
    r = await tenant_query(api, b, "https://app.alpha.test")
    assert r.json()["errors"][0]["extensions"]["code"] == "ORIGIN_NOT_ALLOWED"
    assert "data" not in r.json() and "access-control-allow-origin" not in r.headers
    # Same-origin and non-browser callers are untouched.
    assert (await tenant_query(api, b, "http://console.test")).json()["data"]
    r = await tenant_query(api, b, None)
    assert r.json()["data"] and "access-control-allow-origin" not in r.headers
    # No credential: only an error, readable by origins a preflight would be granted to.
    r = await api.client.post(
        "/graphql",
        json={"query": "{ tenant { slug } }"},
        headers={"Origin": "https://app.alpha.test"},
    )
    assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert r.headers["access-control-allow-origin"] == "https://app.alpha.test"


async def test_a_storefront_key_can_be_narrowed_and_changes_apply_at_once(api: Api) -> None:
    t = await make_tenant(api.settings)
    admin = await api.admin_token(t)
    await allow(api, admin, "https://shop.example.com")
    await allow(api, admin, "https://admin.example.com")
    keys = await api.data("{ storefrontKeys { id } }", token=admin)
    key_id = keys["storefrontKeys"][0]["id"]
    narrowed = await allow(api, admin, "https://shop.example.com", key=key_id)
    assert narrowed["storefrontKeyId"] == key_id
    r = await tenant_query(api, t, "https://shop.example.com")
    assert r.headers["access-control-allow-origin"] == "https://shop.example.com"
    r = await tenant_query(api, t, "https://admin.example.com")  # on the tenant's list only
    assert r.json()["errors"][0]["extensions"]["code"] == "ORIGIN_NOT_ALLOWED"
    # Removing the tenant's entry ends the grant on the next request (the cache is dropped).
    origins = await api.data("{ allowedOrigins { id origin storefrontKeyId } }", token=admin)
    shop = next(
        o
        for o in origins["allowedOrigins"]
        if o["origin"] == "https://shop.example.com" and o["storefrontKeyId"] is None
    )
    await api.data(REMOVE, {"id": shop["id"]}, token=admin)
    r = await tenant_query(api, t, "https://shop.example.com")
    assert r.json()["errors"][0]["extensions"]["code"] == "ORIGIN_NOT_ALLOWED"
    assert (await preflight(api, "https://shop.example.com")).status_code == 403


async def test_server_to_server_routes_get_no_cors(api: Api) -> None:
    t = await make_tenant(api.settings)
    admin = await api.admin_token(t)
    await allow(api, admin, "https://app.example.com")
    origin = {"Origin": "https://app.example.com"}
    for path in ("/v1/usage/events", "/v1/keys/verify", "/oauth/token"):
        r = await api.client.options(path, headers={**origin, **PREFLIGHT})
        assert "access-control-allow-origin" not in r.headers, path
        r = await api.client.post(path, content=b"{}", headers=origin)
        assert r.status_code in (400, 401) and "access-control-allow-origin" not in r.headers


async def test_the_operator_setting_allows_an_origin_for_every_tenant(settings: Settings) -> None:
    app = create_app(with_settings(settings, cors_origins="http://localhost:5173"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as c:
            api = Api(c, settings)
            t = await make_tenant(settings)
            r = await preflight(api, "http://localhost:5173")
            assert r.status_code == 204
            r = await tenant_query(api, t, "http://localhost:5173")
            assert r.headers["access-control-allow-origin"] == "http://localhost:5173"
            assert (await preflight(api, "http://localhost:3000")).status_code == 403


# -- GraphQL over HTTP -----------------------------------------------------------------------
async def test_media_types_and_status_codes(api: Api) -> None:
    t = await make_tenant(api.settings)
    h = {"Accept": f"{GRJ}, application/json;q=0.9"}
    ok = await api.raw("{ tenant { slug } }", storefront=t.storefront_key, headers=h)
    assert ok.status_code == 200 and ok.headers["content-type"].startswith(GRJ)
    invalid = await api.raw("{ nope }", storefront=t.storefront_key, headers=h)
    assert invalid.status_code == 400 and "data" not in invalid.json()
    assert invalid.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    # Under application/json, the same well-formed request is a 200 with the code.
    plain = await api.raw("{ nope }", storefront=t.storefront_key)
    assert plain.status_code == 200 and plain.headers["content-type"] == "application/json"
    # A missing credential on a field that needs one: a challenge header with the code.
    r = await api.raw("{ me { id } }", storefront=t.storefront_key)
    assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert r.headers["www-authenticate"] == 'Bearer realm="aforo"'
    # Not well-formed: 4xx under both.
    r = await api.client.post(
        "/graphql", content=b"{", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    # A mutation by GET: 405.
    r = await api.client.get(
        "/graphql",
        params={"query": "mutation { logOut { __typename } }"},
        headers={"X-Storefront-Key": t.storefront_key, "Accept": "application/json"},
    )
    assert (
        r.status_code == 405 and r.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    )


async def test_a_subscription_over_plain_http_is_refused_with_a_code(api: Api) -> None:
    t = await make_tenant(api.settings)
    q = 'subscription { threadActivity(threadId: "00000000-0000-0000-0000-000000000000") { type } }'
    for accept, status in (("application/json", 200), (GRJ, 400)):
        r = await api.raw(q, storefront=t.storefront_key, headers={"Accept": accept})
        assert r.status_code == status
        error = r.json()["errors"][0]
        assert error["extensions"]["code"] == "SUBSCRIPTION_TRANSPORT_REQUIRED"
        assert "text/event-stream" in error["message"]


def _sha(q: str) -> str:
    return hashlib.sha256(q.encode()).hexdigest()


async def test_automatic_persisted_queries(api: Api) -> None:
    a = await make_tenant(api.settings, "Alpha")
    b = await make_tenant(api.settings, "Beta")
    q = "query Slug { tenant { slug } }"
    ext = {"persistedQuery": {"version": 1, "sha256Hash": _sha(q)}}
    key = {"X-Storefront-Key": a.storefront_key}

    async def post(body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        r = await api.client.post("/graphql", json=body, headers=headers)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    miss = await post({"extensions": ext}, key)
    assert miss["errors"][0] == {
        "message": "PersistedQueryNotFound",
        "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
    }
    wrong = {"persistedQuery": {"version": 1, "sha256Hash": _sha("other")}}
    bad = await post({"query": q, "extensions": wrong}, key)
    assert bad["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"
    assert (await post({"query": q, "extensions": ext}, key))["data"]["tenant"]["slug"] == "alpha"
    assert (await post({"extensions": ext}, key))["data"]["tenant"]["slug"] == "alpha"
    # Per tenant: Beta never registered it.
    other = await post({"extensions": ext}, {"X-Storefront-Key": b.storefront_key})
    assert other["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    # GET with the hash: a public read a CDN may cache, revalidated by its ETag.
    params = {"extensions": json.dumps(ext)}
    r = await api.client.get(
        "/graphql", params=params, headers={**key, "Accept": "application/json"}
    )
    assert r.status_code == 200 and r.json()["data"]["tenant"]["slug"] == "alpha"
    assert r.headers["cache-control"] == "public, max-age=60"
    assert "X-Storefront-Key" in r.headers["vary"]
    again = await api.client.get(
        "/graphql",
        params=params,
        headers={**key, "Accept": "application/json", "If-None-Match": r.headers["etag"]},
    )
    assert again.status_code == 304 and again.content == b""
    # A signed-in read is never public.
    admin = await api.admin_token(a)
    r = await api.client.get(
        "/graphql",
        params=params,
        headers={**key, "Accept": "application/json", "Authorization": f"Bearer {admin}"},
    )
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"


async def test_trusted_documents_mode_runs_registered_documents_only(api: Api) -> None:
    t = await make_tenant(api.settings)
    admin = await api.admin_token(t)
    q = "query Slug { tenant { slug } }"
    reg = await api.data(
        """mutation($d: [String!]!) { registerTrustedDocuments(documents: $d) {
             __typename ... on TrustedDocumentsRegistered { documents { sha256 } } } }""",
        {"d": [q]},
        token=admin,
    )
    assert reg["registerTrustedDocuments"]["documents"] == [{"sha256": _sha(q)}]
    bad = await api.data(
        """mutation { registerTrustedDocuments(documents: ["{ nope"]) {
             __typename ... on UserError { code field } } }""",
        token=admin,
    )
    assert bad["registerTrustedDocuments"] == {
        "__typename": "UserError",
        "code": "INVALID",
        "field": "documents.0",
    }
    await api.data(
        "mutation { setTrustedDocumentsOnly(enabled: true) { __typename } }", token=admin
    )
    key = {"X-Storefront-Key": t.storefront_key}
    r = await api.client.post("/graphql", json={"query": "{ tenant { name } }"}, headers=key)
    assert r.json()["errors"][0]["extensions"]["code"] == "TRUSTED_DOCUMENT_REQUIRED"
    ext = {"persistedQuery": {"version": 1, "sha256Hash": _sha(q)}}
    r = await api.client.post("/graphql", json={"extensions": ext}, headers=key)
    assert r.json() == {"data": {"tenant": {"slug": t.slug}}}
    r = await api.client.post("/graphql", json={"query": q}, headers=key)  # its full text: fine
    assert r.json()["data"]
    # Automatic registration does not open the list.
    q2 = "{ tenant { name } }"
    ext2 = {"persistedQuery": {"version": 1, "sha256Hash": _sha(q2)}}
    r = await api.client.post("/graphql", json={"query": q2, "extensions": ext2}, headers=key)
    assert r.json()["errors"][0]["extensions"]["code"] == "TRUSTED_DOCUMENT_REQUIRED"
    # Staff keep GraphiQL: an admin runs any document.
    assert (await api.data("{ tenant { name } }", token=admin))["tenant"]["name"]


# -- HTTP hygiene ----------------------------------------------------------------------------
async def test_security_headers_no_store_and_compression(api: Api) -> None:
    t = await make_tenant(api.settings)
    r = await api.raw(
        """mutation($i: LogInInput!) { logIn(input: $i) { __typename
             ... on AuthPayload { accessToken } } }""",
        {"i": {"email": t.admin_email, "password": t.admin_password}},
        storefront=t.storefront_key,
    )
    assert r.json()["data"]["logIn"]["accessToken"]
    assert r.headers["cache-control"] == "no-store"  # a token in the body
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    big = "{ __schema { types { name fields { name } } } }"
    for enc in ("br", "gzip"):
        r = await api.client.post(
            "/graphql",
            json={"query": big},
            headers={"Accept-Encoding": enc, "X-Storefront-Key": t.storefront_key},
        )
        assert r.headers["content-encoding"] == enc
        assert "Accept-Encoding" in r.headers["vary"]
        # httpx decodes both; the wire size is what shrank.
        assert len(r.content) > 3 * int(r.headers["content-length"])
    small = await api.client.get("/healthz", headers={"Accept-Encoding": "br"})
    assert "content-encoding" not in small.headers  # under the threshold


def test_one_reading_of_q_values_for_media_types_and_encodings() -> None:
    """``Accept`` and ``Accept-Encoding`` are read alike: a q among several parameters
    counts, q=0 refuses, a malformed q refuses, ties go to the item listed first."""
    assert qvalues("gzip;level=1;q=0, br") == {"gzip": 0.0, "br": 1.0 - 1e-6}
    assert pick_encoding("br;level=5;q=0, gzip") == "gzip"  # q after another parameter
    assert pick_encoding("br;q=zero, gzip;q=0") is None
    assert pick_encoding("*;q=0.5") == "br" and pick_encoding("identity") is None
    assert wants_graphql_response(f"{GRJ}, application/json")
    assert not wants_graphql_response(f"application/json, {GRJ}")  # a tie: the first listed
    assert not wants_graphql_response(f"application/json;charset=utf-8;q=1, {GRJ};q=0.9")
    assert wants_graphql_response(f"{GRJ};charset=utf-8;q=0.9, application/json;q=0.8")
    assert not wants_graphql_response(None) and not wants_graphql_response(f"{GRJ};q=0")


# -- the REST contract -----------------------------------------------------------------------
async def test_openapi_lists_every_rest_route_with_bodies_and_security(
    api: Api, app: FastAPI
) -> None:
    doc = (await api.client.get("/openapi.json")).json()
    legacy = (await api.client.get("/api/openapi.json")).json()
    assert legacy == doc
    rest = {
        (path, m.lower())
        for route in app.routes
        if (path := getattr(route, "path", "")).startswith(("/v1/", "/oauth/", "/api/v1/"))
        for m in getattr(route, "methods", None) or ()
        if m not in ("HEAD", "OPTIONS")
    }
    listed = {(p, m) for p, item in doc["paths"].items() for m in item}
    assert rest and rest <= listed, rest - listed
    for path, method in rest:
        op = doc["paths"][path][method]
        assert op.get("security"), (path, method)
        if method == "post":
            assert op["requestBody"]["content"], (path, method)
        for status, resp in op["responses"].items():
            if int(status) >= 400:
                assert resp["content"]["application/json"]["schema"], (path, status)
    verify = doc["paths"]["/v1/keys/verify"]["post"]
    assert verify["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/VerifyRequest"
    }
    assert [p["name"] for p in verify["parameters"]] == ["X-Api-Key"]
    schemes = doc["components"]["securitySchemes"]
    assert schemes["clientCredentials"]["flows"]["clientCredentials"]["tokenUrl"] == "/oauth/token"
    assert schemes["firehoseAccessKey"]["name"] == "X-Amz-Firehose-Access-Key"
    assert "HTTPValidationError" not in doc["components"]["schemas"]


@pytest.mark.parametrize("path", ["/v1/usage/events", "/api/v1/docs/api-specs"])
async def test_rest_refusals_use_the_one_envelope(api: Api, path: str) -> None:
    r = await api.client.post(path, json={})
    assert r.status_code == 401
    assert set(r.json()["error"]) >= {"code", "message"}
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.headers["cache-control"] == "no-store"


# -- log levels ------------------------------------------------------------------------------
async def test_client_errors_log_one_line_bugs_log_a_traceback(
    api: Api, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = await make_tenant(api.settings)
    dev = (await api.sign_up(t, "dev@example.com"))["accessToken"]
    caplog.clear()
    with caplog.at_level(logging.INFO):
        await api.raw("{ tenant { name } }", storefront="pk_unknown")  # bad credential
        await api.raw("{ nope }", storefront=t.storefront_key)  # validation
        # A mistyped input: graphql-core's message quotes the value, password included.
        mistyped = "mutation($i: LogInInput!) { logIn(input: $i) { __typename } }"
        secret = {"email": "dev@example.com", "password": "hunter2 secret words", "zz": 1}
        await api.raw(mistyped, {"i": secret}, storefront=t.storefront_key)
        await api.raw(
            'mutation { logIn(input: {email: "a@b.c", password: "hunter2 secret words", zz: 1})'
            " { __typename } }",
            storefront=t.storefront_key,
        )
        await api.raw("{ allowedOrigins { id } }", token=dev)  # permission
        await api.raw("{ " + "a: tenant { id } " * 40 + "}", storefront=t.storefront_key)
        await api.client.post("/v1/usage/events", json={})  # REST, no credential
        await api.client.post("/api/v1/docs/api-specs", json={}, headers={"Authorization": "x"})
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], [
        (r.name, r.levelname, r.getMessage())
        for r in caplog.records
        if r.levelno >= logging.WARNING
    ]
    assert not [r for r in caplog.records if r.exc_info]
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    for code in ("INVALID_STOREFRONT_KEY", "GRAPHQL_VALIDATION_FAILED", "FORBIDDEN"):
        assert any(code in m for m in refused), (code, refused)
    assert not [r for r in caplog.records if "hunter2" in r.getMessage()], refused

    # Our bug: masked for the client, logged at ERROR with its traceback.
    async def broken(*_: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("aforo.services.tenants.current_tenant", broken)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        body = await api.gql("{ tenant { name } }", storefront=t.storefront_key)
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "a bug" not in json.dumps(body)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and errors[0].exc_info and "a bug" in str(errors[0].exc_info[1])
