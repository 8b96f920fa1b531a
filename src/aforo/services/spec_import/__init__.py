"""Spec import: OpenAPI 3.0/3.1 and Swagger 2.0 (YAML or JSON, one file or several) and GraphQL
(SDL or introspection JSON).

``parse`` / ``parse_files`` are pure and CPU-bound; the service runs them in the import worker
(``worker.run``), off the event loop and under a CPU-time budget.
"""

from __future__ import annotations

from typing import Any

from aforo.services.spec_import import bundle, graphql_sdl, openapi, refs, swagger2
from aforo.services.spec_import.bundle import SpecFiles
from aforo.services.spec_import.loader import (
    Document,
    Problem,
    Problems,
    SpecInvalid,
    decode_text,
    load,
    locate,
    too_deep,
)
from aforo.services.spec_import.model import ParsedSpec

FORMATS = ("OPENAPI_3", "GRAPHQL")

__all__ = ["FORMATS", "ParsedSpec", "Problem", "SpecFiles", "SpecInvalid", "parse", "parse_files"]


def parse(format: str, content: bytes | str) -> ParsedSpec:
    """One document."""
    raw = content.encode() if isinstance(content, str) else content
    return parse_files(format, SpecFiles.single(raw))


def parse_files(format: str, spec: SpecFiles, *, source_url: str | None = None) -> ParsedSpec:
    if format not in FORMATS:
        raise SpecInvalid([Problem("", f"unknown format {format!r}")], field="format")
    try:
        if format == "OPENAPI_3":
            parsed = _openapi(spec, source_url)
        else:
            parsed = graphql_sdl.parse(_graphql_text(spec))
    except RecursionError as e:
        # Every walk (YAML, schemas, GraphQL type references) recurses along the document;
        # one nested past the stack is refused, whichever walk hit the bottom.
        raise too_deep() from e
    parsed.files = [spec.root, *(n for n in spec.files if n != spec.root)]
    return parsed


def _graphql_text(spec: SpecFiles) -> str:
    root = decode_text(spec.files[spec.root])
    if len(spec.files) == 1 or root.lstrip().startswith("{"):
        return root
    # Several SDL files (types, extensions) make one schema.
    rest = [decode_text(spec.files[n]) for n in sorted(spec.files) if n != spec.root]
    return "\n".join([root, *rest])


class _Converted(Document):
    """The OpenAPI 3 form of a Swagger 2.0 document: problems found in it are reported at
    (about) the place of the 2.0 source they came from."""

    def source_pointer(self, ptr: str) -> str:
        return swagger2.source_pointer(ptr)


def _openapi(spec: SpecFiles, source_url: str | None) -> ParsedSpec:
    root = load(spec.files[spec.root])
    data = root.data
    problems = Problems()
    if not isinstance(data, dict):
        raise SpecInvalid([Problem("", "an OpenAPI document must be an object")])
    is_swagger2 = "swagger" in data
    documents: dict[str | None, Document] = {None: root}
    # A JSON document's own text is scanned for references; anything else (YAML, a bundle,
    # a conversion) is serialised first.
    used = refs.all_refs(data, None if root.is_yaml else root.text)
    if bundle.has_external(used):
        documents = bundle.bundle(root, spec, problems, swagger2=is_swagger2)
        if problems:
            raise locate(problems, documents)
        used = refs.all_refs(data)
    conversions: list[dict[str, Any]] = []
    doc = root
    if is_swagger2:
        info = data.get("info")
        if not isinstance(info, dict) or not all(
            isinstance(info.get(k), str) for k in ("title", "version")
        ):
            problems.add(Problem("/info", "info with a title and a version is required"))
        converted, conversions = swagger2.convert(
            data, problems, scheme=swagger2.scheme_of(source_url)
        )
        if problems:
            raise locate(problems, documents)
        doc = _Converted(root.text, converted, root.is_yaml)
        documents = {**documents, None: doc}
        used = refs.all_refs(converted)
    return openapi.parse(
        doc,
        documents=documents,
        problems=problems,
        source_version="2.0" if is_swagger2 else None,
        conversions=conversions,
        used=used,
    )
