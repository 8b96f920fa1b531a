"""What every spec format is turned into: plain JSON-able dicts.

An operation: ``key`` (``GET /pets/{id}``, ``query user``, ``webhook newPet POST``), ``kind``
(operation, webhook or callback; a callback's ``parent`` is its operation's key), ``method``,
``path``, ``operationId``, ``summary``, ``description``, ``tags``, ``deprecated``,
``parameters`` (name, in, required, description, deprecated, style, explode, allowReserved,
schema, example, examples), ``requestBody`` (required, description, content: [{mediaType,
schema, example, examples, encoding}]), ``responses`` ([{status, description, headers,
content, links}]), ``security`` ([{scheme, scopes, alt}]), ``servers`` and ``externalDocs``.

Schemas are JSON Schema with their ``$ref``s kept; the targets are ``components`` ([{kind,
name, ref, body}]), stored once and expanded on read (``schemas.expand``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ParsedSpec:
    format: str  # OPENAPI_3 | GRAPHQL
    title: str
    version: str
    description: str
    servers: list[dict[str, Any]]
    security_schemes: dict[str, Any]
    tags: list[dict[str, Any]]
    operations: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    external_docs: dict[str, Any] | None = None
    tag_groups: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    source_version: str = ""  # "2.0", "3.0.3", "3.1.0", "graphql"
    conversions: list[dict[str, Any]] = field(default_factory=list)  # Swagger 2.0 → 3.0
    files: list[str] = field(default_factory=list)  # of a multi-file spec, root first


def obj(value: Any) -> dict[str, Any]:
    """``value`` if it is an object, else an empty one (specs hold anything anywhere)."""
    return value if isinstance(value, dict) else {}


def seq(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
