"""What every spec format is turned into: operations as plain JSON-able dicts.

An operation: ``key`` (``GET /pets/{id}`` or ``query user``), ``method``, ``path``,
``operationId``, ``summary``, ``description``, ``tags``, ``deprecated``, ``parameters`` (name, in,
required, description, deprecated, schema, example), ``requestBody`` (required, description,
content: [{mediaType, schema, example}]) , ``responses`` ([{status, description, content}]),
``security`` ([{scheme, scopes}]) and ``servers``. Schemas are JSON Schema with local references
already resolved; a cycle stays as ``{"$ref": …, "x-circular": true}``.
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
