"""Property tests for the spec importer: arbitrary bytes and structurally valid but weird
documents never crash it (only ``SpecInvalid`` refusals), hostile documents (alias bombs,
reference fan-out, deep nesting, huge numbers) are refused by a bound rather than by time or
memory, whatever it accepts can be stored, and a failed import writes nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import yaml
from fastapi import FastAPI
from graphql import build_schema, introspection_from_schema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from aforo.models.outbox import OutboxEvent
from aforo.models.specs import ApiSpec, SpecOperation, SpecVersion
from aforo.services.spec_import import ParsedSpec, SpecFiles, SpecInvalid, jobs, parse, parse_files
from aforo.services.spec_import.diff import diff
from aforo.services.spec_import.lines import LineTree
from tests.fuzzing import EXAMPLES
from tests.support import Api, make_tenant
from tests.test_docs import make_product
from tests.test_specs import IMPORT, PETS

PROFILE = settings(
    max_examples=EXAMPLES or 150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def outcome(fmt: str, content: bytes | SpecFiles) -> ParsedSpec | SpecInvalid:
    """Parse; anything but a ``SpecInvalid`` propagates and fails the test. What is accepted
    must be storable: JSON without NaN/Infinity and without NUL characters (and the import
    worker's serialisation must take it)."""
    try:
        if isinstance(content, SpecFiles):
            parsed = parse_files(fmt, content)
        else:
            parsed = parse(fmt, content)
    except SpecInvalid as e:
        assert e.code.startswith("SPEC_") and e.message and e.problems
        return e
    stored = json.dumps(
        [
            parsed.operations,
            parsed.servers,
            parsed.security_schemes,
            parsed.tags,
            parsed.components,
            parsed.info,
        ],
        allow_nan=False,
    )
    assert "\\u0000" not in stored and "\x00" not in parsed.title + parsed.description
    jobs.stored(parsed)
    components = {c["ref"]: c["body"] for c in parsed.components}
    assert diff(parsed.operations, parsed.operations, components, components) == []
    return parsed


# -- arbitrary input --------------------------------------------------------------------------
@PROFILE
@given(st.binary(max_size=500), st.sampled_from(["OPENAPI_3", "GRAPHQL"]))
def test_arbitrary_bytes_are_parsed_or_refused(content: bytes, fmt: str) -> None:
    outcome(fmt, content)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["#/components/schemas/A", "#/nope", "http://x/y.yaml#/A", "3.0.3", "\x00"]),
)
values = st.recursive(
    scalars,
    lambda kids: st.one_of(
        st.lists(kids, max_size=3), st.dictionaries(st.text(max_size=6), kids, max_size=3)
    ),
    max_leaves=10,
)
REFS = st.sampled_from([f"#/components/schemas/{n}" for n in "ABC"] + ["#/paths", "#/x/0", "#"])
schema_objects = st.recursive(
    st.one_of(
        st.fixed_dictionaries({"$ref": REFS}),
        st.fixed_dictionaries({"type": st.sampled_from(["string", "integer", "object", "x"])}),
        values,
    ),
    lambda kids: st.one_of(
        st.fixed_dictionaries(
            {
                "type": st.just("object"),
                "properties": st.dictionaries(st.text(max_size=4), kids, max_size=3),
            }
        ),
        st.fixed_dictionaries({"type": st.just("array"), "items": kids}),
        st.fixed_dictionaries({"allOf": st.lists(kids, max_size=3)}),
        st.fixed_dictionaries({"$ref": REFS, "description": st.text(max_size=5)}),
    ),
    max_leaves=8,
)
parameters = st.fixed_dictionaries(
    {
        "name": st.one_of(st.text(max_size=6), values),
        "in": st.sampled_from(["query", "path", "header", "cookie", "body", 3]),
    },
    optional={"required": values, "schema": schema_objects, "$ref": REFS, "example": values},
)
media = st.dictionaries(
    st.sampled_from(["application/json", "text/plain", "*/*", ""]),
    st.fixed_dictionaries({}, optional={"schema": schema_objects, "example": values}),
    max_size=2,
)
operations = st.fixed_dictionaries(
    {},
    optional={
        "operationId": st.one_of(st.sampled_from(["op", "op2"]), values),
        "summary": st.one_of(st.text(max_size=10), values),
        "parameters": st.one_of(st.lists(parameters, max_size=3), values),
        "requestBody": st.one_of(st.fixed_dictionaries({"content": media}), values),
        "responses": st.one_of(
            st.dictionaries(
                st.sampled_from(["200", "default", "4XX", "x"]),
                st.one_of(
                    st.fixed_dictionaries({"description": st.text(max_size=5), "content": media}),
                    values,
                ),
                max_size=2,
            ),
            values,
        ),
        "tags": st.one_of(st.lists(st.text(max_size=5), max_size=2), values),
        "security": values,
        "servers": values,
        "deprecated": values,
    },
)
path_items = st.dictionaries(
    st.sampled_from(["get", "post", "put", "parameters", "$ref", "servers", "x-y"]),
    st.one_of(operations, values),
    max_size=3,
)
documents = st.fixed_dictionaries(
    {
        "openapi": st.sampled_from(["3.0.3", "3.1.0", "3.0", "2.0", "3.1.0-rc1"]),
        "info": st.one_of(
            st.fixed_dictionaries({"title": st.text(max_size=10), "version": st.text(max_size=4)}),
            values,
        ),
        "paths": st.one_of(
            st.dictionaries(
                st.sampled_from(["/a", "/a/{id}", "/b/{x}/{y}", "nope", "/"]),
                path_items,
                max_size=3,
            ),
            values,
        ),
    },
    optional={
        "components": st.fixed_dictionaries(
            {},
            optional={
                "schemas": st.dictionaries(st.sampled_from("ABC"), schema_objects, max_size=3),
                "securitySchemes": st.one_of(
                    st.dictionaries(
                        st.text(max_size=5),
                        st.one_of(
                            st.fixed_dictionaries(
                                {"type": st.sampled_from(["http", "apiKey", "oauth2", "x"])}
                            ),
                            values,
                        ),
                        max_size=2,
                    ),
                    values,
                ),
            },
        ),
        "servers": values,
        "tags": values,
        "security": values,
        "swagger": st.just("2.0"),
    },
)


