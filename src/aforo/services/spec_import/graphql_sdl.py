"""GraphQL specs: SDL or an introspection result, read with graphql-core.

Every field of the query, mutation and subscription root types becomes an operation; its
arguments are the parameters (``in: "argument"``) and its return type is the one response.
Every named type is a component, described as JSON Schema (``x-graphql-type`` keeps the
GraphQL spelling of a reference, ``x-graphql-*`` the rest) and referenced by ``$ref``, so the
reference, the example synthesiser and the sample builder treat both formats alike, and a
type is stored once however many fields return it.
"""

from __future__ import annotations

import json
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    build_ast_schema,
    build_client_schema,
    print_ast,
    validate_schema,
)
from graphql import parse as parse_sdl
from graphql.language import SchemaDefinitionNode
from graphql.utilities import get_default_value_ast, value_from_ast_untyped

from aforo.services.spec_import.loader import Problem, SpecInvalid, loads_json
from aforo.services.spec_import.model import ParsedSpec

REF = "#/components/schemas/"
_SCALARS = {
    "Int": {"type": "integer", "format": "int32"},
    "Float": {"type": "number"},
    "String": {"type": "string"},
    "Boolean": {"type": "boolean"},
    "ID": {"type": "string"},
}


def schema_from(text: str) -> GraphQLSchema:
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            data = loads_json(text)
        except json.JSONDecodeError as e:
            raise SpecInvalid([Problem("", f"invalid JSON: {e.msg}", e.lineno)]) from e
        if isinstance(data, dict) and isinstance(data.get("data"), dict):
            data = data["data"]
        if not isinstance(data, dict) or "__schema" not in data:
            raise SpecInvalid([Problem("/__schema", "an introspection result needs __schema")])
        try:
            schema = build_client_schema(data)  # type: ignore[arg-type]
            # Field maps are built lazily: validating forces them, so a malformed entry is
            # refused here rather than met later.
            errors = validate_schema(schema)
        except (TypeError, KeyError, AttributeError, ValueError, IndexError, GraphQLError) as e:
            raise SpecInvalid([Problem("/__schema", f"invalid introspection result: {e}")]) from e
        if errors:
            raise SpecInvalid([Problem("/__schema", e.message) for e in errors])
        return schema
    try:
        document = parse_sdl(text, no_location=False)
    except GraphQLError as e:
        line = e.locations[0].line if e.locations else None
        raise SpecInvalid([Problem("", f"invalid SDL: {e.message}", line)]) from e
    try:
        schema = build_ast_schema(document)
        errors = validate_schema(schema)
    except (TypeError, KeyError, AttributeError, ValueError, IndexError, GraphQLError) as e:
        # graphql-core reports some malformed schemas (an object type as a default's
        # type, say) by raising instead of returning a validation error.
        raise SpecInvalid([Problem("", f"invalid schema: {e}")]) from e
    if errors:
        raise SpecInvalid(
            [Problem("", e.message, e.locations[0].line if e.locations else None) for e in errors]
        )
    if not any(isinstance(d, SchemaDefinitionNode) for d in document.definitions) and (
        schema.query_type is None
    ):
        raise SpecInvalid([Problem("", "the schema has no Query type")])
    return schema


def plain(value: object) -> str:
    """A description as stored: PostgreSQL text and JSON cannot hold NUL characters, and an
    introspection result may carry anything (build_client_schema does not check)."""
    return value.replace("\x00", "") if isinstance(value, str) else ""


def _default(arg: Any) -> tuple[bool, Any, str | None]:
    """(has a default, its JSON value, its GraphQL literal) of an argument or input field."""
    node = get_default_value_ast(arg)
    if node is None:
        return False, None, None
    return True, value_from_ast_untyped(node), print_ast(node)


def _deprecation(thing: Any) -> dict[str, Any]:
    reason = getattr(thing, "deprecation_reason", None)
    return {"deprecated": True, "x-deprecation-reason": plain(reason)} if reason else {}


def type_ref(t: Any) -> dict[str, Any]:
    """A field's or argument's type as JSON Schema: built-in scalars inline, lists as arrays,
    every named type a reference to its component; ``x-graphql-type`` keeps the spelling."""
    if isinstance(t, GraphQLNonNull):
        inner = type_ref(t.of_type)
        return {**inner, "x-graphql-type": f"{inner['x-graphql-type']}!"}
    if isinstance(t, GraphQLList):
        inner = type_ref(t.of_type)
        return {"type": "array", "items": inner, "x-graphql-type": f"[{inner['x-graphql-type']}]"}
    if t.name in _SCALARS:
        return {**_SCALARS[t.name], "x-graphql-type": t.name}
    return {"$ref": REF + t.name, "x-graphql-type": t.name}


def _argument(name: str, arg: Any) -> dict[str, Any]:
    has_default, value, literal = _default(arg)
    out: dict[str, Any] = {
        "name": name,
        "description": plain(arg.description),
        "type": str(arg.type),
        "schema": type_ref(arg.type),
        **_deprecation(arg),
    }
    if has_default:
        out["default"] = value
        out["defaultValue"] = literal
    return out


