"""Generated code samples really run, and send what the OpenAPI rules say.

One spec holds fixed operations (strings that try to break out of every language's quoting),
one operation per parameter location, style and explode (``spec_shapes.style_cases``), a
Twilio-like form body with arrays and HTTP Basic, a multipart body with ``encoding``, and
operations hypothesis makes up (random parameters, styles, schemas with patterns, formats and
bounds, bodies and security schemes). Every sample of every language is run against a local
recording server; each recorded request is read back by the OpenAPI rules
(``sample_oracle``, written from the specification's tables) and must give exactly the values
the sample chose, and those values must satisfy their schemas. GraphQL samples are validated
by graphql-core against the schema (and their variables coerced).
"""

from __future__ import annotations

import base64
import json
import shutil
from typing import Any

import jsonschema
from fastapi import FastAPI
from graphql import build_schema, parse, validate
from graphql.execution.values import get_variable_values
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from aforo.services import codesamples
from tests import sample_oracle, sample_runner
from tests.spec_shapes import saleor_like, style_cases, twilio_like
from tests.support import Api, make_tenant
from tests.test_docs import make_product
from tests.test_outbound import LocalServer, Recorded, local_server  # noqa: F401 - fixture
from tests.test_specs import IMPORT

LANGS = sample_runner.LANGS
TRICKY = 'Rex "the dog" \\ o\'neil $HOME `id` ü ✓ 🐶\nline2\t#{x} %s'
PREFIX = "/v1"
SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer"},
    "basic": {"type": "http", "scheme": "basic"},
    "keyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "keyQuery": {"type": "apiKey", "in": "query", "name": "api_key"},
    "keyCookie": {"type": "apiKey", "in": "cookie", "name": "session"},
}


# -- the operations --------------------------------------------------------------------------
def fixed_operations() -> dict[str, Any]:
    body_example = {"name": TRICKY, "tags": ["a", "ß"], "price": 9.5, "ok": True}
    return {
        "/items/{itemId}": {
            "get": {
                "operationId": "getItem",
                "security": [{"bearer": []}],
                "parameters": [
                    {
                        "name": "itemId",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                        "example": "a b/ü",
                    },
                    {
                        "name": "q",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string"},
                        "example": "x&y=1 ü",
                    },
                    {
                        "name": "tag",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "array", "items": {"type": "string"}},
                        "example": ["red", "blue green"],
                    },
                    {
                        "name": "X-Trace",
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string"},
                        "example": "t-'1'",
                    },
                    {
                        "name": "verbose",
                        "in": "query",
                        "schema": {"type": "boolean"},
                        "deprecated": True,
                    },
                ],
                "responses": {"200": {"description": "ok"}},
            },
            "delete": {
                "operationId": "deleteItem",
                "security": [{"keyCookie": []}],
                "parameters": [
                    {
                        "name": "itemId",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                        "example": 42,
                    },
                    {
                        "name": "pref",
                        "in": "cookie",
                        "schema": {"type": "string", "enum": ["dark", "light"]},
                    },
                ],
                "responses": {"204": {"description": "gone"}},
            },
        },
        "/items": {
            "post": {
                "operationId": "createItem",
                "security": [{"keyHeader": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"type": "object"}, "example": body_example}
                    },
                },
                "responses": {"201": {"description": "created"}},
            },
        },
        "/pets/findByTags": {
            "get": {
                "operationId": "findPetsByTags",
                "security": [{"keyQuery": []}],
                "parameters": [  # optional, no example: still shown (a search, searching)
                    {
                        "name": "tags",
                        "in": "query",
                        "schema": {
                            "type": "array",
                            "items": {"type": "string", "pattern": "^[a-z]{3,5}$"},
                        },
                    }
                ],
                "responses": {"200": {"description": "ok"}},
            }
        },
        "/uploads": {
            "post": {
                "operationId": "upload",
                "security": [{"basic": []}],
                "requestBody": {
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["title", "file"],
                                "properties": {
                                    "title": {"type": "string", "pattern": "^[A-Z][a-z]{3,6}$"},
                                    "count": {"type": "integer", "minimum": 2, "maximum": 4},
                                    "meta": {
                                        "type": "object",
                                        "properties": {"k": {"type": "string", "enum": ["v"]}},
                                    },
                                    "labels": {
                                        "type": "array",
                                        "items": {"type": "string", "enum": ["x", "y"]},
                                        "minItems": 2,
                                    },
                                    "file": {"type": "string", "format": "binary"},
                                },
                            },
                            "encoding": {
                                "title": {"contentType": "text/plain"},
                                "file": {
                                    "contentType": "image/png",
                                    "headers": {
                                        "X-Checksum": {
                                            "schema": {"type": "string", "pattern": "^[0-9a-f]{8}$"}
                                        }
                                    },
                                },
                            },
                        }
                    }
                },
                "responses": {"201": {"description": "ok"}},
            }
        },
    }


