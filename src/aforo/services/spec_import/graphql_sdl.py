"""GraphQL specs: SDL or an introspection result, read with graphql-core.

Every field of the query, mutation and subscription root types becomes an operation; its
arguments are the parameters (``in: "argument"``) and its return type is the one response. Types
are also described as JSON Schema (``x-graphql-type`` keeps the GraphQL spelling) so the diff,
the reference and the example synthesiser treat both formats alike.
"""

from __future__ import annotations

import json
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    Undefined,
    build_ast_schema,
    build_client_schema,
    validate_schema,
)
from graphql import parse as parse_sdl
from graphql.language import SchemaDefinitionNode

from aforo.services.spec_import.loader import Expansion, Problem, SpecInvalid, loads_json
from aforo.services.spec_import.model import ParsedSpec

MAX_DEPTH = 3
_SCALARS = {
    "Int": {"type": "integer", "format": "int32"},
    "Float": {"type": "number"},
    "String": {"type": "string"},
    "Boolean": {"type": "boolean"},
    "ID": {"type": "string"},
}


def _schema_from(text: str) -> GraphQLSchema:
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


def _has_default(arg: Any) -> bool:
    """graphql-core 3.3 keeps an SDL default as ``default`` (a literal); 3.2 as ``default_value``"""
    default = getattr(arg, "default", None)
    return (default is not None and default is not Undefined) or getattr(
        arg, "default_value", Undefined
    ) is not Undefined


def type_schema(
    t: Any, depth: int = 0, seen: tuple[str, ...] = (), budget: Expansion | None = None
) -> dict[str, Any]:
    """A GraphQL type as JSON Schema; object types nest ``MAX_DEPTH`` deep, cycles are marked.
    ``budget`` is shared by all operations: wide types nested three deep multiply."""
    budget = budget if budget is not None else Expansion()
    budget.take()
    if isinstance(t, GraphQLNonNull):
        inner = type_schema(t.of_type, depth, seen, budget)
        return {**inner, "x-graphql-type": f"{inner['x-graphql-type']}!"}
    if isinstance(t, GraphQLList):
        inner = type_schema(t.of_type, depth, seen, budget)
        return {"type": "array", "items": inner, "x-graphql-type": f"[{inner['x-graphql-type']}]"}
    name = t.name
    if isinstance(t, GraphQLScalarType):
        return {**_SCALARS.get(name, {"type": "string"}), "x-graphql-type": name}
    if isinstance(t, GraphQLEnumType):
        return {"type": "string", "enum": list(t.values), "x-graphql-type": name}
    if isinstance(t, GraphQLUnionType):
        return {
            "oneOf": [type_schema(m, depth + 1, seen, budget) for m in t.types],
            "x-graphql-type": name,
            "title": name,
        }
    if name in seen or depth >= MAX_DEPTH:
        return {"type": "object", "title": name, "x-graphql-type": name, "x-circular": name in seen}
    fields = t.fields
    props: dict[str, Any] = {}
    required: list[str] = []
    for fname, f in fields.items():
        props[fname] = type_schema(f.type, depth + 1, (*seen, name), budget)
        if f.description:
            props[fname]["description"] = plain(f.description)
        if isinstance(f.type, GraphQLNonNull) and (
            not isinstance(t, GraphQLInputObjectType) or not _has_default(f)
        ):
            required.append(fname)
    out: dict[str, Any] = {
        "type": "object",
        "title": name,
        "properties": props,
        "x-graphql-type": name,
    }
    if required:
        out["required"] = required
    return out


def parse(text: str) -> ParsedSpec:
    schema = _schema_from(text)
    operations: list[dict[str, Any]] = []
    budget = Expansion()
    for kind, root in (
        ("query", schema.query_type),
        ("mutation", schema.mutation_type),
        ("subscription", schema.subscription_type),
    ):
        if root is None:
            continue
        for name, f in root.fields.items():
            params = []
            for arg_name, arg in f.args.items():
                has_default = _has_default(arg)
                params.append(
                    {
                        "name": arg_name,
                        "in": "argument",
                        "required": isinstance(arg.type, GraphQLNonNull) and not has_default,
                        "description": plain(arg.description),
                        "deprecated": bool(arg.deprecation_reason),
                        "schema": type_schema(arg.type, budget=budget),
                        "example": None,
                    }
                )
            result = type_schema(f.type, budget=budget)
            operations.append(
                {
                    "key": f"{kind} {name}",
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
                            "content": [
                                {"mediaType": "application/json", "schema": result, "example": None}
                            ],
                        }
                    ],
                    "security": [],
                    "servers": [],
                }
            )
    if not operations:
        raise SpecInvalid([Problem("", "the schema defines no query, mutation or subscription")])
    return ParsedSpec(
        format="GRAPHQL",
        title=plain(schema.description) or "GraphQL API",
        version="",
        description=plain(schema.description),
        servers=[],
        security_schemes={},
        tags=[
            {"name": k.capitalize(), "description": ""}
            for k, r in (
                ("query", schema.query_type),
                ("mutation", schema.mutation_type),
                ("subscription", schema.subscription_type),
            )
            if r is not None
        ],
        operations=operations,
    )
