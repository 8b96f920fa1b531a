"""The envelopes gateway forwarders wrap records in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aforo.ingest.canonical import Unusable, loads


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
