"""What the import worker runs (``worker.run(jobs.prepare, …)``): parse, bundle, inflate, diff.

Each job returns what the caller stores or shows as plain values and JSON text, so the result
crosses the process boundary cheaply and the event loop never walks a big object tree.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from aforo.services.spec_import import bundle as files
from aforo.services.spec_import import diff, graphql_diff, parse_files, worker
from aforo.services.spec_import.bundle import SpecFiles
from aforo.services.spec_import.loader import Problem, SpecInvalid
from aforo.services.spec_import.model import ParsedSpec

MAX_STORED_BYTES = 256 * 1024 * 1024  # all JSON of one version, once serialised


# Joins the JSON texts of one column: JSON text never holds a raw control character (every
# one is escaped inside strings), so PostgreSQL splits them back with ``string_to_array``.
SEPARATOR = "\x1e"


def dumps_bytes(value: Any) -> bytes:
    """Compact JSON, UTF-8. orjson is ten times faster than ``json.dumps`` on a Stripe-size
    spec; it refuses integers past 64 bits, which ``json`` writes."""
    try:
        return orjson.dumps(value)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(
            value, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode()


def dumps(value: Any) -> str:
    return dumps_bytes(value).decode()


# Rows go to PostgreSQL in statements of about this many bytes: one statement per table
# would be one message of megabytes, which the server copies into fresh memory several times
# over (asyncpg's buffers, the transport's); messages this size reuse what the last one freed.
CHUNK_BYTES = 1 << 20


@dataclass
class Rows:
    """Consecutive rows of one table as a few long values, not thousands of small objects:
    ``meta``, a JSON array of each row's small columns; ``json``, per JSON column, the rows'
    JSON texts (UTF-8) joined by ``SEPARATOR`` (an empty field: SQL null). The server passes
    each as one parameter (encoding thousands of array elements cost it more than storing
    the rest of the spec); PostgreSQL takes them apart. Bytes, not text: they are built by
    appending orjson's output and read back from the worker without decoding."""

    start: int  # the first row's position
    meta: str
    json: list[bytearray]


def _rows(meta: list[list[Any]], columns: list[list[Any]]) -> list[Rows]:
    """``meta`` and the values of each JSON column, cut into ``CHUNK_BYTES`` pieces."""
    out: list[Rows] = []
    start = size = 0
    sep = SEPARATOR.encode()
    bufs = [bytearray() for _ in columns]
    last = len(meta) - 1
    for i in range(len(meta)):
        for buf, column in zip(bufs, columns, strict=True):
            if i > start:
                buf += sep
            value = column[i]
            if value is not None:
                piece = dumps_bytes(value)
                buf += piece
                size += len(piece)
        if size >= CHUNK_BYTES or i == last:
            out.append(Rows(start, dumps(meta[start : i + 1]), bufs))
            start, size = i + 1, 0
            bufs = [bytearray() for _ in columns]
    return out


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
    tags: str  # declared tags, then undeclared ones operations use, each with its count
    tag_groups: str
    external_docs: str | None
    conversions: str
    source_version: str
    files: list[str]
    operation_count: int = 0  # operations proper (not webhooks or callbacks)
    # meta: [key, kind, parent, method, path, operation_id, summary, description, tags,
    # deprecated]; json: parameters, request body, responses, security, extra
    operations: list[Rows] = field(default_factory=list)
    components: list[Rows] = field(default_factory=list)  # meta: [kind, name, ref]; json: body


def stored(parsed: ParsedSpec) -> Prepared:
    try:
        return _stored(parsed)
    except ValueError as e:  # NaN / Infinity reached a value (a GraphQL default of 1e999)
        raise SpecInvalid([Problem("", f"numbers must be finite: {e}")]) from e


def _stored(parsed: ParsedSpec) -> Prepared:
    ops = parsed.operations
    meta = [
        [
            op["key"][:2100],
            op.get("kind", "operation"),
            (op.get("parent") or None) and op["parent"][:2100],
            op["method"],
            op["path"][:2048],
            (op["operationId"] or None) and str(op["operationId"])[:300],
            op["summary"],
            op["description"],
            [t[:200] for t in op["tags"]],
            op["deprecated"],
        ]
        for op in ops
    ]
    operations = _rows(
        meta,
        [
            [op["parameters"] for op in ops],
            [op["requestBody"] for op in ops],
            [op["responses"] for op in ops],
            # an operation's servers ride along with its security requirements (the try-it
            # playground reads them there)
            [[*op["security"], *({"server": s} for s in op.get("servers") or [])] for op in ops],
            [{k: op[k] for k in ("externalDocs", "callback") if op.get(k)} for op in ops],
        ],
    )
    component_meta = [[c["kind"], c["name"][:500], c["ref"][:2100]] for c in parsed.components]
    components = _rows(component_meta, [[c["body"] for c in parsed.components]])
    size = sum(len(b) for rows in (*operations, *components) for b in rows.json)
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
        tags=dumps(_tags(parsed)),
        tag_groups=dumps(parsed.tag_groups),
        external_docs=dumps(parsed.external_docs) if parsed.external_docs else None,
        conversions=dumps(parsed.conversions),
        source_version=parsed.source_version,
        files=parsed.files,
        operation_count=sum(1 for op in ops if op.get("kind", "operation") == "operation"),
        operations=operations,
        components=components,
    )


def _tags(parsed: ParsedSpec) -> list[dict[str, Any]]:
    """Declared tags in their order, then any other tag operations use (``default`` for
    operations without one), each with how many operations it has."""
    counts: Counter[str] = Counter()
    for op in parsed.operations:
        if op.get("kind", "operation") == "operation":
            counts.update([t[:200] for t in op["tags"]] or ["default"])
    names = {t["name"] for t in parsed.tags}
    out = [{**t, "declared": True, "operationCount": counts.get(t["name"], 0)} for t in parsed.tags]
    for tag, n in counts.items():
        if tag not in names:
            out.append({"name": tag, "description": "", "declared": False, "operationCount": n})
    return out


def prepare(format: str, spec: SpecFiles, source_url: str | None) -> Prepared:
    parsed = parse_files(format, spec, source_url=source_url)
    worker.free_after_reply(parsed)  # its tree is freed while the server stores the rows
    return stored(parsed)


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
