"""Spec import: OpenAPI 3.0/3.1 (YAML or JSON) and GraphQL (SDL or introspection JSON)."""

from __future__ import annotations

from aforo.services.spec_import import graphql_sdl, openapi
from aforo.services.spec_import.loader import Problem, SpecInvalid, decode_text, load, too_deep
from aforo.services.spec_import.model import ParsedSpec

FORMATS = ("OPENAPI_3", "GRAPHQL")

__all__ = ["FORMATS", "ParsedSpec", "Problem", "SpecInvalid", "parse"]


def parse(format: str, content: bytes | str) -> ParsedSpec:
    if format not in FORMATS:
        raise SpecInvalid([Problem("", f"unknown format {format!r}")], field="format")
    try:
        if format == "OPENAPI_3":
            return openapi.parse(load(content))
        return graphql_sdl.parse(decode_text(content))
    except RecursionError as e:
        # Every walk (YAML, $ref resolution, GraphQL type references) recurses along the
        # document; one nested past the stack is refused, whichever walk hit the bottom.
        raise too_deep() from e
