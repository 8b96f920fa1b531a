"""Example values: the spec's own (example, examples, default, const, enum) first, else made up
from the schema so that a sample request is well-formed and valid: strings satisfy ``pattern``
(``regexgen``), ``format``, ``minLength``/``maxLength``; numbers their bounds and
``multipleOf``; arrays ``minItems``/``uniqueItems``; objects carry their required properties
and a sensible number of optional ones. ``$ref``s are followed through the components given;
a cycle stops (an empty object), and so does depth.
"""

from __future__ import annotations

import math
from typing import Any

from aforo.services.spec_import import regexgen, schemas
from aforo.services.spec_import.model import obj

_FORMATS: dict[str, str] = {
    "uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "12:00:00Z",
    "duration": "P1D",
    "email": "user@example.com",
    "idn-email": "user@example.com",
    "uri": "https://example.com",
    "url": "https://example.com",
    "iri": "https://example.com",
    "uri-reference": "https://example.com",
    "iri-reference": "https://example.com",
    "uri-template": "https://example.com/{id}",
    "hostname": "example.com",
    "idn-hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "byte": "ZXhhbXBsZQ==",
    "binary": "example file contents",
    "password": "s3cret-Passw0rd",
    "json-pointer": "/a",
    "relative-json-pointer": "0",
    "regex": ".*",
}
MAX_DEPTH = 6
OPTIONAL_PROPERTIES = 12  # besides the required ones, in an object made up from its schema
MAX_ITEMS = 3


