"""Example values: the spec's own (example, examples, default, enum) first, else made up from
the schema so that a sample request is always well-formed."""

from __future__ import annotations

from typing import Any

_FORMATS: dict[str, Any] = {
    "uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "email": "user@example.com",
    "uri": "https://example.com",
    "url": "https://example.com",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
}
MAX_DEPTH = 6


def from_schema(schema: Any, depth: int = 0) -> Any:
    if not isinstance(schema, dict):
        return None
    for key in ("example", "default", "const"):
        if key in schema:
            return schema[key]
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if schema.get("x-circular") or depth > MAX_DEPTH:
        return {} if schema.get("type") in ("object", None) else None
    for key in ("oneOf", "anyOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return from_schema(schema[key][0], depth + 1)
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = from_schema(part, depth + 1)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    kind = schema.get("type")
    if isinstance(kind, list):  # 3.1: ["string", "null"]
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None and isinstance(schema.get("properties"), dict):
        kind = "object"
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: from_schema(p, depth + 1) for name, p in props.items()}
    if kind == "array":
        item = from_schema(schema.get("items"), depth + 1)
        return [item] if item is not None else []
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1.5))
    if kind == "boolean":
        return True
    if kind == "string":
        return _FORMATS.get(str(schema.get("format")), "string")
    if kind == "null":
        return None
    return None


def for_parameter(param: dict[str, Any]) -> Any:
    if param.get("example") is not None:
        return param["example"]
    value = from_schema(param.get("schema") or {})
    return "string" if value is None and param.get("in") != "argument" else value


def for_media(media: dict[str, Any]) -> Any:
    if media.get("example") is not None:
        return media["example"]
    return from_schema(media.get("schema") or {})
