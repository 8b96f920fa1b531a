"""What the import worker runs (``worker.run(jobs.prepare, …)``): parse, bundle, inflate, diff.

Each job returns what the caller stores or shows as plain values and JSON text, so the result
crosses the process boundary cheaply and the event loop never walks a big object tree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import orjson

from aforo.services.spec_import import bundle as files
from aforo.services.spec_import import diff, graphql_diff, parse_files
from aforo.services.spec_import.bundle import SpecFiles
from aforo.services.spec_import.loader import Problem, SpecInvalid
from aforo.services.spec_import.model import ParsedSpec

MAX_STORED_BYTES = 256 * 1024 * 1024  # all JSON of one version, once serialised


def dumps(value: Any) -> str:
    """Compact JSON text. orjson is ten times faster than ``json.dumps`` on a Stripe-size
    spec; it refuses integers past 64 bits, which ``json`` writes."""
    try:
        return orjson.dumps(value).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


@dataclass
class StoredOperation:
    key: str
    kind: str
    parent: str | None
    method: str
    path: str
    operation_id: str | None
    summary: str
    description: str
    tags: list[str]
    deprecated: bool
    parameters: str  # JSON text, as stored (order kept: the columns are ``json``)
    request_body: str | None
    responses: str
    security: str
    extra: str


@dataclass
class Prepared:
    """A parsed spec, ready to insert."""

    format: str
    title: str
    version: str
    description: str
    info: str
    servers: str
    security_schemes: str
    tags: str
    tag_groups: str
    external_docs: str | None
    conversions: str
    source_version: str
    files: list[str]
    operations: list[StoredOperation] = field(default_factory=list)
    components: list[tuple[str, str, str, str]] = field(default_factory=list)  # kind name ref body


def stored(parsed: ParsedSpec) -> Prepared:
    try:
        return _stored(parsed)
    except ValueError as e:  # NaN / Infinity reached a value (a GraphQL default of 1e999)
        raise SpecInvalid([Problem("", f"numbers must be finite: {e}")]) from e


def _stored(parsed: ParsedSpec) -> Prepared:
    ops = []
    size = 0
    for op in parsed.operations:
        extra = {k: op[k] for k in ("externalDocs", "callback") if op.get(k)}
        row = StoredOperation(
            key=op["key"][:2100],
            kind=op.get("kind", "operation"),
            parent=(op.get("parent") or None) and op["parent"][:2100],
            method=op["method"],
            path=op["path"][:2048],
            operation_id=(op["operationId"] or None) and str(op["operationId"])[:300],
            summary=op["summary"],
            description=op["description"],
            tags=[t[:200] for t in op["tags"]],
            deprecated=op["deprecated"],
            parameters=dumps(op["parameters"]),
            request_body=dumps(op["requestBody"]) if op["requestBody"] is not None else None,
            responses=dumps(op["responses"]),
            # an operation's servers ride along with its security requirements (the try-it
            # playground reads them there)
            security=dumps([*op["security"], *({"server": s} for s in op.get("servers") or [])]),
            extra=dumps(extra),
        )
        size += len(row.parameters) + len(row.responses) + len(row.request_body or "")
        ops.append(row)
    components = []
    for c in parsed.components:
        body = dumps(c["body"])
        size += len(body)
        components.append((c["kind"], c["name"][:500], c["ref"][:2100], body))
    if size > MAX_STORED_BYTES:
        raise SpecInvalid(
            [Problem("", f"the spec stores as more than {MAX_STORED_BYTES} bytes")],
            code="SPEC_TOO_LARGE",
        )
    return Prepared(
        format=parsed.format,
        title=parsed.title,
        version=parsed.version,
        description=parsed.description,
        info=dumps(parsed.info),
        servers=dumps(parsed.servers),
        security_schemes=dumps(parsed.security_schemes),
        tags=dumps(parsed.tags),
        tag_groups=dumps(parsed.tag_groups),
        external_docs=dumps(parsed.external_docs) if parsed.external_docs else None,
        conversions=dumps(parsed.conversions),
        source_version=parsed.source_version,
        files=parsed.files,
        operations=ops,
        components=components,
    )


def prepare(format: str, spec: SpecFiles, source_url: str | None) -> Prepared:
    return stored(parse_files(format, spec, source_url=source_url))


def discover(content: bytes) -> set[str]:
    """The files a document's ``$ref``s name (for URL imports: what to fetch next)."""
    return files.file_refs(content.decode("utf-8", "replace"))


def unzip(data: bytes) -> dict[str, bytes]:
    return files.read_zip(data)


# -- diff ------------------------------------------------------------------------------------
_OP_JSON = ("parameters", "requestBody", "responses", "security", "extra")


def _operation(row: dict[str, Any]) -> dict[str, Any]:
    op = {k: (json.loads(v) if k in _OP_JSON and isinstance(v, str) else v) for k, v in row.items()}
    op["servers"] = [s["server"] for s in op["security"] if "server" in s]
    op["security"] = [s for s in op["security"] if "scheme" in s]
    op.update(op.pop("extra") or {})
    return op


def openapi_diff(
    old_ops: list[dict[str, Any]],
    new_ops: list[dict[str, Any]],
    old_components: list[tuple[str, str]],
    new_components: list[tuple[str, str]],
) -> list[diff.Change]:
    """Operations as stored (JSON columns as text) and components as (ref, JSON text): parsed
    here, in the worker, not on the event loop."""
    return diff.diff(
        [_operation(o) for o in old_ops],
        [_operation(o) for o in new_ops],
        {ref: json.loads(body) for ref, body in old_components},
        {ref: json.loads(body) for ref, body in new_components},
    )


def graphql_changes(old_source: str, new_source: str) -> list[diff.Change]:
    return graphql_diff.diff(old_source, new_source)