class Synth:
    def __init__(
        self,
        components: dict[str, Any] | None = None,
        *,
        request: bool = True,
        depth: int = MAX_DEPTH,
    ) -> None:
        self.components = components or {}
        self.request = request
        self.depth = depth

    def value(self, schema: Any, depth: int = 0, above: frozenset[str] = frozenset()) -> Any:
        if not isinstance(schema, dict):
            return None
        ref = schema.get("$ref")
        if isinstance(ref, str):
            if ref in above or ref not in self.components:
                return {} if ref in above else None
            body, _ = schemas.resolve(schema, self.components)
            return self.value(body, depth, above | {ref})
        for key in ("example", "default", "const"):
            if key in schema:
                return schema[key]
        examples = schema.get("examples")
        if isinstance(examples, list) and examples:
            return examples[0]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return next((v for v in schema["enum"] if v is not None), schema["enum"][0])
        if depth > self.depth:
            return {} if schema.get("type") in ("object", None) else None
        if isinstance(schema.get("allOf"), list):
            return self.value(schemas.merged(schema, self.components), depth + 1, above)
        for key in ("oneOf", "anyOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                chosen = next((o for o in options if not _is_null(o)), options[0])
                return self.value(chosen, depth + 1, above)
        kind = _kind(schema)
        if kind == "object":
            return self.object(schema, depth, above)
        if kind == "array":
            return self.array(schema, depth, above)
        if kind == "integer":
            return number(schema, integer=True)
        if kind == "number":
            return number(schema, integer=False)
        if kind == "boolean":
            return True
        if kind == "string":
            return text(schema)
        return None

    def object(self, schema: dict[str, Any], depth: int, above: frozenset[str]) -> dict[str, Any]:
        props = obj(schema.get("properties"))
        required = (
            set(schema.get("required") or []) if isinstance(schema.get("required"), list) else set()
        )
        out: dict[str, Any] = {}
        optional = 0
        for name, sub in props.items():
            flags = sub if isinstance(sub, dict) else {}
            if (self.request and flags.get("readOnly")) or (
                not self.request and flags.get("writeOnly")
            ):
                continue
            if name not in required:
                if optional >= OPTIONAL_PROPERTIES or flags.get("deprecated"):
                    continue
                optional += 1
            out[name] = self.value(sub, depth + 1, above)
        extra = schema.get("additionalProperties")
        if not props and isinstance(extra, dict):
            out["key"] = self.value(extra, depth + 1, above)
        return out

    def array(self, schema: dict[str, Any], depth: int, above: frozenset[str]) -> list[Any]:
        low = _int(schema.get("minItems"), 1)
        high = _int(schema.get("maxItems"), MAX_ITEMS)
        count = max(0, min(max(low, 1), high, MAX_ITEMS if low <= MAX_ITEMS else low))
        items = schema.get("items")
        first = self.value(items, depth + 1, above)
        if first is None and not isinstance(items, dict):
            return []
        out = [first]
        resolved, _ = (
            schemas.resolve(items, self.components) if isinstance(items, dict) else ({}, None)
        )
        enum = resolved.get("enum") if isinstance(resolved, dict) else None
        for i in range(1, count):
            if isinstance(enum, list) and len(enum) > i:
                out.append(enum[i])
            else:
                out.append(_vary(first, i) if schema.get("uniqueItems") else first)
        return out


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _is_null(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null"


def _kind(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):  # 3.1: ["string", "null"]
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None and isinstance(schema.get("properties"), dict):
        return "object"
    if kind is None and "items" in schema:
        return "array"
    if kind is None and ("pattern" in schema or "format" in schema or "minLength" in schema):
        return "string"
    return kind if isinstance(kind, str) else None


def _vary(value: Any, i: int) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value + i
    if isinstance(value, str):
        return f"{value}{i}"
    return value


def number(schema: dict[str, Any], *, integer: bool) -> int | float:
    """The smallest readable value within the bounds (and a multiple of ``multipleOf``)."""
    low, high = schema.get("minimum"), schema.get("maximum")
    ex_low, ex_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    step = schema.get("multipleOf")
    lo = -math.inf if not isinstance(low, int | float) or isinstance(low, bool) else float(low)
    hi = math.inf if not isinstance(high, int | float) or isinstance(high, bool) else float(high)
    lo_open = hi_open = False
    if isinstance(ex_low, bool):  # 3.0: a flag on minimum
        lo_open = ex_low
    elif isinstance(ex_low, int | float) and ex_low >= lo:
        lo, lo_open = float(ex_low), True
    if isinstance(ex_high, bool):
        hi_open = ex_high
    elif isinstance(ex_high, int | float) and ex_high <= hi:
        hi, hi_open = float(ex_high), True
    unit = (
        float(step)
        if isinstance(step, int | float) and not isinstance(step, bool) and step > 0
        else (1.0 if integer else 0.5)
    )
    start = 1.0 if integer else 1.5
    candidate = start if lo <= start <= hi else (lo if lo != -math.inf else hi)
    if isinstance(step, int | float) and not isinstance(step, bool) and step > 0:
        candidate = math.ceil(candidate / unit) * unit
    if integer:
        candidate = math.ceil(candidate)
    for _ in range(4):
        if lo_open and candidate <= lo:
            candidate += unit
        elif hi_open and candidate >= hi:
            candidate -= unit
        elif candidate < lo:
            candidate += unit
        elif candidate > hi:
            candidate -= unit
        else:
            break
    if math.isinf(candidate) or math.isnan(candidate):
        candidate = 0.0
    return int(candidate) if integer else candidate


def text(schema: dict[str, Any]) -> str:
    low = schema.get("minLength") if isinstance(schema.get("minLength"), int) else None
    high = schema.get("maxLength") if isinstance(schema.get("maxLength"), int) else None
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        made = regexgen.generate(pattern, low, high)
        if made is not None:
            return made
    value = _FORMATS.get(str(schema.get("format")), "string")
    if low is not None and len(value) < low:
        value = (value * (low // max(len(value), 1) + 1))[: max(low, len(value))]
    if high is not None and len(value) > high:
        value = value[:high]
    return value


def from_schema(
    schema: Any, components: dict[str, Any] | None = None, *, request: bool = True
) -> Any:
    return Synth(components, request=request).value(schema)


def for_parameter(param: dict[str, Any], components: dict[str, Any] | None = None) -> Any:
    if param.get("example") is not None:
        return param["example"]
    value = from_schema(param.get("schema") or {}, components)
    return "string" if value is None and param.get("in") != "argument" else value


def for_media(
    media: dict[str, Any], components: dict[str, Any] | None = None, *, request: bool = True
) -> Any:
    if media.get("example") is not None:
        return media["example"]
    return from_schema(media.get("schema") or {}, components, request=request)