def style_operations() -> dict[str, Any]:
    """Every row of OpenAPI's style table, grouped so that no two parameters collide (two
    exploded form objects would share a query string, or a cookie jar)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for n, (where, style, explode, kind, schema) in enumerate(style_cases()):
        param = {
            "name": f"p{n}",
            "in": where,
            "required": True,
            "style": style,
            "explode": explode,
            "schema": schema,
        }
        key = where
        if where in ("query", "cookie") and style == "form" and explode and kind == "object":
            key = f"{where}-object"
        groups.setdefault(key, []).append(param)
    paths: dict[str, Any] = {}
    for key, params in groups.items():
        path = f"/styles/{key}" + "".join(f"/{{{p['name']}}}" for p in params if p["in"] == "path")
        paths[path] = {
            "get": {
                "operationId": f"styles_{key.replace('-', '_')}",
                "security": [{"bearer": []}],
                "parameters": params,
                "responses": {"204": {"description": "ok"}},
            }
        }
    return paths


STRINGS = [
    {"type": "string", "pattern": "^[a-z]{4,8}$"},
    {"type": "string", "pattern": "^AC[0-9a-f]{8}$", "minLength": 10, "maxLength": 10},
    {"type": "string", "enum": ["red", "green", "blue"]},
    {"type": "string", "format": "uuid"},
    {"type": "string", "format": "date"},
    {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{2,4}$"},
]
INTEGERS = [
    {"type": "integer", "minimum": 5, "maximum": 9},
    {"type": "integer", "exclusiveMinimum": 10, "multipleOf": 4},
    {"type": "integer"},
]
PRIMITIVES = [
    *STRINGS,
    *INTEGERS,
    {"type": "number", "minimum": 2.5, "maximum": 3},
    {"type": "boolean"},
]
ARRAYS = [
    {
        "type": "array",
        "items": {"type": "string", "enum": ["blue", "black", "brown"]},
        "minItems": 2,
        "uniqueItems": True,
    },
    {"type": "array", "items": {"type": "integer", "minimum": 100, "maximum": 200}},
]
OBJECTS = [
    {
        "type": "object",
        "required": ["R"],
        "properties": {
            "R": {"type": "integer", "minimum": 100},
            "G": {"type": "string", "enum": ["gg", "hh"]},
        },
    }
]
STYLE_CHOICES = {
    "path": [
        ("simple", False),
        ("simple", True),
        ("label", False),
        ("label", True),
        ("matrix", False),
        ("matrix", True),
    ],
    "query": [
        ("form", False),
        ("form", True),
        ("spaceDelimited", False),
        ("pipeDelimited", False),
        ("deepObject", True),
    ],
    "header": [("simple", False), ("simple", True)],
    "cookie": [("form", False), ("form", True)],
}


@st.composite
def parameters(draw: st.DrawFn) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    exploded_objects: set[str] = set()
    for i in range(draw(st.integers(0, 6))):
        where = draw(st.sampled_from(list(STYLE_CHOICES)))
        style, explode = draw(st.sampled_from(STYLE_CHOICES[where]))
        if style == "deepObject":
            schema = draw(st.sampled_from(OBJECTS))
        elif style in ("spaceDelimited", "pipeDelimited"):
            schema = draw(st.sampled_from(ARRAYS + OBJECTS))
        else:
            schema = draw(st.sampled_from(PRIMITIVES + ARRAYS + OBJECTS))
            if schema["type"] == "object" and explode and where in ("query", "cookie"):
                if where in exploded_objects:
                    continue  # one exploded form object per query string / cookie jar
                exploded_objects.add(where)
        required = where == "path" or draw(st.booleans())
        param = {
            "name": f"{where[0]}{i}",
            "in": where,
            "required": required,
            "style": style,
            "explode": explode,
            "schema": schema,
        }
        out.append(param)
    return out


JSON_BODY = {
    "type": "object",
    "required": ["name", "email"],
    "properties": {
        "name": {"type": "string", "pattern": "^[A-Z][a-z]{2,9}$"},
        "email": {"type": "string", "format": "email"},
        "count": {"type": "integer", "minimum": 3, "maximum": 7},
        "tags": {
            "type": "array",
            "items": {"type": "string", "enum": ["a", "b", "c"]},
            "minItems": 2,
            "uniqueItems": True,
        },
        "nested": {
            "type": "object",
            "properties": {
                "ok": {"type": "boolean"},
                "ratio": {"type": "number", "exclusiveMaximum": 1},
            },
        },
    },
}
FORM_BODY = {
    "type": "object",
    "required": ["To"],
    "properties": {
        "To": {"type": "string", "pattern": "^\\+[1-9][0-9]{7,14}$"},
        "MediaUrl": {"type": "array", "items": {"type": "string", "format": "uri"}, "minItems": 2},
        "Priority": {"type": "integer", "minimum": 1, "maximum": 5},
        "metadata": {
            "type": "object",
            "properties": {"order": {"type": "string", "pattern": "^o_[0-9]{4}$"}},
        },
        "extra": {"type": "object", "properties": {"x": {"type": "integer"}}},
    },
}
FORM_ENCODING = {
    "metadata": {"style": "deepObject", "explode": True},
    "extra": {"contentType": "application/json"},
}


@st.composite
def operations(draw: st.DrawFn) -> dict[str, Any]:
    op: dict[str, Any] = {
        "parameters": draw(parameters()),
        "security": [{draw(st.sampled_from(list(SCHEMES))): []}],
        "responses": {"200": {"description": "ok"}},
    }
    body = draw(st.sampled_from(["none", "json", "form"]))
    if body == "json":
        op["requestBody"] = {"content": {"application/json": {"schema": JSON_BODY}}}
    elif body == "form":
        op["requestBody"] = {
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": FORM_BODY,
                    "encoding": FORM_ENCODING,
                }
            }
        }
    return op


def random_operations(n: int) -> list[dict[str, Any]]:
    """``n`` made-up operations (a fixed sequence under CI's derandomized profile)."""
    drawn: list[dict[str, Any]] = []

    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(operations())
    def collect(op: dict[str, Any]) -> None:
        drawn.append(op)

    collect()
    return drawn[:n]


def sample_spec(base: str, random_ops: list[dict[str, Any]]) -> dict[str, Any]:
    paths = {**fixed_operations(), **style_operations()}
    twilio = twilio_like(base)
    for path, item in twilio["paths"].items():
        paths[path] = {m: {**op, "security": twilio["security"]} for m, op in item.items()}
    for i, op in enumerate(random_ops):
        params = op["parameters"]
        path = f"/random/{i}" + "".join(f"/{{{p['name']}}}" for p in params if p["in"] == "path")
        method = "post" if "requestBody" in op else "get"
        paths[path] = {method: {"operationId": f"random{i}", **op}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Samples", "version": "1"},
        "servers": [{"url": base + PREFIX}],
        "components": {"securitySchemes": {**SCHEMES, **twilio["components"]["securitySchemes"]}},
        "paths": paths,
    }


def _operations_of(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``METHOD path`` → the operation as the spec wrote it (with its path and security)."""
    out = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            out[f"{method.upper()} {path}"] = {**op, "path": path}
    return out


def _scheme(spec: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
    requirement = (op.get("security") or spec.get("security"))[0]
    scheme: dict[str, Any] = spec["components"]["securitySchemes"][next(iter(requirement))]
    return scheme


def _who(r: Recorded) -> str:
    """Which language sent a request: its credential says (see sample_runner.env_for)."""
    seen = r.path + " " + " ".join(r.headers.values())
    auth = r.headers.get("authorization", "")
    if auth.startswith("Basic "):
        seen += " " + base64.b64decode(auth[6:]).decode(errors="replace")
    found = [lang for lang in LANGS if f"key-{lang}" in seen or f"user-{lang}:" in seen]
    assert len(found) == 1, (r.path, r.headers)
    return found[0]


def _validate(value: Any, schema: dict[str, Any], what: str) -> None:
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = [e.message for e in validator.iter_errors(value)]
    assert not errors, (what, value, errors)


OPS = """query($id: ID!) { apiSpec(id: $id) { currentVersion { operations(first: 200) {
  key sampleRequest { method url body values authKind }
  codeSamples { language code } } } } }"""


async def test_samples_send_what_the_openapi_rules_say(
    api: Api,
    app: FastAPI,
    local_server: LocalServer,  # noqa: F811
) -> None:
    missing = [tool for tool in sample_runner.TOOLS if shutil.which(tool) is None]
    assert not missing, f"toolchains missing (see .ci/apt-packages): {missing}"
    t = await make_tenant(api.settings)
    token = await api.admin_token(t)
    pid = await make_product(app, t)
    base = f"http://127.0.0.1:{local_server.port}"
    spec = sample_spec(base, random_operations(8))
    gql_sdl = saleor_like(types=6)
    ids = []
    for fmt, content, extra in (
        ("OPENAPI_3", json.dumps(spec), {}),
        ("GRAPHQL", gql_sdl, {"serverUrl": f"{base}/graphql"}),
    ):
        i = {"productId": pid, "format": fmt, "content": content, **extra}
        d = await api.data(IMPORT, {"i": i}, token=token)
        assert d["importSpec"]["__typename"] == "SpecImported", d
        ids.append(d["importSpec"]["spec"]["id"])
    rest_ops = (await api.data(OPS, {"id": ids[0]}, token=token))["apiSpec"]["currentVersion"][
        "operations"
    ]
    gql_ops = (await api.data(OPS, {"id": ids[1]}, token=token))["apiSpec"]["currentVersion"][
        "operations"
    ]
    gql_ops = [o for o in gql_ops if not o["key"].startswith("subscription")][:12]
    chosen = rest_ops + gql_ops
    for o in chosen:  # no credential is ever written into a sample
        assert all("key-" not in s["code"] and "user-" not in s["code"] for s in o["codeSamples"])

    # GraphQL samples: valid against their schema, variables that coerce
    schema = build_schema(gql_sdl)
    for o in gql_ops:
        values = o["sampleRequest"]["values"]
        document = parse(values["query"])
        assert not validate(schema, document), (
            o["key"],
            values["query"],
            validate(schema, document),
        )
        op_def = document.definitions[0]
        coerced = get_variable_values(schema, op_def.variable_definitions, values["variables"])
        assert not isinstance(coerced, list), (o["key"], coerced)

    plan = {
        lang: [next(s["code"] for s in o["codeSamples"] if s["language"] == lang) for o in chosen]
        for lang in LANGS
    }
    failures = await sample_runner.run_all(plan)
    assert not failures, "\n\n".join(failures)

    by_lang: dict[str, list[Recorded]] = {lang: [] for lang in LANGS}
    for r in local_server.requests:
        by_lang[_who(r)].append(r)
    defs = _operations_of(spec)
    problems: list[str] = []
    for lang in LANGS:
        got = by_lang[lang]
        if len(got) != len(chosen):
            problems.append(f"{lang}: {len(got)} requests for {len(chosen)} samples")
            continue
        for o, r in zip(chosen, got, strict=True):
            want = o["sampleRequest"]
            label = f"{lang} {o['key']}"
            if r.method != want["method"]:
                problems.append(f"{label}: method {r.method}")
            if o in gql_ops:
                if json.loads(r.body) != {
                    "query": want["values"]["query"],
                    "variables": want["values"]["variables"],
                }:
                    problems.append(f"{label}: body {r.body!r}")
                continue
            op = defs[o["key"]]
            scheme = _scheme(spec, op)
            expected = (
                f"user-{lang}:{sample_runner.PASSWORD}"
                if scheme.get("scheme") == "basic"
                else f"key-{lang}"
            )
            cred = sample_oracle.credential(scheme, r.path, r.headers)
            if cred != expected:
                problems.append(f"{label}: credential {cred!r}, want {expected!r}")
            try:
                sent = sample_oracle.parse_back(op, PREFIX, r.path, r.headers, r.body)
            except (AssertionError, KeyError, ValueError, IndexError) as e:
                problems.append(
                    f"{label}: cannot be read back ({e!r}): {r.path} {r.headers} {r.body[:300]!r}"
                )
                continue
            values = want["values"]
            for where in ("path", "query", "header", "cookie"):
                if sent[where] != values[where]:
                    problems.append(f"{label} {where}: sent {sent[where]}, chose {values[where]}")
            if sent.get("body") != values.get("body"):
                problems.append(
                    f"{label} body: sent {sent.get('body')}, chose {values.get('body')}"
                )
    assert not problems, "\n".join(problems[:40])

    # the values chosen satisfy their schemas; every required parameter is there
    for o in rest_ops:
        op = defs[o["key"]]
        values = o["sampleRequest"]["values"]
        for p in op.get("parameters") or []:
            if p["name"] in values[p["in"]]:
                _validate(values[p["in"]][p["name"]], p["schema"], f"{o['key']} {p['name']}")
            elif p.get("required"):
                problems.append(f"{o['key']}: required {p['name']} missing")
        if "body" in values and "requestBody" in op:
            media = next(iter(op["requestBody"]["content"].values()))
            if "example" not in media:
                _validate(values["body"], media["schema"], f"{o['key']} body")
    assert not problems, problems

    # spelled out: Twilio's form arrays and its Basic credential, the search that searches
    twilio = next(o for o in rest_ops if o["key"].startswith("POST /2010-04-01"))
    raw = next(r for r in by_lang["GO"] if "Messages.json" in r.path)
    assert (
        b"MediaUrl=https%3A%2F%2Fdemo.test%2Fa.png&MediaUrl=https%3A%2F%2Fdemo.test%2Fb.png"
        in raw.body
    )
    assert (
        raw.headers["authorization"]
        == "Basic " + base64.b64encode(f"user-GO:{sample_runner.PASSWORD}".encode()).decode()
    )
    sid = twilio["sampleRequest"]["values"]["path"]["AccountSid"]
    assert sid.startswith("AC") and len(sid) == 34  # the pattern, not "string"
    search = next(o for o in rest_ops if o["key"] == "GET /pets/findByTags")
    assert search["sampleRequest"]["values"]["query"]["tags"]
    tricky = next(o for o in rest_ops if o["key"] == "POST /items")
    assert json.loads(tricky["sampleRequest"]["body"])["name"] == TRICKY
    get_item = next(o for o in rest_ops if o["key"] == "GET /items/{itemId}")
    assert get_item["sampleRequest"]["url"] == (
        f"{base}{PREFIX}/items/a%20b%2F%C3%BC?q=x%26y%3D1%20%C3%BC&tag=red&tag=blue%20green"
    )


def test_every_language_reads_credentials_from_the_environment() -> None:
    for auth, expected in (
        (codesamples.Auth("Authorization", "Bearer "), "API_KEY"),
        (codesamples.Auth("Authorization", kind="basic"), "API_PASSWORD"),
        (codesamples.Auth("api_key", "?api_key=", kind="query"), "API_KEY"),
    ):
        req = codesamples.SampleRequest("GET", "https://api.example.com/x", [], auth)
        for lang in LANGS:
            code = codesamples.render(lang, req)
            assert expected in code, (lang, auth.kind)
            if auth.kind == "basic":
                assert "API_USERNAME" in code


async def test_graphql_samples_are_valid_for_every_operation(api: Api, app: FastAPI) -> None:
    """Saleor's shape at size: fields that need required arguments at every level, interfaces,
    unions, custom scalars. Every operation's sample validates against the schema and its
    variables coerce (graphql-core decides)."""
    t = await make_tenant(api.settings)
    token = await api.admin_token(t)
    pid = await make_product(app, t)
    sdl = saleor_like(types=40)
    i = {
        "productId": pid,
        "format": "GRAPHQL",
        "content": sdl,
        "serverUrl": "https://shop.test/graphql",
    }
    d = await api.data(IMPORT, {"i": i}, token=token)
    spec_id = d["importSpec"]["spec"]["id"]
    q = """query($id: ID!) { apiSpec(id: $id) { currentVersion { operationCount
        operations(first: 200) { key sampleRequest { values } } } } }"""
    v = (await api.data(q, {"id": spec_id}, token=token))["apiSpec"]["currentVersion"]
    assert v["operationCount"] == len(v["operations"]) == 84
    schema = build_schema(sdl)
    invalid = []
    nested_required = 0
    for o in v["operations"]:
        values = o["sampleRequest"]["values"]
        document = parse(values["query"])
        errors = validate(schema, document)
        coerced = get_variable_values(
            schema, document.definitions[0].variable_definitions, values["variables"]
        )
        if errors or isinstance(coerced, list):
            invalid.append((o["key"], values["query"], errors or coerced))
        nested_required += "translation(languageCode: $" in values["query"]
    assert not invalid, invalid[:3]
    assert nested_required >= 40  # the required nested argument is filled, not the field dropped