@PROFILE
@given(documents, st.booleans())
def test_weird_openapi_documents_are_parsed_or_refused(doc: dict[str, Any], as_yaml: bool) -> None:
    text = yaml.safe_dump(doc, allow_unicode=True) if as_yaml else json.dumps(doc)
    outcome("OPENAPI_3", text.encode())


# Swagger 2.0: the converter meets every kind of parameter, collection format and scheme.
DEFS = st.sampled_from([f"#/definitions/{n}" for n in "AB"] + ["#/parameters/P", "#/nope"])
schemas_2 = st.recursive(
    st.one_of(
        st.fixed_dictionaries({"$ref": DEFS}),
        st.fixed_dictionaries(
            {"type": st.sampled_from(["string", "integer", "file", "object", "x"])},
            optional={"x-nullable": values, "discriminator": values, "x-example": values},
        ),
        values,
    ),
    lambda kids: st.one_of(
        st.fixed_dictionaries(
            {
                "type": st.just("object"),
                "properties": st.dictionaries(st.text(max_size=4), kids, max_size=3),
            }
        ),
        st.fixed_dictionaries({"type": st.just("array"), "items": kids}),
        st.fixed_dictionaries({"allOf": st.lists(kids, max_size=2)}),
    ),
    max_leaves=6,
)
parameters_2 = st.one_of(
    st.fixed_dictionaries(
        {"$ref": st.sampled_from(["#/parameters/P", "#/parameters/B", "#/parameters/F", "#/x"])}
    ),
    st.fixed_dictionaries(
        {
            "name": st.one_of(st.sampled_from(["id", "q", "file", "body"]), values),
            "in": st.sampled_from(["query", "header", "path", "formData", "body", "cookie", 3]),
        },
        optional={
            "type": st.sampled_from(["string", "integer", "array", "file", "boolean", "x"]),
            "items": st.one_of(
                st.fixed_dictionaries({"type": st.sampled_from(["string", "integer"])}), values
            ),
            "collectionFormat": st.sampled_from(["csv", "ssv", "tsv", "pipes", "multi", "x"]),
            "schema": schemas_2,
            "required": values,
            "x-example": values,
        },
    ),
)
operations_2 = st.fixed_dictionaries(
    {},
    optional={
        "parameters": st.one_of(st.lists(parameters_2, max_size=4), values),
        "consumes": st.one_of(
            st.lists(
                st.sampled_from(
                    ["application/json", "multipart/form-data", "application/x-www-form-urlencoded"]
                ),
                max_size=2,
            ),
            values,
        ),
        "produces": values,
        "responses": st.one_of(
            st.dictionaries(
                st.sampled_from(["200", "default", "x"]),
                st.one_of(
                    st.fixed_dictionaries(
                        {"description": st.text(max_size=4)},
                        optional={"schema": schemas_2, "headers": values, "examples": values},
                    ),
                    st.fixed_dictionaries({"$ref": st.sampled_from(["#/responses/R", "#/nope"])}),
                    values,
                ),
                max_size=2,
            ),
            values,
        ),
        "security": values,
        "schemes": values,
    },
)
swagger_documents = st.fixed_dictionaries(
    {
        "swagger": st.sampled_from(["2.0", "2.0", "1.2"]),
        "info": st.one_of(
            st.fixed_dictionaries({"title": st.text(max_size=5), "version": st.text(max_size=3)}),
            values,
        ),
        "paths": st.one_of(
            st.dictionaries(
                st.sampled_from(["/a", "/a/{id}", "/b", "x"]),
                st.one_of(
                    st.dictionaries(
                        st.sampled_from(["get", "post", "parameters", "x-y"]),
                        st.one_of(operations_2, values),
                        max_size=3,
                    ),
                    values,
                ),
                max_size=3,
            ),
            values,
        ),
    },
    optional={
        "definitions": st.one_of(
            st.dictionaries(st.sampled_from("AB"), schemas_2, max_size=2), values
        ),
        "parameters": st.fixed_dictionaries(
            {},
            optional={"P": parameters_2, "B": parameters_2, "F": parameters_2},
        ),
        "responses": st.fixed_dictionaries({}, optional={"R": values}),
        "securityDefinitions": st.one_of(
            st.dictionaries(
                st.text(max_size=4),
                st.fixed_dictionaries(
                    {"type": st.sampled_from(["basic", "apiKey", "oauth2", "x"])},
                    optional={
                        "flow": st.sampled_from(
                            ["implicit", "password", "application", "accessCode", "x"]
                        ),
                        "name": values,
                        "in": values,
                        "scopes": values,
                        "authorizationUrl": values,
                        "tokenUrl": values,
                    },
                ),
                max_size=2,
            ),
            values,
        ),
        "host": values,
        "basePath": values,
        "schemes": values,
        "consumes": values,
        "produces": values,
    },
)


