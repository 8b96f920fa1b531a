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
from typing import Any

import orjson

from aforo.ingest import fields as f
from aforo.ingest.fields import RecordInvalid
from aforo.services.usage.events import OUTCOMES, Event, Parsed, Rejection

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


def parse_batch(body: bytes, content_type: str, source: str = "rest") -> Parsed:
    """``{"events": [...]}`` (or a bare array) as JSON, or one event per line as NDJSON."""
    now = datetime.now().astimezone()

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
