"""Spec import (OpenAPI 3.0/3.1, GraphQL), versions, diff, URL import and live sync, REST."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from aforo.app import create_app
from aforo.config import Settings
from aforo.models.outbox import OutboxEvent
from aforo.services.specs import sync as spec_sync
from tests.conftest import with_settings
from tests.support import Api, make_tenant
from tests.test_docs import count_statements, make_product
from tests.test_outbound import LocalServer, local_server  # noqa: F401 - fixture

PETS = """openapi: 3.0.3
info: {title: Pets, version: "1.0"}
servers: [{url: "https://api.pets.test/v1"}]
tags: [{name: pets, description: All about pets}]
components:
  securitySchemes:
    bearer: {type: http, scheme: bearer}
  schemas:
    Pet:
      type: object
      required: [name]
      properties:
        name: {type: string}
        age: {type: integer}
        parent: {$ref: '#/components/schemas/Pet'}
security: [{bearer: []}]
paths:
  /pets:
    get:
      operationId: listPets
      tags: [pets]
      parameters:
        - {name: limit, in: query, schema: {type: integer, default: 10}}
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {type: array, items: {$ref: '#/components/schemas/Pet'}}
    post:
      operationId: createPet
      tags: [pets]
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Pet'}
            example: {name: Rex}
      responses: {"201": {description: created}}
  /pets/{petId}:
    get:
      operationId: getPet
      tags: [pets]
      parameters:
        - {name: petId, in: path, required: true, schema: {type: string}}
      responses:
        "200":
          description: ok
          content: {application/json: {schema: {$ref: '#/components/schemas/Pet'}}}