@PROFILE
@given(swagger_documents, st.booleans())
def test_weird_swagger2_documents_are_converted_or_refused(
    doc: dict[str, Any], as_yaml: bool
) -> None:
    text = yaml.safe_dump(doc, allow_unicode=True) if as_yaml else json.dumps(doc)
    result = outcome("OPENAPI_3", text.encode())
    if isinstance(result, ParsedSpec):
        assert result.source_version == "2.0" and result.conversions


# Several files: references between them, up and out of the upload, to missing files, in cycles.
FILES = ["openapi.yaml", "a.yaml", "dir/b.yaml", "dir/c.json"]
TARGETS = st.builds(
    lambda f, frag: f + frag,
    st.sampled_from(
        [
            "a.yaml",
            "dir/b.yaml",
            "b.yaml",
            "../a.yaml",
            "missing.yaml",
            "openapi.yaml",
            "",
            "http://x.test/a.yaml",
        ]
    ),
    st.sampled_from(["", "#/A", "#/nope", "#/paths", "#/components/schemas/A", "#"]),
)
file_values = st.recursive(
    st.one_of(scalars, st.fixed_dictionaries({"$ref": TARGETS})),
    lambda kids: st.one_of(
        st.dictionaries(
            st.sampled_from(
                [
                    "A",
                    "type",
                    "properties",
                    "schema",
                    "items",
                    "get",
                    "responses",
                    "200",
                    "content",
                    "x",
                ]
            ),
            kids,
            max_size=3,
        ),
        st.lists(kids, max_size=2),
    ),
    max_leaves=10,
)


