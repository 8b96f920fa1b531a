"""GraphQL abuse: each way a single request can ask for unbounded work is refused up front, by
a limit, with a stable code, never by a timeout: deep nesting along a recursive path, aliases
that multiply work, huge pages, oversized bodies and variables, batches, fragment cycles and
introspection amplification. Every list field taking ``first`` enforces the page maximum."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aforo.graphql_app import MAX_ALIASES, MAX_BODY_BYTES, MAX_DEPTH, MAX_TOKENS
from aforo.schema.base import MAX_PAGE
from tests.gateway import KeyWorld, make_key_world
from tests.support import Api
from tests.test_security_cost import NESTED_PAGED

TYPES = """{ __schema { queryType { name } types { name kind fields { name
  args { name type { kind name ofType { kind name ofType { kind name } } } }
  type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }"""


def unwrap(t: dict[str, Any]) -> dict[str, Any]:
    while t.get("ofType"):
        t = t["ofType"]
    return t


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


async def schema_types(api: Api, world: KeyWorld) -> dict[str, dict[str, Any]]:
    d = await api.data(TYPES, token=world.admin)
    return {t["name"]: t for t in d["__schema"]["types"]}


async def test_deep_nesting_along_a_recursive_path_is_refused(api: Api) -> None:
    world = await make_key_world(api)
    types = await schema_types(api, world)
    query = types["Query"]
    # A root field returning T, and a field of T returning T again: nest it past the limit.
    path = next(
        (root, t_field)
        for root in query["fields"]
        if not any(a["type"]["kind"] == "NON_NULL" for a in root["args"][1:])
        for t_field in types[unwrap(root["type"])["name"]]["fields"] or []
        if unwrap(t_field["type"])["name"] == unwrap(root["type"])["name"]
        and types[unwrap(root["type"])["name"]]["kind"] == "OBJECT"
    )
    root, child = path
    args = ", ".join(
        f'{a["name"]}: "{world.product_id}"'
        for a in root["args"]
        if a["type"]["kind"] == "NON_NULL"
    )
    head = f"{root['name']}({args})" if args else root["name"]

    def nested(levels: int) -> str:
        return "{ " + head + " { " + f"{child['name']} {{ " * levels + "id" + " }" * levels + " } }"

    r = await api.raw(nested(40), token=world.admin)
    assert r.status_code == 200
    assert codes(r.json()) == ["QUERY_TOO_DEEP"], r.json()
    assert f"maximum operation depth of {MAX_DEPTH}" in r.json()["errors"][0]["message"]
    assert r.json().get("data") is None
    ok = await api.gql(nested(MAX_DEPTH - 3), token=world.admin)
    assert "QUERY_TOO_DEEP" not in codes(ok)


async def test_aliases_tokens_and_fragment_cycles_are_refused(api: Api) -> None:
    world = await make_key_world(api)
    many = " ".join(
        f"a{i}: products(first: {MAX_PAGE}) {{ id name }}" for i in range(MAX_ALIASES + 1)
    )
    body = await api.gql("{ " + many + " }", token=world.admin)
    assert codes(body) == ["TOO_MANY_ALIASES"] and body.get("data") is None
    fine = " ".join(f"a{i}: products(first: 5) {{ id }}" for i in range(MAX_ALIASES))
    assert (await api.data("{ " + fine + " }", token=world.admin))["a0"]

    huge = "{ products { " + " ".join(["id"] * (MAX_TOKENS + 10)) + " } }"
    body = await api.gql(huge, token=world.admin)
    assert codes(body) == ["QUERY_TOO_LARGE"] and body.get("data") is None

    cycle = """{ products { ...A } }
      fragment A on Product { id ...B }
      fragment B on Product { name ...A }"""
    body = await api.gql(cycle, token=world.admin)
    assert "GRAPHQL_VALIDATION_FAILED" in codes(body) and body.get("data") is None
    assert any("Cannot spread fragment" in e["message"] for e in body["errors"])


async def test_introspection_amplification_is_refused(api: Api) -> None:
    world = await make_key_world(api)
    # Each level multiplies the answer by the number of fields in the schema.
    bomb = "{ __schema { types { fields { type { fields { type { fields { type { fields {"
    bomb += " name } } } } } } } } } }"
    body = await api.gql(bomb, storefront=world.tenant.storefront_key)
    assert codes(body) == ["INTROSPECTION_TOO_DEEP"], body
    assert body.get("data") is None
    # Introspection nests no deeper than the limits allow: GraphiQL's own query still works.
    full = await api.data(TYPES, storefront=world.tenant.storefront_key)
    assert full["__schema"]["queryType"]["name"] == "Query"


async def test_oversized_bodies_and_variables_are_refused(api: Api) -> None:
    world = await make_key_world(api)
    headers = {"Authorization": f"Bearer {world.admin}"}
    big = {
        "query": "query($v: String) { products { id } }",
        "variables": {"v": "x" * MAX_BODY_BYTES},
    }
    r = await api.client.post("/graphql", json=big, headers=headers)
    assert r.status_code == 413
    assert r.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length to trust
        yield b'{"query": "{ products { id } }", "variables": {"v": "'
        for _ in range(MAX_BODY_BYTES // 4096 + 1):
            yield b"x" * 4096
        yield b'"}}'

    r = await api.client.post(
        "/graphql", content=chunked(), headers={**headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 413
    assert r.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_batches_and_malformed_bodies_are_refused(api: Api) -> None:
    world = await make_key_world(api)
    headers = {"Authorization": f"Bearer {world.admin}"}
    batch = [{"query": "{ products { id } }"}] * 50
    r = await api.client.post("/graphql", json=batch, headers=headers)
    assert r.status_code == 400
    assert r.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert "batch" in r.json()["errors"][0]["message"].lower()
    # A JSON string, number or null body used to crash the view (a 500).
    for raw in (b"{", b"[]", b'"x"', b"5", b"null", b"{}", b'{"query": 5}'):
        r = await api.client.post(
            "/graphql", content=raw, headers={**headers, "Content-Type": "application/json"}
        )
        assert r.status_code == 400, (raw, r.text)
        assert r.json()["errors"][0]["extensions"]["code"], (raw, r.text)


# -- every list field taking `first` enforces the page maximum -----------------------------
def _filler(arg: dict[str, Any], world: KeyWorld, types: dict[str, Any]) -> str | None:
    """A value for a required argument (None: the argument is optional, leave it out)."""
    if arg["type"]["kind"] != "NON_NULL":
        return None
    t = unwrap(arg["type"])
    if t["name"] == "ID":
        return f'"{world.product_id}"'
    if t["name"] == "String":
        return '"api"'
    if t["name"] == "Int":
        return "1"
    if t["name"] == "Boolean":
        return "false"
    if types[t["name"]]["kind"] == "ENUM":
        return str(types[t["name"]]["enumValues"][0]["name"])
    raise AssertionError(f"add a filler for {t['name']}")


def _selection(type_name: str, types: dict[str, Any]) -> str:
    t = types[type_name]
    if t["kind"] in ("SCALAR", "ENUM"):
        return ""
    return "{ __typename }"


# Nested fields taking `first`, and the test that refuses their huge pages.
NESTED_CASES = {
    (owner, name): "tests/test_spec_reference.py::test_nested_pages_refuse_huge_pages"
    for owner, name in (
        ("SpecVersion", "operations"),
        ("SpecVersion", "webhooks"),
        ("SpecVersion", "components"),
        ("SpecVersion", "graphqlTypes"),
        ("SpecTag", "operations"),
        ("ApiOperation", "callbacks"),
    )
}


async def test_every_field_taking_first_refuses_a_huge_page(api: Api) -> None:
    world = await make_key_world(api)
    d = await api.data(
        TYPES.replace("types { name kind", "types { name kind enumValues { name }"),
        token=world.admin,
    )
    types = {t["name"]: t for t in d["__schema"]["types"]}
    paged = [
        (type_name, f)
        for type_name, t in types.items()
        if not type_name.startswith("__")
        for f in t["fields"] or []
        if any(a["name"] == "first" for a in f["args"])
    ]
    nested = {(t, f["name"]) for t, f in paged if t != "Query"} - set(NESTED_CASES)
    # Only root fields are walked here: a nested one needs its case in test_security_cost (or
    # test_spec_reference for the reference's pages).
    assert nested <= NESTED_PAGED, f"add a huge-page case for {nested - NESTED_PAGED}"
    roots = [f for t, f in paged if t == "Query"]
    assert len(roots) >= 10, [f["name"] for f in roots]
    for f in roots:
        args = [
            f"{a['name']}: {v}"
            for a in f["args"]
            if a["name"] != "first" and (v := _filler(a, world, types)) is not None
        ]
        selection = _selection(unwrap(f["type"])["name"], types)
        for first, refused in ((100_000, True), (MAX_PAGE + 1, True), (0, True), (20, False)):
            query = f"{{ {f['name']}({', '.join([*args, f'first: {first}'])}) {selection} }}"
            body = await api.gql(query, token=world.admin)
            errors = body.get("errors") or []
            if refused:
                assert [
                    (e["extensions"]["code"], e["extensions"].get("field")) for e in errors
                ] == [("INVALID", "first")], (f["name"], first, body)
            else:
                assert not errors, (f["name"], body)


async def test_huge_page_through_variables_is_refused_too(api: Api) -> None:
    world = await make_key_world(api)
    body = await api.gql(
        "query($n: Int) { products(first: $n) { id } }", {"n": 100_000}, token=world.admin
    )
    assert body["errors"][0]["extensions"] == {"code": "INVALID", "field": "first"}
    body = await api.gql(
        "query($n: Int) { products(first: $n) { id } }", {"n": 2**40}, token=world.admin
    )
    assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"]  # not even a 32-bit Int


async def test_search_docs_refuses_pages_past_its_own_maximum(api: Api) -> None:
    """Found by the walk: searchDocs clamped ``first`` silently instead of refusing it."""
    from aforo.services.docs import MAX_SEARCH_RESULTS

    world = await make_key_world(api)
    q = 'query($n: Int!) { searchDocs(productId: "%s", query: "api", first: $n) { rank } }'
    q %= world.product_id
    body = await api.gql(q, {"n": MAX_SEARCH_RESULTS + 1}, token=world.admin)
    assert body["errors"][0]["extensions"] == {"code": "INVALID", "field": "first"}
    assert str(MAX_SEARCH_RESULTS) in body["errors"][0]["message"]
    assert await api.data(q, {"n": MAX_SEARCH_RESULTS}, token=world.admin) == {"searchDocs": []}
