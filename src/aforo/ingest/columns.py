"""Uploaded rows in the customer's own columns → usage events.

Where each event field comes from, in order: the upload's column mapping (a saved one chosen by
name, or one given inline), then the common names people's exports use (``timestamp``,
``request_id``, ``customer``, ``count``, ``meter``, ``status_code``, … matched loosely: case,
spaces, ``_`` and ``-`` do not matter). Columns that feed no field go to ``properties`` (or are
dropped, if the mapping says ``"extra": "ignore"``); every string in a row, dropped ones too,
still obeys the 64 KiB limit.

Without an id column a row's id is derived from its content and its occurrence in the file:
``row:<digest of the row>`` here, ``:<n>`` appended when the batch is written
(``services.usage.uploads.number_rows``): the same file uploaded again gets the same ids (all
duplicates), and two identical rows of one file are two events.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from aforo.ingest import canonical
from aforo.ingest import fields as f
from aforo.ingest.fields import RecordInvalid
from aforo.services.usage.column_mappings import SIZE_UNITS, TIME_UNITS, ColumnMapping
from aforo.services.usage.events import Event

DEFAULT_METRIC = "api_calls"
DERIVED = "row:"
# Event field → the names exports commonly give it, most specific first (compared by f.norm).
COMMON: dict[str, tuple[str, ...]] = {
    "event_id": (
        "event_id",
        "id",
        "request_id",
        "transaction_id",
        "idempotency_key",
        "message_id",
        "uuid",
    ),
    "occurred_at": (
        "occurred_at",
        "time",
        "timestamp",
        "date",
        "datetime",
        "event_time",
        "ts",
        "created_at",
        "request_time",
    ),
    "consumer": (
        "consumer",
        "customer",
        "customer_id",
        "consumer_id",
        "client_id",
        "api_key_id",
        "api_key",
        "client",
        "subscriber",
    ),
    "quantity": ("quantity", "qty", "count", "units", "usage", "value"),
    "metric": ("metric", "meter", "event", "event_name", "event_type", "metric_name", "meter_name"),
    "subscription_id": ("subscription_id",),
    "key_id": ("key_id",),
    "method": ("method", "http_method", "verb", "request_method"),
    "path": ("path", "url", "uri", "endpoint", "request_path", "request_uri"),
    "route": ("route", "route_template", "operation", "operation_id"),
    "status": ("status", "status_code", "http_status", "response_code", "response_status"),
    "latency_ms": (
        "latency_ms",
        "latency",
        "duration_ms",
        "duration",
        "response_time",
        "response_time_ms",
        "elapsed_ms",
    ),
    "request_bytes": ("request_bytes", "bytes_in", "request_size", "request_length"),
    "response_bytes": ("response_bytes", "bytes_out", "response_size", "response_length"),
    "request_id": ("request_id",),
    "client_ip": ("client_ip", "ip", "ip_address", "remote_addr", "remote_ip", "source_ip"),
    "tool": ("tool", "tool_name"),
    "agent": ("agent", "agent_name"),
    "session": ("session", "session_id"),
    "outcome": ("outcome",),
    "properties": ("properties",),
}
_COMMON_NORM = {target: tuple(f.norm(n) for n in names) for target, names in COMMON.items()}


class Plan:
    """For one set of source columns: which column feeds which field, and what is left over."""

    def __init__(self, columns: list[str], mapping: ColumnMapping | None) -> None:
        self.sources: dict[str, str] = {}  # field → column (or JSON path)
        m = mapping or ColumnMapping()
        used: set[str] = set()
        present = set(columns)
        by_norm: dict[str, str] = {}
        for col in columns:
            by_norm.setdefault(f.norm(col), col)
        for target, source in m.fields.items():
            # A column of that name (exactly, else loosely), or a JSON path looked up per row.
            col = source if source in present else by_norm.get(f.norm(source), source)
            self.sources[target] = col
            used.add(col)
        for target, names in _COMMON_NORM.items():
            if target in self.sources or target in m.constants:
                continue
            for n in names:
                found = by_norm.get(n)
                if found is not None and (found not in used or target == "request_id"):
                    self.sources[target] = found
                    used.add(found)
                    break
        self.extra = [c for c in columns if c not in used] if m.extra == "properties" else []
        self.mapping = m
        self.derived_id = "event_id" not in self.sources and "event_id" not in m.constants

    def missing(self) -> str | None:
        """A required field with no source at all (a header problem, not a row's)."""
        if "occurred_at" not in self.sources and "occurred_at" not in self.mapping.constants:
            return "occurred_at"
        return None


def _path(record: dict[str, Any], path: str) -> Any:
    if path in record:
        return record[path]
    cur: Any = record
    for part in path.removeprefix("$.").split("."):
        if isinstance(cur, dict):
            cur = cur.get(part)
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return None
    return cur


class RowReader:
    """Turns uploaded rows (CSV rows as dicts of text, JSON records as objects) into events."""

    def __init__(
        self, mapping: ColumnMapping | None, source: str, now: datetime, *, csv: bool
    ) -> None:
        self.mapping = mapping
        self.source = source
        self.now = now
        self.csv = csv
        self._plans: dict[tuple[str, ...], Plan] = {}
        m = mapping or ColumnMapping()
        zone = UTC if m.time_zone == "UTC" else m.zone
        fmt = m.time_format

        def time(v: Any, field: str, now: datetime | None = None) -> datetime:
            return f.flex_time(v, field, now, fmt=fmt, zone=zone)

        self.time: canonical.TimeParser = time

    def plan(self, columns: list[str]) -> Plan:
        key = tuple(columns)
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) > 1000:  # JSON records with ever-new key sets
                self._plans.clear()
            plan = self._plans[key] = Plan(columns, self.mapping)
        return plan

    def record(self, row: dict[str, Any]) -> dict[str, Any]:
        """The canonical record of a row (``event_id`` possibly a ``row:`` digest)."""
        plan = self.plan(list(row))
        m = plan.mapping
        out: dict[str, Any] = dict(m.constants)
        for target, col in plan.sources.items():
            v = row.get(col) if col in row else _path(row, col)
            if v is None or (self.csv and v == ""):
                continue
            if target in m.units:
                v = _scaled(target, v, m.units[target])
            out[target] = v
        props: dict[str, Any] = {}
        given = out.get("properties")
        if given is not None:
            if isinstance(given, str):
                try:
                    given = json.loads(given)
                except ValueError:
                    raise RecordInvalid(
                        "INVALID_JSON", "properties", "properties must be a JSON object"
                    ) from None
            if not isinstance(given, dict):
                raise RecordInvalid("INVALID_TYPE", "properties", "properties must be an object")
            props.update(given)
        for col in plan.extra:
            v = row[col]
            if not (self.csv and v == ""):
                props[col] = v
        if props:
            out["properties"] = props
        elif "properties" in out:
            del out["properties"]
        if "metric" not in out:
            out["metric"] = DEFAULT_METRIC
        if plan.derived_id:
            out["event_id"] = DERIVED + _digest(row)
        return out

    def event(self, row: Any) -> tuple[Event, bool]:
        """The row's event, and whether its id is a content digest still to be numbered."""
        if not isinstance(row, dict):
            raise RecordInvalid("INVALID_TYPE", None, "a record must be an object")
        errors: list[f.FieldError] = []
        f.check_strings(row, out=errors)
        try:
            rec = self.record(row)
        except RecordInvalid as e:
            raise RecordInvalid.of([*errors, *e.errors]) from None
        try:
            event = canonical.event_from(rec, self.source, self.now, self.time)
        except RecordInvalid as e:
            raise RecordInvalid.of([*errors, *(_renamed(e, self.plan(list(row))))]) from None
        if errors:
            raise RecordInvalid.of(errors)
        return event, self.plan(list(row)).derived_id


def _renamed(e: RecordInvalid, plan: Plan) -> list[f.FieldError]:
    """Errors named by the customer's column (``timestamp``), not our field (``occurred_at``)."""
    out: list[f.FieldError] = []
    for code, field, message in e.errors:
        col = plan.sources.get(field or "")
        out.append((code, col if col is not None else field, message))
    return out


def _digest(row: dict[str, Any]) -> str:
    try:
        blob = orjson.dumps(row, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except TypeError:  # integers beyond 64 bits
        blob = json.dumps(row, sort_keys=True, default=str).encode("utf-8", "surrogatepass")
    return hashlib.sha256(blob).hexdigest()[:40]


def _scaled(target: str, v: Any, unit: str | float) -> Any:
    if blank_text(v):
        return v
    try:
        if target == "quantity":
            return Decimal(str(v).strip()) * Decimal(str(unit))
        n = float(v.strip()) if isinstance(v, str) else float(v)
    except (InvalidOperation, ValueError, TypeError):
        raise RecordInvalid("INVALID_TYPE", target, f"{target} must be a number") from None
    if target == "latency_ms":
        return n * TIME_UNITS[str(unit)]
    scaled = n * SIZE_UNITS[str(unit)]
    return round(scaled)


def blank_text(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())
