"""The normalized usage event every source is turned into, and a refused record.

Parsers (``aforo.ingest``) build these; the writer (````usage.writer``) stores them. Kept free of
I/O so the Kafka path can ship them as JSON and rebuild them unchanged on the other side.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any

import orjson

SOURCES = (
    "rest",
    "kong",
    "aws_apigateway",
    "azure_apim",
    "apigee",
    "mulesoft",
    "csv",
    "jsonl",
    "mcp",
    "playground",  # try-it runs from the API reference (services.playground)
)
OUTCOMES = ("success", "tool_error", "protocol_error", "cancelled")


@dataclass(slots=True)
class Event:
    event_id: str
    occurred_at: datetime
    source: str
    metric: str
    quantity: Decimal = Decimal(1)
    consumer: str | None = None
    subscription_id: uuid.UUID | None = None
    key_id: uuid.UUID | None = None
    source_account: str | None = None
    method: str | None = None
    path: str | None = None
    route: str | None = None
    status: int | None = None
    latency_ms: float | None = None
    request_bytes: int | None = None
    response_bytes: int | None = None
    request_id: str | None = None
    client_ip: str | None = None
    tool: str | None = None
    agent: str | None = None
    session: str | None = None
    outcome: str | None = None
    agent_version: str | None = None
    protocol_version: str | None = None
    error_code: int | None = None
    properties: dict[str, Any] | None = None
    upload_id: uuid.UUID | None = None
    _hash: bytes | None = field(default=None, repr=False, compare=False)

    def content_hash(self) -> bytes:
        """What "same content" means for idempotency: every field the sender chose. Computed
        before the consumer is mapped to our subscription/key (the mapping may change between
        two retries); never includes the upload the event came in."""
        if self._hash is None:
            # The values in a fixed order as one JSON array: one C call, unambiguous (an absent
            # value is null, never confused with a string), deterministic (object keys sorted;
            # times are UTC, truncated to milliseconds). Quantities compare by value: 1 = 1.0.
            values = _HASHED(self)
            later = _LATER(self)
            if later != (None, None, None):
                values = (*values, *later)
            q = self.quantity
            qtext = "1" if q == 1 else format(q.normalize(), "f")
            if self.properties is not None and self.properties.get("time") == "received":
                # The time is when we received it (the sender gave none): a resend is the same
                # event, whenever it arrives.
                values = (values[0], None, *values[2:])
            try:
                blob = orjson.dumps((*values[:4], qtext, *values[5:]), option=_SORTED)
            except TypeError:  # integers beyond 64 bits in properties: the exact slow form
                blob = json.dumps(
                    [qtext if i == 4 else _plain(v) for i, v in enumerate(values)],
                    sort_keys=True,
                    separators=(",", ":"),
                    ensure_ascii=False,
                ).encode("utf-8", "surrogatepass")
            self._hash = hashlib.sha256(blob).digest()
        return self._hash

    # -- the Kafka wire form ---------------------------------------------------------------
    def to_wire(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for name in WIRE_FIELDS:
            v = getattr(self, name)
            if v is None:
                continue
            if isinstance(v, datetime):
                v = v.isoformat()
            elif isinstance(v, Decimal | uuid.UUID):
                v = str(v)
            d[name] = v
        return d

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Event:
        kw = dict(d)
        kw["occurred_at"] = datetime.fromisoformat(kw["occurred_at"]).astimezone(UTC)
        kw["quantity"] = Decimal(kw.get("quantity", "1"))
        for name in ("subscription_id", "key_id", "upload_id"):
            if kw.get(name) is not None:
                kw[name] = uuid.UUID(kw[name])
        return cls(**kw)


WIRE_FIELDS = tuple(n for n in Event.__dataclass_fields__ if not n.startswith("_"))
_SORTED = orjson.OPT_SORT_KEYS


def _plain(v: Any) -> Any:
    """A value as ``orjson`` would write it, for the slow path of ``content_hash``."""
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, uuid.UUID):
        return str(v)
    return v


# The sender's content, in a fixed order (occurred_at 2nd, quantity 5th, properties last).
# Fields added later (_LATER) join the hash only when set, so an event stored before they
# existed hashes as it did then: its retry stays a duplicate.
_LATER_FIELDS = ("agent_version", "protocol_version", "error_code")
_HASHED = attrgetter(*(n for n in WIRE_FIELDS if n not in ("upload_id", *_LATER_FIELDS)))
_LATER = attrgetter(*_LATER_FIELDS)
assert WIRE_FIELDS[1] == "occurred_at" and WIRE_FIELDS[4] == "quantity"
assert WIRE_FIELDS[-2:] == ("properties", "upload_id")
# Every column in COPY order, read in one C call.
VALUES = attrgetter(*WIRE_FIELDS)
# Columns of ``usage_events`` the writer fills, in COPY order (received_at has a default).
COLUMNS = ("tenant_id", *WIRE_FIELDS)


@dataclass(slots=True)
class Rejection:
    """A refused record: where it was in the request (index or file row), why, and what.

    ``errors`` lists every bad field as (code, field, message); ``code`` / ``field`` /
    ``message`` are the first of them. ``basis`` is what identifies the refused record itself
    (its full content, never truncated): the dead letter's key, so a retried batch does not
    dead-letter its refused records twice.
    """

    code: str
    message: str
    field: str | None = None
    index: int | None = None
    event_id: str | None = None
    row: int | None = None
    record: str | None = None
    errors: list[tuple[str, str | None, str]] | None = None
    basis: bytes | None = None

    def all_errors(self) -> list[tuple[str, str | None, str]]:
        return self.errors or [(self.code, self.field, self.message)]

    def public(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "event_id": self.event_id,
            "code": self.code,
            "field": self.field,
            "message": self.message,
            "errors": [{"code": c, "field": f, "message": m} for c, f, m in self.all_errors()],
        }


@dataclass(slots=True)
class Parsed:
    """What a parser made of a payload: events to write, records refused, free records."""

    events: list[Event] = field(default_factory=list)
    indexes: list[int] = field(default_factory=list)  # each event's position in the request
    rejected: list[Rejection] = field(default_factory=list)
    free: int = 0  # records accepted but not metered (MCP protocol chatter)

    def add(self, index: int, event: Event) -> None:
        self.events.append(event)
        self.indexes.append(index)