@PROFILE
@given(
    st.fixed_dictionaries(
        {
            "openapi": st.sampled_from(["3.0.3", "3.1.0"]),
            "info": st.just({"title": "t", "version": "1"}),
        },
        optional={
            "paths": st.dictionaries(
                st.sampled_from(["/a", "/b/{id}"]),
                st.one_of(
                    st.fixed_dictionaries({"$ref": TARGETS}),
                    st.dictionaries(
                        st.sampled_from(["get", "post", "parameters"]), file_values, max_size=2
                    ),
                ),
                max_size=2,
            ),
            "components": st.fixed_dictionaries(
                {},
                optional={
                    "schemas": st.dictionaries(st.sampled_from("AB"), file_values, max_size=2)
                },
            ),
        },
    ),
    st.dictionaries(st.sampled_from(FILES[1:]), file_values, max_size=3),
)
def test_weird_multi_file_specs_are_bundled_or_refused(
    root: dict[str, Any], others: dict[str, Any]
) -> None:
    files = {"openapi.yaml": yaml.safe_dump(root).encode()}
    for name, value in others.items():
        files[name] = (
            json.dumps(value) if name.endswith(".json") else yaml.safe_dump(value)
        ).encode()
    outcome("OPENAPI_3", SpecFiles("openapi.yaml", files))


def test_lines_are_found_in_one_pass(monkeypatch: Any) -> None:
    """Two hundred problems: the document's line tree is built once, and every problem has
    its own line (DigitalOcean's 1,843 problems once cost a full YAML parse each)."""
    built: list[int] = []
    original = LineTree.of_yaml.__func__  # type: ignore[attr-defined]

    def counting(cls: Any, text: str) -> LineTree:
        built.append(1)
        tree: LineTree = original(cls, text)
        return tree

    monkeypatch.setattr(LineTree, "of_yaml", classmethod(counting))
    op = "{responses: {'200': {description: ok}}, parameters: [{name: x, in: nowhere}]}"
    paths = "".join(f"  /p{i}:\n    get: {op}\n" for i in range(200))
    result = outcome("OPENAPI_3", (HEAD + "paths:\n" + paths).encode())
    assert isinstance(result, SpecInvalid) and result.total == 200
    assert built == [1]
    assert [p.line for p in result.problems] == list(range(5, 105, 2))  # each its get: line


NAMES = st.sampled_from(["Query", "Mutation", "A", "B", "U", "E", "In", "Int", "String", "Nope"])
type_refs = st.recursive(
    NAMES,
    lambda inner: st.one_of(inner.map(lambda t: f"[{t}]"), inner.map(lambda t: f"{t}!")),
    max_leaves=3,
)
literals = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(['"s"', "true", "null", "[1, 2]", "{a: 1}", "RED", "1e999", "$v"]),
)
fields = st.builds(
    lambda name, args, t, desc: f"{desc}{name}{args}: {t}",
    st.sampled_from(["a", "b", "c", "node", "__x"]),
    st.one_of(
        st.just(""),
        st.lists(
            st.builds(
                lambda n, t, d: f"{n}: {t}{d}",
                st.sampled_from(["x", "y"]),
                type_refs,
                st.one_of(st.just(""), literals.map(lambda v: f" = {v}")),
            ),
            max_size=2,
        ).map(lambda xs: f"({', '.join(xs)})" if xs else ""),
    ),
    type_refs,
    st.sampled_from(["", '"doc" ', '"""\nblock\n""" ']),
)
definitions = st.one_of(
    st.builds(
        lambda kind, n, fs: f"{kind} {n} {{ {' '.join(fs)} }}",
        st.sampled_from(["type", "input", "interface", "extend type"]),
        NAMES,
        st.lists(fields, max_size=3),
    ),
    st.builds(
        lambda n, ms: f"union {n} = {' | '.join(ms)}",
        NAMES,
        st.lists(NAMES, min_size=1, max_size=3),
    ),
    st.builds(lambda n: f"enum {n} {{ RED GREEN }}", NAMES),
    st.builds(lambda n: f"scalar {n}", NAMES),
    st.sampled_from(
        [
            "schema { query: Query }",
            "schema { query: A mutation: A }",
            "directive @d on FIELD_DEFINITION",
        ]
    ),
)


@PROFILE
@given(st.lists(definitions, max_size=6))
def test_weird_graphql_sdl_is_parsed_or_refused(defs: list[str]) -> None:
    outcome("GRAPHQL", "\n".join(defs).encode())


