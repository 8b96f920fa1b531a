"""Field coercion shared by every parser: one place decides what a valid value is.

Gateways are loose with types (Kong sends sizes as strings, AWS writes ``-`` for "no value"), so
numeric strings are coerced and no-value markers become null. Anything that cannot be coerced
raises ``RecordInvalid`` with a stable code and the offending field: the record is refused as a
whole, never stored half-filled.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

MAX_STRING_BYTES = 64 * 1024
MAX_ID = 200
NO_VALUE = frozenset({"-", ""})
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)  # gateway clocks drift; a day ahead is a bug, not skew
T = TypeVar("T")


FieldError = tuple[str, str | None, str]  # (code, field, message)


class RecordInvalid(Exception):
    """A record refused. ``errors`` lists every bad field found (the first is also ``code`` /
    ``field`` / ``message``): a sender fixes them all at once, not one per retry."""

    def __init__(
        self,
        code: str,
        field: str | None,
        message: str,
        errors: list[FieldError] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.message = message
        self.errors: list[FieldError] = errors or [(code, field, message)]

    @classmethod
    def of(cls, errors: list[FieldError]) -> RecordInvalid:
        code, field, message = errors[0]
        return cls(code, field, message, errors)


class Collector:
    """Runs field conversions and keeps every failure instead of stopping at the first:
    ``c(f.status, v, "status")`` is the converted value, or None with the error noted;
    ``c.check()`` then refuses the record with all of them."""

    __slots__ = ("errors",)

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def __call__(
        self, convert: Callable[..., T], value: Any, field: str, *args: Any, **kw: Any
    ) -> T | None:
        try:
            return convert(value, field, *args, **kw)
        except RecordInvalid as e:
            self.errors.extend(e.errors)
            return None

    def add(self, e: RecordInvalid) -> None:
        self.errors.extend(e.errors)

    def check(self) -> None:
        if self.errors:
            raise RecordInvalid.of(self.errors)


def check_strings(
    v: Any, path: str = "", depth: int = 0, out: list[FieldError] | None = None
) -> None:
    """Every string anywhere in a record (object keys too, fields we ignore included) is held
    to the per-field limit: a 1 MB user agent refuses its record even though we never store a
    user agent. Raises with every offending path (``request.headers.user-agent``)."""
    errors: list[FieldError] = [] if out is None else out
    if depth > 64:
        errors.append(
            ("INVALID_VALUE", path or None, f"{path or 'the record'} is nested too deeply")
        )
    elif type(v) is str:
        if (
            len(v) > MAX_STRING_BYTES // 4
            and len(v.encode("utf-8", "surrogatepass")) > MAX_STRING_BYTES
        ):
            errors.append(("TOO_LARGE", path or None, f"{path or 'a value'} is larger than 64 KiB"))
    elif type(v) is dict:
        for k, x in v.items():
            name = f"{path}.{k}" if path else str(k)
            if (
                len(k) > MAX_STRING_BYTES // 4
                and len(k.encode("utf-8", "surrogatepass")) > MAX_STRING_BYTES
            ):
                errors.append(("TOO_LARGE", name[:200], "a field name is larger than 64 KiB"))
                continue
            if type(x) is str or type(x) is dict or type(x) is list:
                check_strings(x, name[:200], depth + 1, errors)
    elif type(v) is list:
        for i, x in enumerate(v):
            if type(x) is str or type(x) is dict or type(x) is list:
                check_strings(x, f"{path}[{i}]"[:200], depth + 1, errors)
    if out is None and errors:
        raise RecordInvalid.of(errors)


def blank(v: Any) -> bool:
    return v is None or (type(v) is str and (v == "-" or not v.strip()))


def string(v: Any, field: str, *, max_chars: int | None = None, numbers: bool = True) -> str | None:
    """A text value: numbers are accepted as their decimal text (ids are often numeric)."""
    if type(v) is str and v.isascii() and len(v) <= MAX_STRING_BYTES and "\x00" not in v:
        # The common case, checked cheaply: ASCII text within the limits.
        if max_chars is not None and len(v) > max_chars:
            raise RecordInvalid("TOO_LONG", field, f"{field} is longer than {max_chars} characters")
        return None if v == "-" or not v.strip() else v
    if blank(v):
        return None
    if isinstance(v, bool) or not isinstance(v, str | int | float):
        raise RecordInvalid("INVALID_TYPE", field, f"{field} must be a string")
    if not isinstance(v, str):
        if not numbers:
            raise RecordInvalid("INVALID_TYPE", field, f"{field} must be a string")
        v = str(v)
    s: str = v
    check_text(s, field)
    if max_chars is not None and len(s) > max_chars:
        raise RecordInvalid("TOO_LONG", field, f"{field} is longer than {max_chars} characters")
    return s


def check_text(v: str, field: str) -> None:
    if (
        len(v) > MAX_STRING_BYTES // 4
        and len(v.encode("utf-8", "surrogatepass")) > MAX_STRING_BYTES
    ):
        raise RecordInvalid("TOO_LARGE", field, f"{field} is larger than 64 KiB")
    if "\x00" in v:
        raise RecordInvalid("INVALID_VALUE", field, f"{field} contains a NUL character")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError as e:
        raise RecordInvalid("INVALID_UTF8", field, f"{field} is not valid UTF-8") from e


def check_json(v: Any, field: str, depth: int = 0) -> None:
    """Every string inside a JSON value (keys too) obeys the same limits as a field."""
    if depth > 32:
        raise RecordInvalid("INVALID_VALUE", field, f"{field} is nested too deeply")
    if isinstance(v, str):
        check_text(v, field)
    elif isinstance(v, dict):
        for k, x in v.items():
            check_text(k, field)
            check_json(x, field, depth + 1)
    elif isinstance(v, list):
        for x in v:
            check_json(x, field, depth + 1)
    elif isinstance(v, float) and not math.isfinite(v):
        raise RecordInvalid("INVALID_VALUE", field, f"{field} holds a non-finite number")


def integer(v: Any, field: str, *, lo: int = 0, hi: int = 2**63 - 1) -> int | None:
    if type(v) is int and lo <= v <= hi:
        return v
    if type(v) is str and v.isascii() and v.isdigit() and len(v) < 19 and lo <= int(v) <= hi:
        return int(v)  # a CSV cell or a gateway's numeric string
    if blank(v):
        return None
    if isinstance(v, bool):
        raise RecordInvalid("INVALID_TYPE", field, f"{field} must be an integer")
    try:
        if isinstance(v, int):
            n = v
        elif isinstance(v, float):
            if not v.is_integer():
                raise ValueError
            n = int(v)
        elif isinstance(v, str):
            d = Decimal(v.strip())
            if d != d.to_integral_value():
                raise ValueError
            n = int(d)
        else:
            raise ValueError
    except (ValueError, InvalidOperation, OverflowError):
        raise RecordInvalid("INVALID_TYPE", field, f"{field} must be an integer") from None
    if not lo <= n <= hi:
        raise RecordInvalid("INVALID_VALUE", field, f"{field} must be between {lo} and {hi}")
    return n


def number(v: Any, field: str) -> float | None:
    if type(v) is float and 0 <= v < math.inf:
        return v
    if blank(v):
        return None
    if isinstance(v, bool):
        raise RecordInvalid("INVALID_TYPE", field, f"{field} must be a number")
    try:
        f = float(v.strip()) if isinstance(v, str) else float(v)
    except (TypeError, ValueError, OverflowError):
        raise RecordInvalid("INVALID_TYPE", field, f"{field} must be a number") from None
    if not math.isfinite(f) or f < 0:
        raise RecordInvalid("INVALID_VALUE", field, f"{field} must be a finite number ≥ 0")
    return f


def quantity(v: Any, field: str = "quantity") -> Decimal:
    if v is None or (isinstance(v, str) and not v.strip()):
        return Decimal(1)
    if isinstance(v, bool):
        raise RecordInvalid("INVALID_TYPE", field, "quantity must be a number")
    try:
        d = (
            Decimal(v)
            if type(v) is int
            else Decimal(v.strip())
            if isinstance(v, str)
            else Decimal(str(v))
        )
    except (InvalidOperation, ValueError):
        raise RecordInvalid("INVALID_TYPE", field, "quantity must be a number") from None
    if not d.is_finite():
        raise RecordInvalid("INVALID_VALUE", field, "quantity must be finite")
    if d < 0:
        raise RecordInvalid("NEGATIVE_QUANTITY", field, "quantity must not be negative")
    if d.adjusted() > 30:
        raise RecordInvalid("INVALID_VALUE", field, "quantity is too large")
    return d


def _bounded(t: datetime, field: str, now: datetime | None) -> datetime:
    if t.tzinfo is not UTC:
        t = t.astimezone(UTC)
    if t.microsecond % 1000:
        t = t.replace(microsecond=t.microsecond // 1000 * 1000)  # ms precision, truncated
    if t < EARLIEST:
        raise RecordInvalid("INVALID_TIMESTAMP", field, f"{field} is before 2000-01-01")
    if t > (now or datetime.now(UTC)) + FUTURE_SLACK:
        raise RecordInvalid("INVALID_TIMESTAMP", field, f"{field} is more than a day ahead")
    return t


_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$", re.ASCII)


def rfc3339(v: Any, field: str, now: datetime | None = None) -> datetime:
    """An RFC 3339 timestamp with an offset (a naive time would be a guess)."""
    if not isinstance(v, str) or not v.strip():
        if blank(v):
            raise RecordInvalid("MISSING_FIELD", field, f"{field} is required")
        raise RecordInvalid("INVALID_TIMESTAMP", field, f"{field} must be an RFC 3339 string")
    s = v.strip()
    if not _RFC3339.match(s):
        raise RecordInvalid(
            "INVALID_TIMESTAMP", field, f"{field} must be RFC 3339 with an offset, e.g. Z"
        )
    return _from_rfc3339(s, field, now)


def _from_rfc3339(s: str, field: str, now: datetime | None) -> datetime:
    """``s`` matched ``_RFC3339`` already."""
    if "z" in s or "t" in s:
        s = s.replace("z", "Z").replace("t", "T")
    try:
        # Any number of fraction digits; beyond microseconds they are truncated.
        t = datetime.fromisoformat(s)
    except ValueError:
        raise RecordInvalid("INVALID_TIMESTAMP", field, f"{field} is not a valid date") from None
    return _bounded(t, field, now)


def epoch(v: Any, field: str, now: datetime | None = None) -> datetime:
    """Epoch milliseconds (or seconds, when the number is too small to be milliseconds)."""
    try:
        n = number(v, field)
    except RecordInvalid:
        raise RecordInvalid(
            "INVALID_TIMESTAMP", field, f"{field} must be epoch milliseconds or RFC 3339"
        ) from None
    if n is None:
        raise RecordInvalid("MISSING_FIELD", field, f"{field} is required")
    ms = n if n >= 1e11 else n * 1000
    try:
        t = datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise RecordInvalid("INVALID_TIMESTAMP", field, f"{field} is out of range") from None
    return _bounded(t, field, now)


def when(v: Any, field: str, now: datetime | None = None) -> datetime:
    """Epoch numbers, numeric strings or RFC 3339: gateways use all three."""
    if isinstance(v, int | float) and not isinstance(v, bool):
        return epoch(v, field, now)
    if isinstance(v, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*", v):
        return epoch(v, field, now)
    if isinstance(v, str) and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?", v.strip()):
        return rfc3339(v.strip() + "Z", field, now)  # exports print UTC without an offset
    return rfc3339(v, field, now)


_METHOD = re.compile(r"[A-Za-z-]{1,16}")


def method(v: Any, field: str = "method") -> str | None:
    s = string(v, field, numbers=False)
    if s is None:
        return None
    if not _METHOD.fullmatch(s):
        raise RecordInvalid("INVALID_VALUE", field, "method must be an HTTP method name")
    return s.upper()


def path(v: Any, field: str = "path") -> str | None:
    """The path only: no scheme/host, no query string, percent-decoded as UTF-8 (left
    encoded when the escapes are not UTF-8, rather than refusing the record)."""
    s = string(v, field)
    if s is None:
        return None
    if "://" in s[:12]:
        s = urlsplit(s).path or "/"
    s = s.partition("?")[0].partition("#")[0]
    if "%" not in s:
        return s
    try:
        decoded = unquote(s, errors="strict")
    except UnicodeDecodeError:
        return s
    if "\x00" in decoded:
        return s
    return decoded


def status(v: Any, field: str = "status") -> int | None:
    return integer(v, field, lo=100, hi=599)


def derived_id(prefix: str, record: Any) -> str:
    """A deterministic id for a record that carries none: the same record resent gets the
    same id (so a gateway retry is a duplicate, not a second call)."""
    blob = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
    return f"{prefix}:{hashlib.sha256(blob.encode('utf-8', 'surrogatepass')).hexdigest()[:40]}"


def lookup(d: dict[str, Any], *names: str) -> Any:
    """The first present, non-blank value among ``names``; dotted names walk objects."""
    for name in names:
        cur: Any = d
        for part in name.split("."):
            cur = cur.get(part) if isinstance(cur, dict) else None
        if not blank(cur):
            return cur
    return None


_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def norm(name: str) -> str:
    """A field name as gateways spell it variously: ``StatusCode``, ``status_code``,
    ``Status Code``, ``status-code`` and ``status.code`` are all ``statuscode``."""
    return _NON_ALNUM.sub("", name.lower())


class Loose:
    """A gateway record read by loosely matched names (see ``norm``): flat keys first (so an
    Apigee flow variable ``client.received.start.timestamp`` and the analytics column
    ``client_received_start_timestamp`` are the same field), then dotted paths through nested
    objects (``properties.responseCode``). The first present, non-blank alias wins."""

    __slots__ = ("_index", "_nested", "raw")

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self._index: dict[str, tuple[Any, str]] = {}
        for k, v in raw.items():
            self._index.setdefault(norm(str(k)), (v, str(k)))
        self._nested: dict[str, Loose | None] = {}

    def _child(self, key: str) -> Loose | None:
        if key not in self._nested:
            hit = self._index.get(key)
            self._nested[key] = Loose(hit[0]) if hit and isinstance(hit[0], dict) else None
        return self._nested[key]

    def find(self, *names: str) -> tuple[Any, str]:
        """(value, the sender's own name for it); (None, first alias) when absent."""
        for name in names:
            hit = self._index.get(norm(name))
            if hit is not None and not blank(hit[0]):
                return hit
            if "." in name:
                head, _, rest = name.partition(".")
                child = self._child(norm(head))
                if child is not None:
                    v, k = child.find(rest)
                    if not blank(v):
                        return v, f"{self._index[norm(head)][1]}.{k}"
        return None, names[0]

    def get(self, *names: str) -> Any:
        return self.find(*names)[0]

    def has(self, *names: str) -> bool:
        return any(not blank(self.find(n)[0]) for n in names)


_TIMESPAN = re.compile(r"(?:(\d+)\.)?(\d{1,2}):(\d\d):(\d\d)(?:\.(\d{1,7}))?")


def duration_ms(v: Any, field: str) -> float | None:
    """Milliseconds from a number, or from a .NET TimeSpan text (``00:00:00.1234567``, what
    ``context.Elapsed`` prints in an Azure policy expression)."""
    if isinstance(v, str):
        m = _TIMESPAN.fullmatch(v.strip())
        if m:
            days, h, mi, sec, frac = m.groups()
            seconds = int(days or 0) * 86400 + int(h) * 3600 + int(mi) * 60 + int(sec)
            return seconds * 1000 + (int((frac or "0").ljust(7, "0")) / 10_000)
    return number(v, field)


_US_TIME = re.compile(
    r"(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d\d):(\d\d)(?:\.(\d+))?(?: ?([AaPp][Mm]))?"
)


def utc_text(v: Any, field: str, now: datetime | None = None) -> datetime:
    """``when`` plus the invariant-culture text .NET prints for ``DateTime.UtcNow.ToString()``
    (``11/27/2026 7:32:37 AM``), read as UTC: what an Azure policy logs when it is not told
    a format."""
    if isinstance(v, str):
        m = _US_TIME.fullmatch(v.strip())
        if m:
            mo, d, y, h, mi, s, frac, ampm = m.groups()
            hour = int(h) % 12 + (12 if ampm and ampm.lower() == "pm" else 0) if ampm else int(h)
            try:
                t = datetime(
                    int(y),
                    int(mo),
                    int(d),
                    hour,
                    int(mi),
                    int(s),
                    int((frac or "0")[:6].ljust(6, "0")),
                    tzinfo=UTC,
                )
            except ValueError:
                raise RecordInvalid(
                    "INVALID_TIMESTAMP", field, f"{field} is not a valid date"
                ) from None
            return _bounded(t, field, now)
    return when(v, field, now)


_NAIVE = re.compile(r"\d{4}-\d\d-\d\d(?:[Tt ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?)?", re.ASCII)
_EPOCH_SCALE = {"epoch_s": 1000.0, "epoch_ms": 1.0, "epoch_us": 1e-3, "epoch_ns": 1e-6}


def flex_time(
    v: Any,
    field: str,
    now: datetime | None = None,
    *,
    fmt: str = "auto",
    zone: tzinfo = UTC,
) -> datetime:
    """A time as people's exports write it (uploads): RFC 3339; an ISO 8601 date or date-time
    without an offset, read in ``zone``; epoch numbers (seconds or milliseconds, told apart by
    size); or, when ``fmt`` says so, one epoch unit or a ``strptime`` pattern."""
    if fmt in _EPOCH_SCALE:
        n = number(v, field)
        if n is None:
            raise RecordInvalid("MISSING_FIELD", field, f"{field} is required")
        return _from_ms(n * _EPOCH_SCALE[fmt], field, now)
    if fmt == "rfc3339":
        return rfc3339(v, field, now)
    if fmt != "auto":
        s = string(v, field)
        if s is None:
            raise RecordInvalid("MISSING_FIELD", field, f"{field} is required")
        try:
            t = datetime.strptime(s.strip(), fmt)
        except ValueError:
            raise RecordInvalid(
                "INVALID_TIMESTAMP", field, f"{field} does not match the format {fmt!r}"
            ) from None
        return _bounded(t if t.tzinfo else t.replace(tzinfo=zone), field, now)
    if isinstance(v, str):
        s = v.strip()
        if _RFC3339.match(s):
            return _from_rfc3339(s, field, now)
        if _NAIVE.fullmatch(s):
            try:
                t = datetime.fromisoformat(s.replace("t", "T"))
            except ValueError:
                raise RecordInvalid(
                    "INVALID_TIMESTAMP", field, f"{field} is not a valid date"
                ) from None
            return _bounded(t.replace(tzinfo=zone), field, now)
    if isinstance(v, int | float | str) and not isinstance(v, bool):
        try:
            return when(v, field, now)
        except RecordInvalid:
            pass
    if blank(v):
        raise RecordInvalid("MISSING_FIELD", field, f"{field} is required")
    raise RecordInvalid(
        "INVALID_TIMESTAMP",
        field,
        f"{field} must be RFC 3339, an ISO 8601 date or time (read in the upload's time zone) "
        "or epoch seconds / milliseconds",
    )


def _from_ms(ms: float, field: str, now: datetime | None) -> datetime:
    try:
        t = datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise RecordInvalid("INVALID_TIMESTAMP", field, f"{field} is out of range") from None
    return _bounded(t, field, now)