def type_component(t: Any) -> dict[str, Any]:
    """A named type as a component: JSON Schema for the diff, examples and samples, with the
    GraphQL facts a reference shows (kind, arguments with defaults, enum values, interfaces,
    possible types, deprecations) under ``x-graphql-*``."""
    out: dict[str, Any] = {"title": t.name}
    if t.description:
        out["description"] = plain(t.description)
    if isinstance(t, GraphQLScalarType):
        out.update(type="string", **{"x-graphql-kind": "SCALAR"})
        if getattr(t, "specified_by_url", None):
            out["x-specified-by"] = t.specified_by_url
        return out
    if isinstance(t, GraphQLEnumType):
        out.update(
            {
                "type": "string",
                "enum": list(t.values),
                "x-graphql-kind": "ENUM",
                "x-graphql-enum-values": [
                    {"name": n, "description": plain(v.description), **_deprecation(v)}
                    for n, v in t.values.items()
                ],
            }
        )
        return out
    if isinstance(t, GraphQLUnionType):
        out["x-graphql-kind"] = "UNION"
        out["oneOf"] = [type_ref(m) for m in t.types]
        return out
    kind = (
        "INPUT_OBJECT"
        if isinstance(t, GraphQLInputObjectType)
        else "INTERFACE"
        if isinstance(t, GraphQLInterfaceType)
        else "OBJECT"
    )
    props: dict[str, Any] = {}
    required: list[str] = []
    for fname, f in t.fields.items():
        prop = type_ref(f.type)
        if f.description:
            prop["description"] = plain(f.description)
        prop.update(_deprecation(f))
        if kind == "INPUT_OBJECT":
            has_default, value, literal = _default(f)
            if has_default:
                prop["default"] = value
                prop["x-graphql-default"] = literal
            if isinstance(f.type, GraphQLNonNull) and not has_default:
                required.append(fname)
        else:
            if f.args:
                prop["x-graphql-args"] = [_argument(n, a) for n, a in f.args.items()]
            if isinstance(f.type, GraphQLNonNull):
                required.append(fname)
        props[fname] = prop
    out.update({"type": "object", "x-graphql-kind": kind, "properties": props})
    if required:
        out["required"] = required
    interfaces = getattr(t, "interfaces", None)
    if interfaces:
        out["x-graphql-interfaces"] = [i.name for i in interfaces]
    return out


def parse(text: str) -> ParsedSpec:
    schema = schema_from(text)
    operations: list[dict[str, Any]] = []
    roots = (
        ("query", schema.query_type),
        ("mutation", schema.mutation_type),
        ("subscription", schema.subscription_type),
    )
    for kind, root in roots:
        if root is None:
            continue
        for name, f in root.fields.items():
            params = []
            for arg_name, arg in f.args.items():
                a = _argument(arg_name, arg)
                params.append(
                    {
                        "name": arg_name,
                        "in": "argument",
                        "required": isinstance(arg.type, GraphQLNonNull) and "default" not in a,
                        "description": a["description"],
                        "deprecated": bool(arg.deprecation_reason),
                        "schema": a["schema"],
                        "example": None,
                        "examples": [],
                        **(
                            {"default": a["default"], "defaultValue": a["defaultValue"]}
                            if "default" in a
                            else {}
                        ),
                    }
                )
            result = type_ref(f.type)
            operations.append(
                {
                    "key": f"{kind} {name}",
                    "kind": "operation",
                    "parent": None,
                    "method": kind.upper(),
                    "path": name,
                    "operationId": name,
                    "summary": plain(f.description).split("\n", 1)[0],
                    "description": plain(f.description),
                    "tags": [kind.capitalize()],
                    "deprecated": bool(f.deprecation_reason),
                    "parameters": params,
                    "requestBody": None,
                    "responses": [
                        {
                            "status": "data",
                            "description": result["x-graphql-type"],
                            "headers": [],
                            "content": [
                                {
                                    "mediaType": "application/json",
                                    "schema": result,
                                    "example": None,
                                    "examples": [],
                                }
                            ],
                            "links": [],
                        }
                    ],
                    "security": [],
                    "servers": [],
                    "externalDocs": None,
                }
            )
    if not operations:
        raise SpecInvalid([Problem("", "the schema defines no query, mutation or subscription")])
    components = [
        {"kind": "schemas", "name": name, "ref": REF + name, "body": type_component(t)}
        for name, t in schema.type_map.items()
        if not name.startswith("__") and name not in _SCALARS
    ]
    return ParsedSpec(
        format="GRAPHQL",
        title=plain(schema.description) or "GraphQL API",
        version="",
        description=plain(schema.description),
        servers=[],
        security_schemes={},
        tags=[{"name": k.capitalize(), "description": ""} for k, r in roots if r is not None],
        operations=operations,
        components=components,
        source_version="graphql",
    )
