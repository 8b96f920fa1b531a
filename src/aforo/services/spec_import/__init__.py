"""Spec import: OpenAPI 3.0/3.1 (YAML or JSON) and GraphQL (SDL or introspection JSON)."""

from __future__ import annotations

from aforo.services.spec_import import graphql_sdl, openapi
from aforo.services.spec_import.loader import Problem, SpecInvalid, decode_text, load
from aforo.services.spec_import.model import ParsedSpec

FORMATS = ("OPENAPI_3", "GRAPHQL")

__all__ = ["FORMATS", "ParsedSpec", "Problem", "SpecInvalid", "parse"]


def parse(format: str, content: bytes | str) -> ParsedSpec:
    if format == "OPENAPI_3":
        return openapi.parse(load(content))
    if format == "GRAPHQL":
        return graphql_sdl.parse(decode_text(content))
    raise SpecInvalid([Problem("", f"unknown format {format!r}")], field="format")