INTROSPECTION = introspection_from_schema(
    build_schema(
        """type Query { pet(id: ID!, kind: Kind = DOG): Pet, pets(first: Int = 10): [Pet!]! }
           type Pet { id: ID!, name: String, kind: Kind, friends: [Pet] }
           enum Kind { DOG CAT }
           input PetInput { name: String!, kind: Kind }
           type Mutation { addPet(input: PetInput!): Pet }"""
    )
)


def _paths(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [at]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*at, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*at, i))
    return out


PATHS = _paths(INTROSPECTION)[1:]


@PROFILE
@given(
    st.lists(
        st.tuples(st.sampled_from(PATHS), st.one_of(st.just("<delete>"), values)),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_introspection_results_are_parsed_or_refused(edits: list[tuple[Any, Any]]) -> None:
    doc: Any = json.loads(json.dumps(INTROSPECTION))
    for path, value in edits:
        node = doc
        try:
            for key in path[:-1]:
                node = node[key]
            if value == "<delete>":
                del node[path[-1]]
            else:
                node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced that part
    outcome("GRAPHQL", json.dumps({"data": doc}).encode())


# -- hostile documents: refused by a bound ----------------------------------------------------
HEAD = 'openapi: 3.0.3\ninfo: {title: t, version: "1"}\n'


def _laughs(levels: int = 12, width: int = 9) -> str:
    lines = [HEAD, "paths: {}\n", "x-l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"]
    for i in range(1, levels):
        lines.append(f"x-l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]\n")
    return "".join(lines)


def _fan_out(levels: int = 40) -> str:
    schemas = {
        f"S{i}": {
            "type": "object",
            "properties": {
                "a": {"$ref": f"#/components/schemas/S{i + 1}"},
                "b": {"$ref": f"#/components/schemas/S{i + 1}"},
            },
        }
        for i in range(levels)
    }
    schemas[f"S{levels}"] = {"type": "string"}
    ok = {
        "200": {
            "description": "ok",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/S0"}}},
        }
    }
    return json.dumps(
        {
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "components": {"schemas": schemas},
            "paths": {"/x": {"get": {"responses": ok}}},
        }
    )


def _wide_graphql(width: int = 120) -> str:
    def wide(name: str, child: str) -> str:
        return f"type {name} {{ {' '.join(f'f{i}: {child}' for i in range(width))} }}"

    return "\n".join(
        [
            f"type Query {{ {' '.join(f'q{i}: T1' for i in range(width))} }}",
            wide("T1", "T2"),
            wide("T2", "T3"),
            wide("T3", "Int"),
        ]
    )


HOSTILE: dict[str, tuple[str, str, str]] = {
    # name: (format, document, expected code)
    "billion laughs (aliases)": ("OPENAPI_3", _laughs(), "SPEC_TOO_LARGE"),
    "deep JSON arrays": ("OPENAPI_3", "[" * 100_000 + "]" * 100_000, "SPEC_TOO_DEEP"),
    "deep JSON objects": ("OPENAPI_3", '{"a":' * 100_000 + "1" + "}" * 100_000, "SPEC_TOO_DEEP"),
    "deep introspection": (
        "GRAPHQL",
        '{"__schema":' + '{"a":' * 100_000 + "1" + "}" * 100_001,
        "SPEC_TOO_DEEP",
    ),
    "deep YAML": ("OPENAPI_3", HEAD + "paths: " + "[" * 100_000 + "]" * 100_000, "SPEC_INVALID"),
    "deep SDL list type": (
        "GRAPHQL",
        "type Query { a: " + "[" * 10_000 + "Int" + "]" * 10_000 + " }",
        "SPEC_INVALID",
    ),
    "huge JSON integer": (
        "OPENAPI_3",
        '{"openapi": "3.0.3", "x": ' + "9" * 100_000 + "}",
        "SPEC_INVALID",
    ),
    "huge YAML integer": ("OPENAPI_3", HEAD + "paths: {}\nx: " + "9" * 100_000, "SPEC_INVALID"),
    "huge introspection integer": (
        "GRAPHQL",
        '{"__schema": {"x": ' + "9" * 100_000 + "}}",
        "SPEC_INVALID",
    ),
    "YAML infinity": ("OPENAPI_3", HEAD + "paths: {}\nx-max: .inf\n", "SPEC_INVALID"),
    "JSON NaN": (
        "OPENAPI_3",
        '{"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {}, "x": NaN}',
        "SPEC_INVALID",
    ),
    "over 8 MiB": (
        "OPENAPI_3",
        HEAD + "paths: {}\nx: '" + "a" * (8 * 1024 * 1024) + "'\n",
        "SPEC_TOO_LARGE",
    ),
}


def test_hostile_documents_are_refused_by_a_bound() -> None:
    for name, (fmt, text, code) in HOSTILE.items():
        result = outcome(fmt, text.encode())
        assert isinstance(result, SpecInvalid), name
        assert result.code == code, (name, result.code, result.message)
    # The same shape, kept small, is fine: the bounds refuse size, not structure.
    assert isinstance(outcome("OPENAPI_3", _laughs(levels=3).encode()), ParsedSpec)
    # References fanning out (each schema using the next twice, 40 deep) and wide GraphQL
    # types nested are stored once, as components: accepted, their reads bounded
    # (test_specs.test_reference_reads_are_bounded).
    fan_out = outcome("OPENAPI_3", _fan_out().encode())
    assert isinstance(fan_out, ParsedSpec) and len(fan_out.components) == 41
    wide = outcome("GRAPHQL", _wide_graphql().encode())
    assert isinstance(wide, ParsedSpec) and len(wide.components) == 4


# -- a failed import writes nothing -----------------------------------------------------------
NUL_SUMMARY = json.dumps(
    {
        "openapi": "3.0.3",
        "info": {"title": "t\u0000", "version": "1"},
        "paths": {
            "/a": {"get": {"summary": "a\u0000b", "responses": {"200": {"description": "\u0000"}}}}
        },
    }
)
FAILING = [
    ("OPENAPI_3", PETS.replace("3.0.3", "2.0")),
    ("OPENAPI_3", PETS.replace("'#/components/schemas/Pet'", "'#/components/schemas/Nope'")),
    ("OPENAPI_3", _laughs()),
    ("OPENAPI_3", '{"a":' * 5000 + "1" + "}" * 5000),
    ("OPENAPI_3", HEAD + "paths: {}\nx-max: .nan\n"),
    ("GRAPHQL", "type Query { a: Nope }"),
]


async def _counts(app: FastAPI, tenant_id: str) -> list[int]:
    async with app.state.runtime.transaction(uuid.UUID(tenant_id)) as s:
        return [
            int(await s.scalar(select(func.count()).select_from(model)) or 0)
            for model in (ApiSpec, SpecVersion, SpecOperation, OutboxEvent)
        ]


async def test_failed_imports_write_nothing(api: Api, app: FastAPI) -> None:
    t = await make_tenant(api.settings)
    token = await api.admin_token(t)
    pid = await make_product(app, t)
    before = await _counts(app, t.id)
    for fmt, content in FAILING:
        d = await api.data(
            IMPORT, {"i": {"productId": pid, "format": fmt, "content": content}}, token=token
        )
        assert d["importSpec"]["__typename"] == "SpecInvalid", (content[:80], d)
        assert d["importSpec"]["code"].startswith("SPEC_"), d
        r = await api.client.post(
            "/api/v1/docs/api-specs",
            data={"product_id": pid, "spec_format": fmt},
            files={"file": ("spec", content.encode())},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"].startswith("SPEC_")
    assert await _counts(app, t.id) == before
    # NUL characters are valid JSON but not storable text: the import succeeds without them.
    d = await api.data(
        IMPORT,
        {"i": {"productId": pid, "format": "OPENAPI_3", "content": NUL_SUMMARY}},
        token=token,
    )
    assert d["importSpec"]["__typename"] == "SpecImported", d
    assert d["importSpec"]["version"]["operations"] == [{"key": "GET /a"}]
    sdl = '"schema\\u0000doc" schema { query: Q } type Q { "a\\u0000b" a(x: Int): Int }'
    d = await api.data(
        IMPORT, {"i": {"productId": pid, "format": "GRAPHQL", "content": sdl}}, token=token
    )
    assert d["importSpec"]["__typename"] == "SpecImported", d
    assert d["importSpec"]["version"]["operations"] == [{"key": "query a"}]
