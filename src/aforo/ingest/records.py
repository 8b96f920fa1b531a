"""The envelopes gateway forwarders wrap records in, and what every gateway record shares."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from aforo.ingest import fields as f
from aforo.ingest.canonical import Unusable, loads
from aforo.services.usage.events import Event


def envelope_items(body: bytes, what: str) -> Iterator[tuple[int, Any, str | None]]:
    """One object, an array of objects, or ``{"records": [...]}`` → (index, record, None)."""
    doc = loads(body)
    if isinstance(doc, dict) and isinstance(doc.get("records"), list):
        items: list[Any] = doc["records"]
    elif isinstance(doc, list):
        items = doc
    elif isinstance(doc, dict):
        items = [doc]
    else:
        raise Unusable("INVALID_ENVELOPE", f"expected {what}, an array of them or {{records}}")
    return ((i, x, None) for i, x in enumerate(items))


# -- gateway access-log records -----------------------------------------------------------------
# What each normalized HTTP field is converted with; a gateway module says where to find it.
CONVERT: dict[str, Callable[[Any, str], Any]] = {
    "consumer": f.string,
    "source_account": f.string,
    "method": f.method,
    "path": f.path,
    "route": f.string,
    "status": f.status,
    "latency_ms": f.duration_ms,
    "request_bytes": f.integer,
    "response_bytes": f.integer,
    "request_id": f.string,
    "client_ip": f.string,
}


def http_fields(r: f.Loose, c: f.Collector, aliases: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """Each field of ``aliases`` (field → the names a gateway may use for it, first wins),
    converted; a bad value is noted in ``c`` under the sender's own name for it."""
    out: dict[str, Any] = {}
    for name, names in aliases.items():
        v, key = r.find(*names)
        if v is not None:
            out[name] = c(CONVERT[name], v, key)
    return out


def required_time(
    r: f.Loose,
    c: f.Collector,
    names: tuple[str, ...],
    now: datetime,
    parse: Callable[[Any, str, datetime | None], datetime] = f.when,
) -> datetime | None:
    v, key = r.find(*names)
    if v is None:
        c.errors.append(("MISSING_FIELD", key, f"{key} is required"))
        return None
    return c(parse, v, key, now=now)


def gateway_event(
    r: f.Loose,
    c: f.Collector,
    *,
    source: str,
    prefix: str,
    at: datetime | None,
    fields: dict[str, Any],
) -> Event:
    """The event of one access-log record, or ``RecordInvalid`` listing every bad field (the
    size of every string in it included, fields we do not read too)."""
    f.check_strings(r.raw, out=c.errors)
    c.check()
    assert at is not None  # a missing time is an error in ``c``
    request_id = fields.get("request_id")
    return Event(
        event_id=f"{prefix}:{request_id}" if request_id else f.derived_id(prefix, r.raw),
        occurred_at=at,
        source=source,
        metric="api_calls",
        **fields,
    )
