"""``$ref``s of an OpenAPI (or Swagger 2.0) document: finding them, resolving local ones, and
knowing which are schemas.

Schemas are stored once, as named components, with their references kept (``schemas.expand``
resolves them on read, to a depth). Every other kind of reference (a parameter, a response, a
path item …) is inlined into the operation that uses it at import. So whether a ``$ref`` sits in
a schema matters, and only the document's structure says: ``walk`` knows which keys lead into
a schema (``schema``, ``properties/*``, ``items``, ``allOf/*`` …) and which hold plain data
(``example``, ``default``, ``enum`` …) where a ``$ref`` key is not a reference at all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aforo.services.spec_import.lines import unescape

# JSON Schema keywords whose value is a schema, a list of schemas, or a map of named schemas.
SCHEMA_ONE = frozenset(
    {
        "items",
        "additionalProperties",
        "additionalItems",
        "not",
        "contains",
        "if",
        "then",
        "else",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
        "contentSchema",
    }
)
SCHEMA_LIST = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
SCHEMA_MAP = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
)
# Keys of OpenAPI objects whose value is data (an example may well contain a "$ref" key).
DATA = frozenset({"example", "default", "value", "enum", "const"})

_REF = re.compile(r'"\$ref"\s*:\s*"([^"\\]*(?:\\.[^"\\]*)*)"')


unescape_token = unescape


def escape(token: str) -> str:
    if "~" not in token and "/" not in token:
        return token
    return token.replace("~", "~0").replace("/", "~1")


def escape_at(at: str, token: object) -> str:
    """``at`` extended by one pointer token."""
    return f"{at}/{escape(str(token))}"


def split(ref: str) -> tuple[str, str]:
    """``file#/pointer`` → (file, pointer); a local ref has file ``""``."""
    file, _, fragment = ref.partition("#")
    return file, fragment


def is_pointer(fragment: str) -> bool:
    return fragment == "" or fragment.startswith("/")


MISSING = object()


def get(root: Any, fragment: str) -> Any:
    """The value a JSON pointer points at, or ``MISSING``."""
    node = root
    for raw in fragment.split("/")[1:] if fragment else []:
        token = unescape(_percent_decode(raw))
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return MISSING
    return node


def _percent_decode(token: str) -> str:
    if "%" not in token:
        return token
    from urllib.parse import unquote

    return unquote(token)


def found(value: Any) -> bool:
    return value is not MISSING


def all_refs(data: Any, text: str | None = None) -> set[str]:
    """Every distinct ``$ref`` string of a document, in one C-speed pass over its JSON text
    (``text`` when the document was JSON, else ``data`` serialised). Includes ``$ref`` keys
    inside example data; callers confirm with ``walk`` before blaming one of them."""
    if text is None:
        text = json.dumps(data, ensure_ascii=False, check_circular=False)
    raw = set(_REF.findall(text))
    return {json.loads(f'"{r}"') if "\\" in r else r for r in raw}


@dataclass(frozen=True)
class RefSite:
    node: dict[str, Any]  # the object holding "$ref"
    pointer: str  # where that object is
    schema: bool  # it sits where a schema goes


def walk(root: Any, *, schema: bool = False, at: str = "") -> Iterator[RefSite]:
    """Every ``$ref`` in a document (or a schema, with ``schema=True``), with its pointer and
    whether it is a schema reference. Iterative: documents can be nested deeper than Python
    recurses."""
    stack: list[tuple[Any, str, bool]] = [(root, at, schema)]
    while stack:
        node, ptr, in_schema = stack.pop()
        if isinstance(node, list):
            for i in range(len(node) - 1, -1, -1):
                stack.append((node[i], f"{ptr}/{i}", in_schema))
            continue
        if not isinstance(node, dict):
            continue
        if isinstance(node.get("$ref"), str):
            yield RefSite(node, ptr, in_schema)
        kids: list[tuple[Any, str, bool]] = []
        for key, value in node.items():
            if key == "$ref" or key.startswith("x-"):
                continue
            here = f"{ptr}/{escape(key)}"
            if in_schema:
                if key in SCHEMA_ONE or (key in SCHEMA_LIST and isinstance(value, list)):
                    kids.append((value, here, True))
                elif key in SCHEMA_MAP and isinstance(value, dict):
                    for name, sub in value.items():
                        kids.append((sub, f"{here}/{escape(name)}", True))
                # other keywords (example, enum, default, discriminator …) hold no schemas
                continue
            if key in DATA or (key == "examples" and isinstance(value, list)):
                continue
            if key == "schema":
                kids.append((value, here, True))
            elif key in ("schemas", "definitions") and isinstance(value, dict):
                # components/schemas (3.x) and definitions (2.0): maps of named schemas
                for name, sub in value.items():
                    kids.append((sub, f"{here}/{escape(name)}", True))
            else:
                kids.append((value, here, False))
        stack.extend(reversed(kids))
