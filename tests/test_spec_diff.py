"""specDiff you can trust: allOf merged, path templates matched up to parameter names, request
and response rules as oasdiff has them, and GraphQL findings exactly graphql-core's."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from graphql import build_schema, find_breaking_changes, find_dangerous_changes
from hypothesis import given, settings
from hypothesis import strategies as st

from aforo.services.spec_import import parse
from aforo.services.spec_import.diff import ERR, INFO, WARN, Change, diff
from aforo.services.spec_import.graphql_diff import diff as graphql_diff
from tests.spec_shapes import petstore, petstore_expanded, saleor_like
from tests.support import Api, make_tenant
from tests.test_docs import make_product
from tests.test_specs import IMPORT

DIFF = """query($a: ID!, $b: ID!) { specDiff(from: $a, to: $b) { breaking
  changes { key kind breaking level details checks { id level message } } } }"""


async def _versions(api: Api, app: FastAPI, fmt: str, old: str, new: str) -> tuple[Any, str, str]:
    t = await make_tenant(api.settings)
    token = await api.admin_token(t)
    pid = await make_product(app, t)
    ids = []
    for content in (old, new):
        i = {"productId": pid, "format": fmt, "content": content, "name": "Spec"}
        d = await api.data(IMPORT, {"i": i}, token=token)
        ids.append(d["importSpec"]["version"]["id"])
    return t, ids[0], ids[1]


async def test_petstore_to_petstore_expanded(api: Api, app: FastAPI) -> None:
    t, a, b = await _versions(
        api, app, "OPENAPI_3", json.dumps(petstore()), json.dumps(petstore_expanded())
    )
    d = (await api.data(DIFF, {"a": a, "b": b}, storefront=t.storefront_key))["specDiff"]
    changes = {c["key"]: c for c in d["changes"]}
    # /pets/{petId} → /pets/{id}: the same operation, its parameter renamed
    assert set(changes) == {"GET /pets", "POST /pets", "GET /pets/{id}"}
    assert all(c["kind"] == "CHANGED" for c in changes.values())
    renamed = changes["GET /pets/{id}"]
    assert [c["id"] for c in renamed["checks"]] == [
        "request-path-parameter-renamed",
        "response-property-enum-value-added",
        "response-optional-property-added",
    ]
    assert renamed["checks"][0]["message"] == "path parameter petId renamed to id"
    assert renamed["breaking"] is False

    def ids(key: str) -> dict[str, str]:
        return {c["id"]: c["level"] for c in changes[key]["checks"]}

    # Fields moved into an allOf part are not "removed"; what really changed is reported.
    listing = ids("GET /pets")
    assert listing == {
        "request-parameter-enum-value-removed": ERR,  # "bird" no longer accepted
        "response-property-enum-value-added": WARN,  # "fish" may now come back
        "response-optional-property-added": INFO,  # nickname
    }
    assert ids("POST /pets") == {
        "request-property-enum-value-added": INFO,
        "new-optional-request-property": INFO,  # a new optional request field: not breaking
    }
    assert d["breaking"] is True
    texts = " | ".join(changes["GET /pets"]["details"])
    assert "query parameter kind: enum value 'bird' removed" in texts
    assert "response 200 property [].kind: enum value 'fish' added" in texts


def _spec(schema: dict[str, Any], *, request: bool, extra: dict[str, Any] | None = None) -> str:
    op: dict[str, Any] = {"responses": {"200": {"description": "ok"}}}
    if request:
        op["requestBody"] = {"content": {"application/json": {"schema": schema}}}
    else:
        op["responses"]["200"]["content"] = {"application/json": {"schema": schema}}
    op.update(extra or {})
    return json.dumps(
        {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {"/x": {"post": op}}}
    )


def _checks(old: str, new: str) -> dict[str, str]:
    a, b = parse("OPENAPI_3", old), parse("OPENAPI_3", new)
    comps = [{c["ref"]: c["body"] for c in p.components} for p in (a, b)]
    found: list[Change] = diff(a.operations, b.operations, *comps)
    return {c.id: c.level for change in found for c in change.checks}


OBJ = {"type": "object", "properties": {"a": {"type": "string", "maxLength": 10}}}

SCHEMA_RULES: list[tuple[str, bool, Callable[[dict[str, Any]], None], dict[str, str]]] = [
    # (name, request side?, change to the schema, checks expected)
    (
        "request field required",
        True,
        lambda s: s.update(required=["a"]),
        {"request-property-became-required": ERR},
    ),
    (
        "new required request field",
        True,
        lambda s: (s["properties"].update(b={"type": "string"}), s.update(required=["b"])),
        {"new-required-request-property": ERR},
    ),
    (
        "new optional request field",
        True,
        lambda s: s["properties"].update(b={"type": "string"}),
        {"new-optional-request-property": INFO},
    ),
    (
        "request maxLength down",
        True,
        lambda s: s["properties"]["a"].update(maxLength=5),
        {"request-property-max-length-decreased": ERR},
    ),
    (
        "request maxLength up",
        True,
        lambda s: s["properties"]["a"].update(maxLength=50),
        {"request-property-max-length-increased": INFO},
    ),
    (
        "request enum set",
        True,
        lambda s: s["properties"]["a"].update(enum=["x"]),
        {"request-property-became-enum": ERR},
    ),
    (
        "request field removed",
        True,
        lambda s: s["properties"].pop("a"),
        {"request-property-removed": WARN},
    ),
    (
        "request pattern added",
        True,
        lambda s: s["properties"]["a"].update(pattern="^x"),
        {"request-property-pattern-added": WARN},
    ),
    (
        "request type widened",
        True,
        lambda s: s["properties"]["a"].update(type=["string", "integer"]),
        {"request-property-type-generalized": INFO},
    ),
    (
        "request type changed",
        True,
        lambda s: s["properties"]["a"].update(type="integer"),
        {"request-property-type-changed": ERR},
    ),
    (
        "response maxLength up",
        False,
        lambda s: s["properties"]["a"].update(maxLength=50),
        {"response-property-max-length-increased": ERR},
    ),
    (
        "response maxLength down",
        False,
        lambda s: s["properties"]["a"].update(maxLength=5),
        {"response-property-max-length-decreased": INFO},
    ),
    (
        "response nullable",
        False,
        lambda s: s["properties"]["a"].update(type=["string", "null"]),
        {"response-property-became-nullable": ERR},
    ),
    (
        "response optional field removed",
        False,
        lambda s: s["properties"].pop("a"),
        {"response-optional-property-removed": WARN},
    ),
    (
        "response type changed",
        False,
        lambda s: s["properties"]["a"].update(type="integer"),
        {"response-property-type-changed": ERR},
    ),
    (
        "response oneOf added",
        False,
        lambda s: s["properties"]["a"].update(oneOf=[{"type": "string"}]),
        {"response-property-one-of-added": ERR},
    ),
    (
        "body type changed",
        True,
        lambda s: s.update(type="array"),
        {"request-body-type-changed": ERR},
    ),
]


@pytest.mark.parametrize(
    ("name", "request_side", "change", "expected"), SCHEMA_RULES, ids=[r[0] for r in SCHEMA_RULES]
)
def test_schema_rules_by_side(
    name: str,
    request_side: bool,
    change: Callable[[dict[str, Any]], None],
    expected: dict[str, str],
) -> None:
    new = copy.deepcopy(OBJ)
    change(new)
    assert _checks(_spec(OBJ, request=request_side), _spec(new, request=request_side)) == expected


def test_operation_rules() -> None:
    base = {
        "parameters": [
            {"name": "q", "in": "query", "schema": {"type": "string"}},
            {"name": "X-Id", "in": "header", "required": True, "schema": {"type": "string"}},
        ],
        "responses": {
            "200": {
                "description": "ok",
                "headers": {"X-Rate": {"required": True, "schema": {"type": "integer"}}},
                "content": {"application/json": {"schema": {"type": "object"}}, "text/csv": {}},
            },
            "404": {"description": "nope"},
        },
    }

    def spec(op: dict[str, Any]) -> str:
        doc = {
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1"},
            "paths": {
                "/x": {
                    "get": op,
                    "delete": {"deprecated": True, "responses": {"204": {"description": "ok"}}},
                    "put": {"responses": {"204": {"description": "ok"}}},
                }
            },
        }
        return json.dumps(doc)

    new = copy.deepcopy(base)
    new["parameters"][0]["required"] = True  # became required
    new["parameters"].append(
        {"name": "p", "in": "query", "required": True, "schema": {"type": "string"}}
    )
    new["parameters"].append({"name": "o", "in": "query", "schema": {"type": "string"}})
    new["parameters"] = [p for p in new["parameters"] if p["name"] != "X-Id"]
    del new["responses"]["404"]
    new["responses"]["200"]["headers"] = {}
    del new["responses"]["200"]["content"]["text/csv"]
    new["responses"]["201"] = {"description": "created"}
    old_doc, new_doc = spec(base), json.loads(spec(new))
    del new_doc["paths"]["/x"]["delete"]  # deprecated first: fine
    del new_doc["paths"]["/x"]["put"]  # not deprecated: breaking
    a, b = parse("OPENAPI_3", old_doc), parse("OPENAPI_3", json.dumps(new_doc))
    changes = {c.key: c for c in diff(a.operations, b.operations)}
    assert changes["DELETE /x"].kind == "REMOVED" and not changes["DELETE /x"].breaking
    assert changes["PUT /x"].kind == "REMOVED" and changes["PUT /x"].breaking
    assert {c.id: c.level for c in changes["GET /x"].checks} == {
        "request-parameter-became-required": ERR,
        "new-required-request-parameter": ERR,
        "new-optional-request-parameter": INFO,
        "request-parameter-removed": WARN,
        "required-response-header-removed": ERR,
        "response-media-type-removed": ERR,
        "response-non-success-status-removed": INFO,
        "response-success-status-added": INFO,
    }


# -- GraphQL: graphql-core decides -----------------------------------------------------------
BASE = saleor_like(types=4)

MUTATIONS: list[tuple[str, str]] = [
    ("  name: String\n", ""),  # a field removed
    ("translation(languageCode: LanguageCodeEnum!)", "translation(languageCode: LanguageCodeEnum)"),
    (
        "price(channel: String!, address: AddressInput)",
        "price(channel: String!, address: AddressInput!)",
    ),
    ("enum LanguageCodeEnum { EN FR DE }", "enum LanguageCodeEnum { EN FR DE IT }"),
    ("enum LanguageCodeEnum { EN FR DE }", "enum LanguageCodeEnum { EN FR }"),
    ("input AddressInput { city: String!", "input AddressInput { zip: String! city: String!"),
    ("input AddressInput { city: String!", "input AddressInput { zip: String city: String!"),
    ("union Searchable = T0 | T1 | T3", "union Searchable = T0 | T1"),
    ("union Searchable = T0 | T1 | T3", "union Searchable = T0 | T1 | T2 | T3"),
    ("  t0(id: ID!, channel: String): T0\n", ""),  # a root field removed
    (
        "  search(query: String!): [Searchable!]!\n",
        "  search(query: String!): [Searchable!]!\n  echo(s: String): String\n",
    ),
    ("children(first: Int = 10, after: String)", "children(first: Int = 20, after: String)"),
    ("type T2 implements Node {", "type T2 {"),
    ("  created: DateTime!\n", "  created: DateTime\n"),
]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=4, unique=True))
def test_graphql_diff_agrees_with_graphql_core(mutations: list[tuple[str, str]]) -> None:
    new = BASE
    for old_text, new_text in mutations:
        new = new.replace(old_text, new_text)
    found = graphql_diff(BASE, new)
    errors = {c.text for change in found for c in change.checks if c.level == ERR}
    warnings = {c.text for change in found for c in change.checks if c.level == WARN}
    a, b = build_schema(BASE), build_schema(new)
    assert errors == {c.description for c in find_breaking_changes(a, b)}
    assert warnings == {c.description for c in find_dangerous_changes(a, b)}
    assert all(c.breaking == any(k.level == ERR for k in c.checks) for c in found)


async def test_graphql_spec_diff_groups_by_operation(api: Api, app: FastAPI) -> None:
    new = BASE.replace("  t0(id: ID!, channel: String): T0\n", "").replace(
        "translation(languageCode: LanguageCodeEnum!)",
        "translation(languageCode: LanguageCodeEnum!, fallback: Boolean!)",
    )
    new = new.replace(
        "  search(query: String!)", "  echo(s: String): String\n  search(query: String!)"
    )
    t, a, b = await _versions(api, app, "GRAPHQL", BASE, new)
    d = (await api.data(DIFF, {"a": a, "b": b}, storefront=t.storefront_key))["specDiff"]
    changes = {c["key"]: c for c in d["changes"]}
    assert changes["query t0"]["kind"] == "REMOVED" and changes["query t0"]["breaking"]
    assert changes["query echo"]["kind"] == "ADDED" and not changes["query echo"]["breaking"]
    t1 = changes["type T1"]
    assert [c["id"] for c in t1["checks"]] == ["graphql-required-arg-added"]
    assert t1["checks"][0]["message"] == "A required argument T1.translation(fallback:) was added."
