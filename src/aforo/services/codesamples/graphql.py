"""A GraphQL sample operation that is valid against its schema.

The root field's required arguments (and those with an example) become variables. Its
selection set takes the return type's leaf fields (and one level into object fields), each
field's own required arguments filled, as variables too: a field like Saleor's
``translation(languageCode: LanguageCodeEnum!)`` cannot be selected without one, and leaving it
out is what made most generated operations invalid. A union is selected by ``__typename``; an
object type with nothing selectable as well. Types come from the spec's components (each
GraphQL named type is one, ``graphql_sdl.type_component``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aforo.services.spec_import import examples
from aforo.services.spec_import.model import obj

MAX_SELECTION = 12
MAX_NESTING = 1  # object fields below the root field's type
MAX_VARIABLES = 30


@dataclass
class Builder:
    components: dict[str, Any]
    decls: list[str] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)

    def variable(
        self, wanted: str, gql_type: str, schema: dict[str, Any], example: Any = None
    ) -> str:
        name, n = wanted, 1
        while name in self.variables:
            n += 1
            name = f"{wanted}{n}"
        self.decls.append(f"${name}: {gql_type}")
        value = example if example is not None else examples.from_schema(schema, self.components)
        self.variables[name] = value
        return f"${name}"

    def body(self, schema: dict[str, Any]) -> dict[str, Any] | None:
        while isinstance(schema, dict) and schema.get("type") == "array" and "items" in schema:
            schema = schema["items"]
        ref = schema.get("$ref") if isinstance(schema, dict) else None
        if not isinstance(ref, str):
            return None  # a built-in scalar
        found = self.components.get(ref)
        return found if isinstance(found, dict) else None

    def args(self, owner: str, args: list[dict[str, Any]]) -> str:
        chosen = []
        for a in args:
            required = str(a.get("type", "")).endswith("!") and "default" not in a
            if not required or len(self.variables) >= MAX_VARIABLES:
                continue
            var = self.variable(
                owner + a["name"][:1].upper() + a["name"][1:], a["type"], a.get("schema") or {}
            )
            chosen.append(f"{a['name']}: {var}")
        return f"({', '.join(chosen)})" if chosen else ""

    def selection(self, schema: dict[str, Any], depth: int) -> str:
        body = self.body(schema)
        if body is None:
            return ""
        kind = body.get("x-graphql-kind")
        if kind in ("SCALAR", "ENUM"):
            return ""
        if kind == "UNION" or "oneOf" in body:
            return "{ __typename }"
        fields: list[str] = []
        props = obj(body.get("properties"))
        for name, prop in props.items():
            if len(fields) >= MAX_SELECTION:
                break
            if not isinstance(prop, dict) or prop.get("deprecated"):
                continue
            inner = self.body(prop)
            leaf = inner is None or inner.get("x-graphql-kind") in ("SCALAR", "ENUM")
            if not leaf and depth >= MAX_NESTING:
                continue
            args_text = self.args(name, prop.get("x-graphql-args") or [])
            if leaf:
                fields.append(f"{name}{args_text}")
                continue
            nested = self.selection(prop, depth + 1)
            if nested:
                fields.append(f"{name}{args_text} {nested}")
        return "{ " + " ".join(fields or ["__typename"]) + " }"


def document(op: dict[str, Any], components: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The operation document and its variables."""
    b = Builder(components)
    kind = op["method"].lower()
    name = op["path"]
    root_args = []
    for p in op["parameters"]:
        if not p["required"] and p.get("example") is None:
            continue
        gql_type = p["schema"].get("x-graphql-type", "String")
        var = b.variable(p["name"], gql_type, p["schema"], p.get("example"))
        root_args.append(f"{p['name']}: {var}")
    result = op["responses"][0]["content"][0]["schema"] if op["responses"] else {}
    selection = b.selection(result, 0)
    op_name = name[:1].upper() + name[1:]
    decl = f"({', '.join(b.decls)})" if b.decls else ""
    args = f"({', '.join(root_args)})" if root_args else ""
    text = f"{kind} {op_name}{decl} {{ {name}{args}{f' {selection}' if selection else ''} }}"
    return text, b.variables