"""

IMPORT = """mutation($i: ImportSpecInput!) { importSpec(input: $i) { __typename
  ... on SpecImported { created spec { id name sourceUrl }
      version { id number operations { key } } }
  ... on SpecInvalid { code message field problems { pointer line message } }
  ... on UserError { code message field } } }"""


async def _setup(api: Api, app: FastAPI) -> tuple[Any, str, str]:
    t = await make_tenant(api.settings)
    token = await api.admin_token(t)
    return t, token, await make_product(app, t)


async def _import(api: Api, token: str, **i: Any) -> dict[str, Any]:
    d = await api.data(IMPORT, {"i": i}, token=token)
    result: dict[str, Any] = d["importSpec"]
    return result


async def test_openapi_import_reference_and_idempotent_reimport(api: Api, app: FastAPI) -> None:
    t, token, pid = await _setup(api, app)
    r = await _import(api, token, productId=pid, format="OPENAPI_3", content=PETS)
    assert r["__typename"] == "SpecImported" and r["created"] is True
    assert [o["key"] for o in r["version"]["operations"]] == [
        "GET /pets",
        "POST /pets",
        "GET /pets/{petId}",
    ]
    again = await _import(api, token, productId=pid, format="OPENAPI_3", content=PETS)
    assert again["created"] is False
    assert again["version"]["id"] == r["version"]["id"] and again["spec"]["id"] == r["spec"]["id"]
    for i in range(3):  # more versions, so the statement count covers lists of lists
        await _import(api, token, productId=pid, format="OPENAPI_3", content=PETS + f"\n# {i}\n")
    q = """query($p: ID!) { apiSpecs(productId: $p) { name versions(first: 4) { number
      tags { name description operations(first: 10) { operationId method path summary
        parameters { name location required schema example }
        requestBody { required content { mediaType example schema } }
        responses { status content { mediaType schema } } } } } } }"""
    with count_statements(app) as seen:
        d = await api.data(q, {"p": pid}, storefront=t.storefront_key)
    # specs, versions, operations by tag, then one per level of referenced components: four
    # statements however many versions and operations
    assert len(seen) == 4, seen
    spec = d["apiSpecs"][0]
    assert [v["number"] for v in spec["versions"]] == [4, 3, 2, 1]
    tag = spec["versions"][0]["tags"][0]
    assert (tag["name"], tag["description"]) == ("pets", "All about pets")
    ops = {o["operationId"]: o for o in tag["operations"]}
    assert ops["listPets"]["parameters"][0] == {
        "name": "limit",
        "location": "query",
        "required": False,
        "schema": {"type": "integer", "default": 10},
        "example": 10,
    }
    assert ops["createPet"]["requestBody"]["content"][0]["example"] == {"name": "Rex"}
    pet = ops["getPet"]["responses"][0]["content"][0]["schema"]
    assert pet["x-component"] == "Pet"  # the model's name, and its properties in spec order
    assert list(pet["properties"]) == ["name", "age", "parent"]
    assert pet["properties"]["name"] == {"type": "string"}
    # the cycle Pet.parent -> Pet stays a marked reference instead of recursing forever
    assert pet["properties"]["parent"]["x-circular"] is True


async def test_validation_errors_carry_pointer_and_line(api: Api, app: FastAPI) -> None:
    _t, token, pid = await _setup(api, app)
    bad = PETS.replace(
        "- {name: petId, in: path, required: true", "- {name: petId, in: body, required: true"
    )
    r = await _import(api, token, productId=pid, format="OPENAPI_3", content=bad)
    assert r["__typename"] == "SpecInvalid" and r["code"] == "SPEC_INVALID"
    p = r["problems"][0]
    assert p["pointer"] == "/paths/~1pets~1{petId}/get/parameters/0/in"
    assert p["line"] == 45  # the line of that parameter in the YAML
    dangling = PETS.replace(
        "$ref: '#/components/schemas/Pet'}\n            example",
        "$ref: '#/components/schemas/Nope'}\n            example",
    )
    r = await _import(api, token, productId=pid, format="OPENAPI_3", content=dangling)
    assert r["problems"][0]["pointer"].endswith(
        "/requestBody/content/application~1json/schema/$ref"
    )
    assert "points at nothing" in r["problems"][0]["message"]
    r = await _import(
        api, token, productId=pid, format="OPENAPI_3", content='{"swagger": "2.0", "info": {}}'
    )  # Swagger 2.0 is converted on import; an invalid one is refused at its own pointers
    assert r["code"] == "SPEC_INVALID" and [p["pointer"] for p in r["problems"]] == [
        "/info",
        "/paths",
    ]
    r = await _import(
        api, token, productId=pid, format="OPENAPI_3", content="openapi: 3.0.0\ninfo:\n\ttitle: x\n"
    )
    assert r["code"] == "SPEC_INVALID" and r["problems"][0]["line"] == 3  # the tab
    r = await _import(api, token, productId=pid, format="OPENAPI_3")
    assert (r["code"], r["field"]) == ("INVALID", "content")
    r = await _import(api, token, productId=str(uuid.uuid4()), format="OPENAPI_3", content=PETS)
    assert (r["code"], r["field"]) == ("NOT_FOUND", "productId")
    d = await api.data("query($p: ID!) { apiSpecs(productId: $p) { id } }", {"p": pid}, token=token)
    assert d["apiSpecs"] == []  # nothing half-written


OPENAPI_31 = {
    "openapi": "3.1.0",
    "info": {"title": "Orders", "version": "2"},
    "paths": {
        "/orders/{id}": {
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "get": {
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "id": {"type": "string"},
                                        "total": {"type": ["number", "null"]},
                                        "note": {"type": "string"},
                                    },
                                }
                            }
                        },
                    }
                }
            },
            "delete": {"responses": {"204": {"description": "gone"}}},
        }
    },
}


async def test_diff_flags_breaking_changes(api: Api, app: FastAPI) -> None:
    _t, token, pid = await _setup(api, app)
    v1 = await _import(
        api, token, productId=pid, format="OPENAPI_3", content=json.dumps(OPENAPI_31)
    )
    changed = json.loads(json.dumps(OPENAPI_31))
    item = changed["paths"]["/orders/{id}"]
    del item["delete"]
    item["get"]["parameters"] = [
        {"name": "expand", "in": "query", "required": True, "schema": {"type": "string"}}
    ]
    props = item["get"]["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
    del props["note"]
    item["parameters"][0]["schema"] = {"type": "string", "enum": ["a", "b"]}
    changed["paths"]["/orders"] = {"post": {"responses": {"201": {"description": "made"}}}}
    v2 = await _import(api, token, productId=pid, format="OPENAPI_3", content=json.dumps(changed))
    assert v2["spec"]["id"] == v1["spec"]["id"] and v2["version"]["number"] == 2
    d = await api.data(
        """query($a: ID!, $b: ID!) { specDiff(from: $a, to: $b) {
             breaking changes { key kind breaking details } } }""",
        {"a": v1["version"]["id"], "b": v2["version"]["id"]},
        token=token,
    )
    diff = d["specDiff"]
    assert diff["breaking"] is True
    by_key = {c["key"]: c for c in diff["changes"]}
    assert (
        by_key["DELETE /orders/{id}"]["kind"] == "REMOVED"
        and by_key["DELETE /orders/{id}"]["breaking"]
    )
    assert by_key["POST /orders"] == {
        "key": "POST /orders",
        "kind": "ADDED",
        "breaking": False,
        "details": ["operation added"],
    }
    details = " | ".join(by_key["GET /orders/{id}"]["details"])
    assert "query parameter expand added (required)" in details
    assert "response 200 property note: response field removed" in details
    assert "now restricted" in details  # path id narrowed to an enum
    assert by_key["GET /orders/{id}"]["breaking"] is True


SDL = '''
"""Shop API"""
schema { query: Query mutation: Mutation subscription: Subscription }
type Query { "A user by id" user(id: ID!): User  users(first: Int = 10): [User!]! }
type Mutation { rename(id: ID!, name: String!): User! }
type Subscription { userChanged(id: ID!): User }
type User { id: ID! name: String! friends: [User!]! role: Role }
enum Role { ADMIN DEV }
'''


async def test_graphql_sdl_and_introspection(api: Api, app: FastAPI) -> None:
    from graphql import build_schema, get_introspection_query, graphql_sync

    _t, token, pid = await _setup(api, app)
    r = await _import(
        api,
        token,
        productId=pid,
        format="GRAPHQL",
        content=SDL,
        serverUrl="https://shop.test/graphql",
    )
    assert [o["key"] for o in r["version"]["operations"]] == [
        "query user",
        "query users",
        "mutation rename",
        "subscription userChanged",
    ]
    q = """query($id: ID!) { apiSpec(id: $id) { currentVersion { operations { key method
        parameters { name required schema } responses { content { schema } } } } } }"""
    d = await api.data(q, {"id": r["spec"]["id"]}, token=token)
    ops = {o["key"]: o for o in d["apiSpec"]["currentVersion"]["operations"]}
    rename = ops["mutation rename"]
    assert rename["method"] == "MUTATION"
    assert [
        (p["name"], p["required"], p["schema"]["x-graphql-type"]) for p in rename["parameters"]
    ] == [("id", True, "ID!"), ("name", True, "String!")]
    assert ops["query users"]["parameters"][0]["required"] is False  # has a default
    user = ops["query user"]["responses"][0]["content"][0]["schema"]
    assert user["x-graphql-type"] == "User" and user["properties"]["role"]["enum"] == [
        "ADMIN",
        "DEV",
    ]
    intro = graphql_sync(build_schema(SDL), get_introspection_query()).data
    r2 = await _import(
        api,
        token,
        productId=pid,
        format="GRAPHQL",
        content=json.dumps({"data": intro}),
        name="Shop (introspection)",
    )
    assert len(r2["version"]["operations"]) == 4
    bad = await _import(
        api, token, productId=pid, format="GRAPHQL", content="type Query {\n  x: Nope\n}"
    )
    assert bad["__typename"] == "SpecInvalid"


async def test_url_import_within_the_allowlist_then_syncs_with_etag(
    api: Api,
    app: FastAPI,
    local_server: LocalServer,  # noqa: F811
) -> None:
    """The tests' operator policy opens loopback (conftest); a tenant's allow-list narrows."""
    t, token, pid = await _setup(api, app)
    state = {"body": PETS.encode(), "etag": '"v1"'}

    def spec(r: Any) -> tuple[int, dict[str, str], bytes]:
        if r.headers.get("if-none-match") == state["etag"]:
            return 304, {"ETag": state["etag"]}, b""
        return 200, {"ETag": state["etag"], "Content-Type": "application/yaml"}, state["body"]

    local_server.routes["/openapi.yaml"] = spec
    url = local_server.url("/openapi.yaml")
    allow = await api.data(
        """mutation { addOutboundAllow(entry: "*.Example.com", note: "tests") {
             ... on OutboundAllowEntry { id entry } ... on UserError { code } } }""",
        token=token,
    )
    assert allow["addOutboundAllow"]["entry"] == "*.example.com"
    refused = await _import(api, token, productId=pid, format="OPENAPI_3", sourceUrl=url)
    assert (refused["code"], refused["field"]) == ("OUTBOUND_NOT_ALLOWED", "sourceUrl")
    await api.data(
        "mutation($id: ID!) { removeOutboundAllow(id: $id) { __typename } }",
        {"id": allow["addOutboundAllow"]["id"]},
        token=token,
    )
    r = await _import(api, token, productId=pid, format="OPENAPI_3", sourceUrl=url)
    assert r["created"] is True and r["spec"]["sourceUrl"] == url
    sync = """mutation($id: ID!) { syncSpec(id: $id) { __typename
        ... on SpecSynced { changed notModified version { number } spec { lastError } }
        ... on SpecInvalid { code } ... on UserError { code } } }"""
    d = await api.data(sync, {"id": r["spec"]["id"]}, token=token)
    assert d["syncSpec"]["notModified"] is True and d["syncSpec"]["changed"] is False
    assert local_server.requests[-1].headers["if-none-match"] == '"v1"'
    state["body"] = PETS.replace("operationId: getPet", "operationId: fetchPet").encode()
    state["etag"] = '"v2"'
    d = await api.data(sync, {"id": r["spec"]["id"]}, token=token)
    assert d["syncSpec"]["changed"] is True and d["syncSpec"]["version"]["number"] == 2
    # a broken remote document is recorded on the spec; the current version stays
    state["body"], state["etag"] = b"openapi: 3.0.0\ninfo: 7\n", '"v3"'
    d = await api.data(sync, {"id": r["spec"]["id"]}, token=token)
    assert d["syncSpec"]["code"] == "SPEC_INVALID"
    # the scheduled pass (what the app's background task runs) picks the spec up as due
    state["body"], state["etag"] = PETS.replace("title: Pets", "title: Pets v3").encode(), '"v4"'
    rt = app.state.runtime
    assert await spec_sync.run_once(rt.maker, rt.transaction, interval_s=0) >= 1
    tid = uuid.UUID(t.id)
    async with rt.transaction(tid) as s:
        events = list(
            await s.scalars(select(OutboxEvent).where(OutboxEvent.type == "spec.published"))
        )
    assert [e.payload["version"] for e in sorted(events, key=lambda e: e.payload["version"])] == [
        1,
        2,
        3,
    ]
    assert {e.topic for e in events} == {"aforo.docs.events"}
    d = await api.data(
        """query($id: ID!) { apiSpec(id: $id) { lastError currentVersion { number title } } }""",
        {"id": r["spec"]["id"]},
        token=token,
    )
    assert d["apiSpec"] == {"lastError": None, "currentVersion": {"number": 3, "title": "Pets v3"}}


async def test_rest_import_json_and_multipart(
    api: Api,
    app: FastAPI,
    local_server: LocalServer,  # noqa: F811
) -> None:
    t, token, pid = await _setup(api, app)
    local_server.routes["/spec.json"] = lambda r: (200, {}, json.dumps(OPENAPI_31).encode())
    auth = {"Authorization": f"Bearer {token}"}
    r = await api.client.post(
        "/api/v1/docs/api-specs",
        json={
            "product_id": pid,
            "spec_format": "OPENAPI_3",
            "source_url": local_server.url("/spec.json"),
        },
        headers=auth,
    )
    assert r.status_code == 201 and r.json()["operations"] == 2
    files = {"file": ("pets.yaml", PETS.encode(), "application/yaml")}
    data = {"product_id": pid, "spec_format": "OPENAPI_3"}
    r = await api.client.post("/api/v1/docs/api-specs", data=data, files=files, headers=auth)
    assert r.status_code == 201 and r.json()["operations"] == 3
    r = await api.client.post("/api/v1/docs/api-specs", data=data, files=files, headers=auth)
    assert r.status_code == 200 and r.json()["created"] is False
    bad = {
        "file": ("pets.yaml", b"openapi: 3.0.0\ninfo:\n  title: x\npaths: {}\n", "application/yaml")
    }
    r = await api.client.post("/api/v1/docs/api-specs", data=data, files=bad, headers=auth)
    assert r.status_code == 422
    assert r.json()["error"]["problems"][0] == {
        "pointer": "/info/version",
        "line": 2,
        "message": "info.version must be a string",
        "file": None,
    }  # version is missing: the line of info
    r = await api.client.post(
        "/api/v1/docs/api-specs", json={"product_id": pid, "spec_format": "RAML"}, headers=auth
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "spec_format"
    huge = {"file": ("big.yaml", b"x" * (9 * 1024 * 1024), "application/yaml")}
    r = await api.client.post("/api/v1/docs/api-specs", data=data, files=huge, headers=auth)
    assert r.status_code == 422 and r.json()["error"]["field"] == "file"
    r = await api.client.post("/api/v1/docs/api-specs", data=data, files=files)
    assert r.status_code == 401
    dev = await api.sign_up(t, "dev@example.com")
    r = await api.client.post(
        "/api/v1/docs/api-specs",
        data=data,
        files=files,
        headers={"Authorization": f"Bearer {dev['accessToken']}"},
    )
    assert r.status_code == 403


async def test_app_lifespan_runs_the_scheduled_sync(
    api: Api,
    app: FastAPI,
    settings: Settings,
    local_server: LocalServer,  # noqa: F811
) -> None:
    """With AFORO_SPEC_SYNC_INTERVAL set, the app's background task re-fetches URL specs."""
    _t, token, pid = await _setup(api, app)
    state = {"body": PETS.encode()}
    local_server.routes["/live.yaml"] = lambda r: (200, {}, state["body"])
    r = await _import(
        api, token, productId=pid, format="OPENAPI_3", sourceUrl=local_server.url("/live.yaml")
    )
    state["body"] = PETS.replace("title: Pets", "title: Pets live").encode()
    fast = create_app(with_settings(settings, spec_sync_interval_s=0.2))
    q = """query($id: ID!) { apiSpec(id: $id) { currentVersion { number title } } }"""
    async with fast.router.lifespan_context(fast):
        transport = httpx.ASGITransport(app=fast)
        async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as c:
            live = Api(c, settings)
            for _ in range(200):  # polls until the background pass has run (bounded)
                d = await live.data(q, {"id": r["spec"]["id"]}, token=token)
                if d["apiSpec"]["currentVersion"]["number"] == 2:
                    break
                await asyncio.sleep(0.05)
    assert d["apiSpec"]["currentVersion"] == {"number": 2, "title": "Pets live"}


async def test_specs_are_isolated_between_tenants(api: Api, app: FastAPI) -> None:
    t, token, pid = await _setup(api, app)
    r = await _import(api, token, productId=pid, format="OPENAPI_3", content=PETS)
    other = await make_tenant(api.settings, "Other")
    other_token = await api.admin_token(other)
    q = "query($id: ID!) { apiSpec(id: $id) { id } }"
    seen = await api.gql(q, {"id": r["spec"]["id"]}, storefront=other.storefront_key)
    assert seen["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    d = await api.data(
        "query($p: ID!) { apiSpecs(productId: $p) { id } }", {"p": pid}, token=other_token
    )
    assert d["apiSpecs"] == []
    stolen = await _import(api, other_token, productId=pid, format="OPENAPI_3", content=PETS)
    assert (stolen["code"], stolen["field"]) == ("NOT_FOUND", "productId")
    sync = await api.data(
        "mutation($id: ID!) { syncSpec(id: $id) { ... on UserError { code field } } }",
        {"id": r["spec"]["id"]},
        token=other_token,
    )
    assert sync["syncSpec"] == {"code": "NOT_FOUND", "field": "id"}
    assert t.id != other.id
