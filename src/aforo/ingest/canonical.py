"""Our canonical event format: the REST batch, NDJSON, and every row of an upload.

```
{"events": [{"event_id": "…", "metric": "api_calls", "quantity": 1,
             "occurred_at": "2026-11-27T10:00:00.123Z", "consumer": "…", …}]}
```
"""

from __future__ import annotations

import contextlib
import gc
import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
import orjson

from aforo.ingest import fields as f
from aforo.ingest.fields import RecordInvalid
from aforo.services.usage.events import OUTCOMES, WIRE_FIELDS, Event, Parsed, Rejection

MAX_EVENTS = 10_000
RECORD_KEEP = 4096  # characters of a refused record kept with its dead letter

_TEXT = ("consumer", "route", "request_id", "client_ip", "tool", "agent", "session")
_INTS = ("request_bytes", "response_bytes")
KNOWN = frozenset(
    {
        "event_id",
        "metric",
        "quantity",
        "occurred_at",
        "subscription_id",
        "key_id",
        "properties",
        "method",
        "path",
        "status",
        "latency_ms",
        "outcome",
        *_TEXT,
        *_INTS,
    }
)
REQUIRED = ("event_id", "metric", "occurred_at")


class Unusable(Exception):
    """The payload as a whole cannot be read: nothing from it is ingested."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _uuid(v: Any, field: str) -> uuid.UUID | None:
    s = f.string(v, field, numbers=False)
    if s is None:
        return None
    try:
        return uuid.UUID(s)
    except ValueError:
        raise RecordInvalid("INVALID_VALUE", field, f"{field} must be a UUID") from None


def _outcome(v: Any, field: str) -> str | None:
    outcome = f.string(v, field, numbers=False)
    if outcome is not None and outcome not in OUTCOMES:
        raise RecordInvalid("INVALID_VALUE", field, f"outcome must be one of {OUTCOMES}")
    return outcome


def _properties(v: Any, field: str) -> dict[str, Any] | None:
    if v is None:
        return None
    if not isinstance(v, dict):
        raise RecordInvalid("INVALID_TYPE", field, "properties must be an object")
    f.check_json(v, field)
    return v or None


# The optional fields: name → converter(value, name). Only the fields present are visited.
_OPTIONAL: dict[str, Callable[[Any, str], Any]] = {
    **{name: f.string for name in _TEXT},
    **{name: f.integer for name in _INTS},
    "subscription_id": _uuid,
    "key_id": _uuid,
    "method": f.method,
    "path": f.path,
    "status": f.status,
    "latency_ms": f.number,
    "outcome": _outcome,
    "properties": _properties,
}
_CORE = frozenset({"event_id", "metric", "quantity", "occurred_at"})


TimeParser = Callable[[Any, str, datetime | None], datetime]


def event_from(
    obj: Any, source: str, now: datetime | None = None, time: TimeParser = f.rfc3339
) -> Event:
    """One canonical record → an ``Event``; raises ``RecordInvalid`` listing every bad field
    (required fields first, then the others in the record's order)."""
    try:
        return _event_from(obj, source, now, time)
    except RecordInvalid as first:
        # The fast path stops at the first bad field; a refused record is looked at again,
        # field by field, so the sender learns of every one at once.
        raise diagnose(obj, now, time) or first from None


def diagnose(obj: Any, now: datetime | None, time: TimeParser = f.rfc3339) -> RecordInvalid | None:
    """Every bad field of a canonical record, or None (nothing found: keep the first error)."""
    if not isinstance(obj, dict):
        return None
    c = f.Collector()
    for name in REQUIRED:
        if f.blank(obj.get(name)):
            c.errors.append(("MISSING_FIELD", name, f"{name} is required"))
    if not f.blank(obj.get("event_id")):
        c(f.string, obj["event_id"], "event_id", max_chars=f.MAX_ID)
    if not f.blank(obj.get("metric")):
        c(f.string, obj["metric"], "metric", max_chars=200, numbers=False)
    if not f.blank(obj.get("occurred_at")):
        c(time, obj["occurred_at"], "occurred_at", now)
    if "quantity" in obj:
        c(f.quantity, obj["quantity"], "quantity")
    for name, value in obj.items():
        convert = _OPTIONAL.get(name)
        if convert is not None:
            c(convert, value, name)
        elif name not in _CORE:
            field = str(name)[:200]
            c.errors.append(
                ("UNKNOWN_FIELD", field, f"unknown field {field!r}; put extra data in properties")
            )
    return RecordInvalid.of(c.errors) if c.errors else None


def _event_from(obj: Any, source: str, now: datetime | None, time: TimeParser) -> Event:
    if not isinstance(obj, dict):
        raise RecordInvalid("INVALID_TYPE", None, "an event must be a JSON object")
    get = obj.get
    event_id, metric, at = get("event_id"), get("metric"), get("occurred_at")
    blank = f.blank
    if blank(event_id) or blank(metric) or blank(at):
        name = next(n for n in REQUIRED if blank(get(n)))
        raise RecordInvalid("MISSING_FIELD", name, f"{name} is required")
    event_id = f.string(event_id, "event_id", max_chars=f.MAX_ID)
    metric = f.string(metric, "metric", max_chars=200, numbers=False)
    assert event_id is not None and metric is not None  # not blank, checked above
    e = Event(
        event_id=event_id,
        occurred_at=time(at, "occurred_at", now),
        source=source,
        metric=metric,
        quantity=f.quantity(get("quantity")),
    )
    optional = _OPTIONAL
    for name, value in obj.items():
        convert = optional.get(name)
        if convert is not None:
            setattr(e, name, convert(value, name))
        elif name not in _CORE:
            field = str(name)[:200]
            raise RecordInvalid(
                "UNKNOWN_FIELD", field, f"unknown field {field!r}; put extra data in properties"
            )
    return e


def rejection(e: RecordInvalid, index: int | None, obj: Any, raw: str | None = None) -> Rejection:
    event_id = obj.get("event_id") if isinstance(obj, dict) else None
    return Rejection(
        code=e.code,
        message=e.message,
        field=e.field,
        index=index,
        event_id=event_id[:200] if isinstance(event_id, str) else None,
        record=raw[:RECORD_KEEP] if raw is not None else _dump(obj),
        errors=e.errors,
        basis=(raw if raw is not None else _full(obj)).encode("utf-8", "surrogatepass"),
    )


def _full(obj: Any) -> str:
    """A refused record's whole content, deterministically: what its dead letter is keyed by."""
    try:
        return json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        return repr(obj)


# Gateway logs carry request headers (Kong's http-log includes them): a refused record is kept
# for debugging, never with a credential in it.
_SECRET = re.compile(r"authori[sz]ation|api[-_]?key|cookie|token|secret|password|signature", re.I)


def redact(obj: Any, depth: int = 0) -> Any:
    if depth > 32:
        return "…"
    if isinstance(obj, dict):
        return {
            k: "[redacted]" if isinstance(k, str) and _SECRET.search(k) else redact(v, depth + 1)
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [redact(v, depth + 1) for v in obj]
    return obj


def _dump(obj: Any) -> str:
    try:
        return json.dumps(redact(obj), ensure_ascii=False, default=str)[:RECORD_KEEP]
    except (TypeError, ValueError, RecursionError):
        return repr(type(obj))


def collect(
    items: Iterable[tuple[int, Any, str | None]],
    build: Callable[[Any], Event],
    parsed: Parsed | None = None,
) -> Parsed:
    """Build events from (index, object, raw text) items; a bad one becomes a rejection."""
    out = parsed or Parsed()
    with gc_paused():
        for index, obj, raw in items:
            try:
                out.add(index, build(obj))
            except RecordInvalid as e:
                out.rejected.append(rejection(e, index, obj, raw))
    return out


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a batch is built. Every object made here is kept
    until the batch is written, so each collection (one per few hundred events) would only
    walk them, and the server's whole heap now and then, to free nothing. Synchronous code:
    no other request runs meanwhile; the collector resumes at the end."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# orjson reads an integer beyond 64 bits as a float, losing digits: a body with a run of 19
# digits anywhere (even inside a string; the test is only a shortcut) takes the exact parser.
_LONG_DIGITS = re.compile(rb"[0-9]{19}")


def decode(data: bytes) -> Any:
    """One JSON value from UTF-8 bytes, parsed by ``orjson`` (several times faster). What it
    refuses or would read differently (invalid UTF-8 or JSON, but also NaN, integers beyond 64
    bits, escaped lone surrogates) goes to the standard parser, which decides exactly as
    before and explains why; ``ValueError`` / ``UnicodeDecodeError`` / ``RecursionError``
    when it fails too."""
    if _LONG_DIGITS.search(data) is None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data.decode("utf-8"))


def loads(body: bytes) -> Any:
    """A whole JSON document (UTF-8, as RFC 8259 requires; a BOM is tolerated), or
    ``Unusable``."""
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    try:
        return decode(body)
    except UnicodeDecodeError:
        raise Unusable("INVALID_UTF8", "the body is not valid UTF-8") from None
    except ValueError as e:
        raise Unusable("INVALID_JSON", f"the body is not valid JSON: {e}") from None
    except RecursionError:
        raise Unusable("INVALID_JSON", "the body is nested too deeply") from None


def ndjson_lines(body: bytes) -> Iterable[tuple[int, Any, str | None]]:
    """(index, object or a RecordInvalid, raw) per non-empty line of an NDJSON body."""
    index = 0
    for line in body.split(b"\n"):
        if not line.strip():
            continue
        yield index, *_line(line)
        index += 1


def _line(line: bytes) -> tuple[Any, str | None]:
    raw = line.decode("utf-8", "backslashreplace")
    try:
        return decode(line), raw
    except UnicodeDecodeError:
        return RecordInvalid("INVALID_UTF8", None, "the line is not valid UTF-8"), raw
    except (ValueError, RecursionError):
        return RecordInvalid("INVALID_JSON", None, "the line is not valid JSON"), raw


def _raise_or(build: Callable[[Any], Event]) -> Callable[[Any], Event]:
    def go(obj: Any) -> Event:
        if isinstance(obj, RecordInvalid):
            raise obj
        return build(obj)

    return go


# -- the typed fast path --------------------------------------------------------------------
# A batch is first decoded by msgspec straight into typed records, with the checks that need no
# Python (JSON syntax, the envelope, field names, JSON types, lengths, ranges, patterns) done
# in that one C pass. What is left per record is what the general path would also do to a
# valid value (time bounds, quantity as a decimal, method case, path form), with the same
# functions. A batch that does not decode that way (an unknown field, a numeric string, an
# integer id, a value out of range, ``"-"`` or a blank string, a NUL, a lone surrogate, a time
# with a space or more than six fraction digits) takes the general path, which also says what is
# wrong with every record.
_FAST_TIME = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)\Z"
# At most 16 K characters: surely within the 64 KiB UTF-8 limit (longer: the general path).
_Text = Annotated[str, msgspec.Meta(min_length=1, max_length=f.MAX_STRING_BYTES // 4)]
_Count = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
# Escapes the general path reads differently (NUL is refused; a lone surrogate too): a body
# with a \u escape of NUL or of a surrogate takes the general path.
_ESCAPE = re.compile(rb"\\u(0000|[dD][89a-fA-F])")


class _Record(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    event_id: Annotated[str, msgspec.Meta(min_length=1, max_length=f.MAX_ID)]
    metric: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    occurred_at: Annotated[str, msgspec.Meta(pattern=_FAST_TIME)]
    quantity: int | float | None = None
    consumer: _Text | None = None
    subscription_id: uuid.UUID | None = None
    key_id: uuid.UUID | None = None
    method: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z-]{1,16}\Z")] | None = None
    path: _Text | None = None
    route: _Text | None = None
    status: Annotated[int, msgspec.Meta(ge=100, le=599)] | None = None
    latency_ms: Annotated[float, msgspec.Meta(ge=0)] | None = None
    request_bytes: _Count | None = None
    response_bytes: _Count | None = None
    request_id: _Text | None = None
    client_ip: _Text | None = None
    tool: _Text | None = None
    agent: _Text | None = None
    session: _Text | None = None
    outcome: Literal["success", "tool_error", "protocol_error", "cancelled"] | None = None
    properties: dict[str, Any] | None = None


class _Envelope(msgspec.Struct, gc=False):
    events: list[_Record]


_DECODE_ENVELOPE = msgspec.json.Decoder(_Envelope).decode
_DECODE_ARRAY = msgspec.json.Decoder(list[_Record]).decode
assert OUTCOMES == ("success", "tool_error", "protocol_error", "cancelled")


def _fast(records: list[_Record], source: str, now: datetime) -> Parsed | None:
    """The batch's events, or None when a record needs the general path."""
    events: list[Event] = []
    bounded, quantity, fromisoformat = f._bounded, f.quantity, datetime.fromisoformat
    try:
        for r in records:
            # "-" and blank strings mean "no value" to the general path: leave them to it.
            for v in (r.event_id, r.metric, r.consumer, r.path, r.route, r.request_id):
                if v is not None and (v == "-" or v.isspace()):
                    return None
            for v in (r.client_ip, r.tool, r.agent, r.session):
                if v is not None and (v == "-" or v.isspace()):
                    return None
            q = r.quantity
            p = r.path
            if p is not None and ("%" in p or "?" in p or "#" in p or "://" in p[:12]):
                p = f.path(p)
            m = r.method
            props = r.properties
            events.append(
                Event(
                    r.event_id,
                    bounded(fromisoformat(r.occurred_at), "occurred_at", now),
                    source,
                    r.metric,
                    _ONE if q is None else quantity(q),
                    r.consumer,
                    r.subscription_id,
                    r.key_id,
                    None,
                    None if m is None else m.upper(),
                    p,
                    r.route,
                    r.status,
                    r.latency_ms,
                    r.request_bytes,
                    r.response_bytes,
                    r.request_id,
                    r.client_ip,
                    r.tool,
                    r.agent,
                    r.session,
                    r.outcome,
                    None,
                    None,
                    None,
                    None if props is None else _properties(props, "properties"),
                )
            )
    except (RecordInvalid, ValueError):
        return None
    return Parsed(events=events, indexes=list(range(len(events))))


_ONE = f.quantity(None)


def csv_record(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row as a canonical record: empty cells are absent, properties is JSON text."""
    out: dict[str, Any] = {k: v for k, v in row.items() if v != ""}
    props = out.get("properties")
    if props is not None:
        try:
            out["properties"] = json.loads(props)
        except ValueError:
            raise RecordInvalid(
                "INVALID_JSON", "properties", "properties must be a JSON object"
            ) from None
    return out


def csv_builder(
    header: list[str], source: str, now: datetime, time: TimeParser
) -> Callable[[dict[str, str]], Event]:
    """Rows of a CSV in exactly our columns → events: the same conversions as ``event_from``
    (and the same refusals: a row with any doubt is handed to it), without its generic pass
    over the record. Empty cells are absent values."""
    present = set(header)
    optional = [(n, _OPTIONAL[n]) for n in header if n in _OPTIONAL and n != "properties"]
    has_properties = "properties" in present
    string = f.string

    def general(row: dict[str, str]) -> Event:
        return event_from(csv_record(row), source, now, time)

    def build(row: dict[str, str]) -> Event:
        try:
            event_id = string(row["event_id"], "event_id", max_chars=f.MAX_ID)
            metric = string(row["metric"], "metric", max_chars=200, numbers=False)
            at = row["occurred_at"]
            if event_id is None or metric is None or not at or has_properties:
                return general(row)
            q = row.get("quantity")
            e = Event(
                event_id=event_id,
                occurred_at=time(at, "occurred_at", now),
                source=source,
                metric=metric,
                quantity=_ONE if not q else f.quantity(q),
            )
            for name, convert in optional:
                v = row[name]
                if v:
                    setattr(e, name, convert(v, name))
            return e
        except RecordInvalid:
            return general(row)

    return build


assert WIRE_FIELDS[:26] == (
    "event_id",
    "occurred_at",
    "source",
    "metric",
    "quantity",
    "consumer",
    "subscription_id",
    "key_id",
    "source_account",
    "method",
    "path",
    "route",
    "status",
    "latency_ms",
    "request_bytes",
    "response_bytes",
    "request_id",
    "client_ip",
    "tool",
    "agent",
    "session",
    "outcome",
    "agent_version",
    "protocol_version",
    "error_code",
    "properties",
)  # the positional order ``_fast`` builds events in


def parse_batch(body: bytes, content_type: str, source: str = "rest") -> Parsed:
    """``{"events": [...]}`` (or a bare array) as JSON, or one event per line as NDJSON."""
    now = datetime.now().astimezone()
    if (
        "ndjson" not in content_type
        and "jsonl" not in content_type
        and (b"\\u" not in body or not _ESCAPE.search(body))
    ):
        try:
            raw = body[3:] if body.startswith(b"\xef\xbb\xbf") else body
            records = (_DECODE_ARRAY if raw.lstrip()[:1] == b"[" else _DECODE_ENVELOPE)(raw)
        except (msgspec.DecodeError, RecursionError):
            pass  # the general path reads it, and says what is wrong
        else:
            batch = records if isinstance(records, list) else records.events
            if len(batch) > MAX_EVENTS:
                raise Unusable("TOO_MANY_EVENTS", f"at most {MAX_EVENTS} events per request", 413)
            fast = _fast(batch, source, now)
            if fast is not None:
                return fast

    def build(obj: Any) -> Event:
        return event_from(obj, source, now)

    if "ndjson" in content_type or "jsonl" in content_type:
        items = list(ndjson_lines(body))
        if len(items) > MAX_EVENTS:
            raise Unusable("TOO_MANY_EVENTS", f"at most {MAX_EVENTS} events per request", 413)
        return collect(items, _raise_or(build))
    doc = loads(body)
    events = doc.get("events") if isinstance(doc, dict) else doc
    if not isinstance(events, list):
        raise Unusable("INVALID_ENVELOPE", 'expected {"events": [...]}')
    if len(events) > MAX_EVENTS:
        raise Unusable("TOO_MANY_EVENTS", f"at most {MAX_EVENTS} events per request", 413)
    return collect(((i, obj, None) for i, obj in enumerate(events)), build)
