"""Where specs come from: several files, a zip, a URL whose relative $refs name other files
(each fetched through the outbound guard), and Swagger 2.0 converted to OpenAPI 3.0."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from typing import Any

import yaml
from fastapi import FastAPI

from tests.spec_shapes import multi_file, swagger2_petstore, to_yaml, zipped
from tests.support import Api, make_tenant
from tests.test_docs import make_product
from tests.test_outbound import LocalServer, local_server  # noqa: F401 - fixture
from tests.test_specs import IMPORT

REFERENCE = """query($id: ID!) { apiSpec(id: $id) { currentVersion { sourceVersion files
  components(kind: "schemas") { name }
  operations { key operationId
    parameters { name location style explode schema }
    requestBody { content { mediaType schema } }
    responses { status headers { name description schema } content { mediaType schema example } }
  } } } }"""


async def _setup(api: Api, app: FastAPI) -> tuple[Any, str, str]:
    t = await make_tenant(api.settings)
    return t, await api.admin_token(t), await make_product(app, t)


async def _upload(
    api: Api, token: str, pid: str, files: list[tuple[str, bytes]], **form: str
) -> Any:
    return await api.client.post(
        "/api/v1/docs/api-specs",
        data={"product_id": pid, "spec_format": "OPENAPI_3", **form},
        files=[("file", (name, content, "application/octet-stream")) for name, content in files],
        headers={"Authorization": f"Bearer {token}"},
    )


def _check_bundle(v: dict[str, Any]) -> None:
    """What every route to the multi-file spec must give."""
    ops = {o["key"]: o for o in v["operations"]}
    assert list(ops) == [
        f"{m} /v2/thing{r}s{s}"
        for r in range(3)
        for m, s in (("GET", ""), ("POST", ""), ("GET", "/{id}"))
    ]
    listing = ops["GET /v2/thing0s"]
    # operation-level $ref inlined, with the shared parameter, header and response it names
    assert listing["operationId"] == "list_thing0s"
    assert [(p["name"], p["schema"]["default"]) for p in listing["parameters"]] == [
        ("per_page", 20)
    ]
    ok = listing["responses"][0]
    assert ok["headers"] == [
        {
            "name": "ratelimit-limit",
            "description": "Requests per hour.",
            "schema": {"type": "integer"},
        }
    ]
    items = ok["content"][0]["schema"]["properties"]["thing0s"]["items"]
    assert items["x-component"] == "thing0"  # hoisted under its own name
    assert items["properties"]["related"]["x-component"] == "thing1"  # across files
    unauthorized = listing["responses"][1]
    assert unauthorized["status"] == "401"
    assert unauthorized["content"][0]["schema"]["x-component"] == "error"
    # the path item of /v2/thing0s/{id} came from a file, its parameter too
    item = ops["GET /v2/thing0s/{id}"]
    assert [p["name"] for p in item["parameters"]] == ["id"]
    names = [c["name"] for c in v["components"]]
    assert names[:3] == ["thing0", "thing1", "thing2"] and "error" in names


async def test_several_files_a_zip_and_a_root_alone(api: Api, app: FastAPI) -> None:
    t, token, pid = await _setup(api, app)
    files = multi_file()
    r = await _upload(api, token, pid, list(files.items()))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["operations"] == 9 and body["files"][0] == "openapi.yaml"
    assert len(body["files"]) == len(files)
    d = await api.data(REFERENCE, {"id": body["spec_id"]}, storefront=t.storefront_key)
    _check_bundle(d["apiSpec"]["currentVersion"])

    # the same files zipped (inside a folder, as archives often are)
    r = await _upload(api, token, pid, [("cloud.zip", zipped(files))])
    assert r.status_code == 201, r.text
    d = await api.data(REFERENCE, {"id": r.json()["spec_id"]}, storefront=t.storefront_key)
    _check_bundle(d["apiSpec"]["currentVersion"])

    # through GraphQL too: files by path
    gql_files = [{"path": k, "content": v.decode()} for k, v in files.items()]
    i = {"productId": pid, "format": "OPENAPI_3", "files": gql_files, "name": "g"}
    d = await api.data(IMPORT, {"i": i}, token=token)
    assert d["importSpec"]["__typename"] == "SpecImported"

    # the root alone: the cause, named first
    r = await _upload(api, token, pid, [("openapi.yaml", files["openapi.yaml"])])
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["problems"][0]["message"].startswith(
        "external $refs to 9 files are not resolved: 'resources/thing0/thing0_item.yml' "
        "(not uploaded)"
    )
    assert error["total"] == 10

    # a broken reference inside another file: that file, its pointer and line
    broken = dict(files)
    broken["models/thing1.yml"] = broken["models/thing1.yml"].replace(b"thing2.yml", b"nope.yml")
    r = await _upload(api, token, pid, list(broken.items()))
    problems = r.json()["error"]["problems"]
    assert problems[0]["message"].startswith(
        "external $refs to 1 file are not resolved: 'models/nope.yml'"
    )
    inner = next(p for p in problems if p["file"] == "models/thing1.yml")
    assert inner["pointer"] == "/properties/related/$ref" and inner["line"] == 12


async def test_archives_are_bounded(api: Api, app: FastAPI) -> None:
    _t, token, pid = await _setup(api, app)

    def zip_of(entries: list[tuple[str, bytes]]) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name, content in entries:
                z.writestr(name, content)
        return buf.getvalue()

    # 2 MiB that deflate a thousandfold: the ratio gives it away before it is inflated
    bomb = zip_of([("openapi.yaml", b"openapi: 3.1.0\n" + b" " * (2 * 1024 * 1024))])
    traversal = zip_of([("../../etc/openapi.yaml", b"openapi: 3.1.0")])
    cases = {
        "bomb": (bomb, "SPEC_TOO_LARGE"),
        "traversal": (traversal, "SPEC_ARCHIVE_INVALID"),
        "many": (zip_of([(f"f{i}.yaml", b"a: 1") for i in range(2001)]), "SPEC_ARCHIVE_INVALID"),
        "not a zip": (b"PK\x03\x04 garbage", "SPEC_ARCHIVE_INVALID"),
        "no spec inside": (zip_of([("README.md", b"hi")]), "SPEC_ARCHIVE_INVALID"),
    }
    for name, (content, code) in cases.items():
        r = await _upload(api, token, pid, [("spec.zip", content)])
        assert r.status_code == 422, (name, r.text)
        assert (r.json()["error"]["code"], r.json()["error"]["field"]) == (code, "file"), name
    two_roots = [("a/openapi.yaml", b"openapi: 3.1.0"), ("b/openapi.yaml", b"openapi: 3.1.0")]
    r = await _upload(api, token, pid, two_roots)
    assert r.json()["error"]["field"] == "root"
    r = await _upload(api, token, pid, two_roots, root="b/openapi.yaml")
    assert r.json()["error"]["problems"][0]["pointer"] == "/info"  # b is read, as asked


async def test_url_import_fetches_relative_refs_through_the_guard(
    api: Api,
    app: FastAPI,
    local_server: LocalServer,  # noqa: F811
) -> None:
    t, token, pid = await _setup(api, app)
    files = multi_file()
    state = {"files": dict(files)}

    def serve(path: str) -> Any:
        def route(r: Any) -> tuple[int, dict[str, str], bytes]:
            content = state["files"][path]
            etag = f'"{hashlib.sha256(content).hexdigest()[:12]}"'
            if r.headers.get("if-none-match") == etag:
                return 304, {"ETag": etag}, b""
            return 200, {"ETag": etag}, content

        return route

    for path in files:
        local_server.routes[f"/api/{path}"] = serve(path)
    url = local_server.url("/api/openapi.yaml")
    await api.data('mutation { addOutboundAllow(entry: "127.0.0.1") { __typename } }', token=token)
    i = {"productId": pid, "format": "OPENAPI_3", "sourceUrl": url}
    d = await api.data(IMPORT, {"i": i}, token=token)
    assert d["importSpec"]["__typename"] == "SpecImported", d
    spec_id = d["importSpec"]["spec"]["id"]
    ref = await api.data(REFERENCE, {"id": spec_id}, storefront=t.storefront_key)
    _check_bundle(ref["apiSpec"]["currentVersion"])
    fetched = [r.path for r in local_server.requests]
    assert sorted(fetched) == sorted(f"/api/{p}" for p in files)  # each once, cycles or not

    # A referenced file changes, the root does not (304): syncing finds the change.
    state["files"]["models/thing0.yml"] = state["files"]["models/thing0.yml"].replace(
        b"A thing0.", b"A thing0, changed."
    )
    sync_q = """mutation($id: ID!) { syncSpec(id: $id) { __typename
        ... on SpecSynced { changed version { number } }
        ... on SpecInvalid { problems { message } } } }"""
    sync = await api.data(sync_q, {"id": spec_id}, token=token)
    assert sync["syncSpec"] == {
        "__typename": "SpecSynced",
        "changed": True,
        "version": {"number": 2},
    }
    root_request = local_server.requests[-len(files)]
    assert root_request.path == "/api/openapi.yaml" and root_request.headers.get("if-none-match")

    # Another origin (same server, another host name) is neither the spec's nor allowed.
    other = f"http://localhost:{local_server.port}/api/models/error.yml"
    root = yaml.safe_load(files["openapi.yaml"])
    schema = {"$ref": other}
    root["paths"]["/v2/thing0s"]["get"] = {
        "responses": {
            "200": {"description": "ok", "content": {"application/json": {"schema": schema}}}
        }
    }
    state["files"]["openapi.yaml"] = to_yaml(root).encode()
    before = len(local_server.requests)
    sync = await api.data(sync_q, {"id": spec_id}, token=token)
    assert sync["syncSpec"]["__typename"] == "SpecInvalid"
    assert (
        "not on the spec's own origin nor an allow-listed host"
        in (sync["syncSpec"]["problems"][0]["message"])
    )
    assert all("localhost" not in r.headers.get("host", "") for r in local_server.requests[before:])


async def test_swagger2_is_converted_with_a_list_of_what_changed(api: Api, app: FastAPI) -> None:
    t, token, pid = await _setup(api, app)
    content = json.dumps(swagger2_petstore())
    i = {"productId": pid, "format": "OPENAPI_3", "content": content}
    d = await api.data(IMPORT, {"i": i}, token=token)
    assert d["importSpec"]["__typename"] == "SpecImported", d
    q = """query($id: ID!) { apiSpec(id: $id) { currentVersion { sourceVersion
        conversions { change count } serverList { url }
        securitySchemeList { name type location parameterName
          flows { kind authorizationUrl scopes { name description } } }
        operations { operationId
          parameters { name location style explode schema example }
          requestBody { required content { mediaType schema } }
          responses { status headers { name schema } content { mediaType schema example } }
          sampleRequest { url } } } } }"""
    d = await api.data(q, {"id": d["importSpec"]["spec"]["id"]}, storefront=t.storefront_key)
    v = d["apiSpec"]["currentVersion"]
    assert v["sourceVersion"] == "2.0"
    changes = {c["change"]: c["count"] for c in v["conversions"]}
    for change in (
        "swagger 2.0 → openapi 3.0.3",
        "host, basePath and schemes → servers",
        "body parameter → requestBody",
        "formData parameters → requestBody multipart/form-data",
        "formData parameters → requestBody application/x-www-form-urlencoded",
        "collectionFormat multi → style form, explode true",
        "collectionFormat csv → style form/simple, explode false",
        "type: file → type: string, format: binary",
        "oauth2 flow → flows",
    ):
        assert changes.get(change, 0) >= 1, (change, changes)
    assert changes["definitions → components/schemas"] == 2
    assert v["serverList"] == [{"url": "https://petstore.test/v2"}]
    schemes = {s["name"]: s for s in v["securitySchemeList"]}
    assert schemes["petstore_auth"]["flows"] == [
        {
            "kind": "implicit",
            "authorizationUrl": "https://petstore.test/oauth/authorize",
            "scopes": [
                {"name": "write:pets", "description": "modify pets"},
                {"name": "read:pets", "description": "read your pets"},
            ],
        }
    ]
    api_key = schemes["api_key"]
    assert (api_key["location"], api_key["parameterName"]) == ("header", "api_key")
    ops = {o["operationId"]: o for o in v["operations"]}
    add = ops["addPet"]["requestBody"]
    assert add["required"] is True
    assert add["content"][0]["mediaType"] == "application/json"
    pet = add["content"][0]["schema"]
    assert pet["x-component"] == "Pet" and pet["properties"]["status"]["nullable"] is True
    find = ops["findPetsByStatus"]
    assert [(p["name"], p["style"], p["explode"]) for p in find["parameters"]] == [
        ("status", "form", True),
        ("tags", "form", False),
    ]
    # multi: one status=… per value; csv (2.0's default): tags=a,b
    assert find["sampleRequest"]["url"] == (
        "https://petstore.test/v2/pet/findByStatus?status=available&tags=a,b"
    )
    ok = find["responses"][0]
    assert ok["headers"] == [
        {"name": "X-Rate-Limit", "schema": {"type": "integer", "format": "int32"}}
    ]
    assert [c["mediaType"] for c in ok["content"]] == ["application/json", "application/xml"]
    assert ok["content"][0]["example"] == [{"id": 1, "name": "doggie"}]
    upload = ops["uploadFile"]["requestBody"]["content"][0]
    assert upload["mediaType"] == "multipart/form-data"
    assert upload["schema"]["properties"]["file"] == {"type": "string", "format": "binary"}
    form = ops["updatePetWithForm"]["requestBody"]["content"][0]
    assert form["mediaType"] == "application/x-www-form-urlencoded"

    # a problem in a 2.0 document is reported where it is in that document
    bad = swagger2_petstore()
    bad["paths"]["/pet"]["post"]["parameters"][0]["in"] = "nowhere"
    text = json.dumps(bad, indent=2)
    i = {"productId": pid, "format": "OPENAPI_3", "content": text}
    r = await api.data(IMPORT, {"i": i}, token=token)
    p = r["importSpec"]["problems"][0]
    assert p["pointer"] == "/paths/~1pet/post/parameters/0/in"
    assert text.splitlines()[p["line"] - 1].strip() == '"in": "nowhere",'


async def test_graphql_schema_in_several_files(api: Api, app: FastAPI) -> None:
    t, token, pid = await _setup(api, app)
    files = [
        ("schema/query.graphql", b"type Query { user(id: ID!): User }"),
        ("schema/user.graphql", b"type User { id: ID! name: String }"),
        (
            "schema/orders.graphql",
            b"type Order { id: ID! }\nextend type Query { orders: [Order!]! }",
        ),
    ]
    r = await api.client.post(
        "/api/v1/docs/api-specs",
        data={"product_id": pid, "spec_format": "GRAPHQL"},
        files=[("file", (name, content, "text/plain")) for name, content in files],
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["operations"] == 2
    q = "query($id: ID!) { apiSpec(id: $id) { currentVersion { operations { key } } } }"
    d = await api.data(q, {"id": r.json()["spec_id"]}, storefront=t.storefront_key)
    keys = [o["key"] for o in d["apiSpec"]["currentVersion"]["operations"]]
    assert keys == ["query user", "query orders"]
