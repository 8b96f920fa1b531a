"""Column mappings for uploads: how a tenant's own export becomes usage events.

A mapping says where each event field comes from (a CSV column, a JSON key or a dotted JSON
path), which fields are constants, how times are written and in which zone, and the units of
latencies, sizes and quantities. Saved per tenant under a name and chosen by name on upload, or
given inline. The stored form is the JSON a caller sends inline:

```
{"fields": {"occurred_at": "timestamp", "event_id": "request_id", "consumer": "customer.id"},
 "constants": {"metric": "api_calls"},
 "time_format": "%d/%m/%Y %H:%M:%S", "time_zone": "Europe/Madrid",
 "units": {"latency_ms": "s", "response_bytes": "KiB", "quantity": 1000},
 "extra": "properties"}
```
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.db import utcnow
from aforo.errors import NotFound, ValidationFailed
from aforo.models.usage import UsageMapping

# The event fields a mapping can fill (the canonical event's, as in docs/usage-formats.md).
TARGETS = (
    "event_id",
    "metric",
    "quantity",
    "occurred_at",
    "consumer",
    "subscription_id",
    "key_id",
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
    "properties",
)
TIME_FORMATS = ("auto", "rfc3339", "epoch_s", "epoch_ms", "epoch_us", "epoch_ns")
TIME_UNITS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1000.0, "min": 60_000.0}
SIZE_UNITS = {
    "B": 1,
    "KB": 1000,
    "KiB": 1024,
    "MB": 1000**2,
    "MiB": 1024**2,
    "GB": 1000**3,
    "GiB": 1024**3,
}
EXTRA = ("properties", "ignore")
MAX_NAME = 100
MAX_SOURCE = 200
MAX_SPEC = 16 * 1024
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}")


@dataclass(frozen=True)
class ColumnMapping:
    fields: dict[str, str] = field(default_factory=dict)
    constants: dict[str, str | int | float] = field(default_factory=dict)
    time_format: str = "auto"
    time_zone: str = "UTC"
    units: dict[str, str | float] = field(default_factory=dict)
    extra: str = "properties"

    def spec(self) -> dict[str, Any]:
        return {
            "fields": dict(self.fields),
            "constants": dict(self.constants),
            "time_format": self.time_format,
            "time_zone": self.time_zone,
            "units": dict(self.units),
            "extra": self.extra,
        }

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


def _bad(message: str, where: str) -> ValidationFailed:
    return ValidationFailed(message, field=where, code="INVALID_MAPPING")


def _target(name: Any, where: str) -> str:
    if name not in TARGETS:
        raise _bad(f"{str(name)[:100]!r} is not an event field; one of {TARGETS}", where)
    return str(name)


def validate(spec: Any) -> ColumnMapping:
    """A mapping from its JSON form, or ``ValidationFailed`` (code ``INVALID_MAPPING``) naming
    the offending part (``fields.occurred_at``, ``time_zone``, …)."""
    if not isinstance(spec, dict):
        raise _bad("a mapping is a JSON object", "mapping")
    unknown = sorted(
        set(spec) - {"fields", "constants", "time_format", "time_zone", "units", "extra"}
    )
    if unknown:
        raise _bad(f"unknown mapping key {unknown[0][:100]!r}", unknown[0][:100])
    fields: dict[str, str] = {}
    raw_fields = spec.get("fields") or {}
    if not isinstance(raw_fields, dict):
        raise _bad("fields maps event fields to source columns or JSON paths", "fields")
    for target, source in raw_fields.items():
        where = f"fields.{str(target)[:100]}"
        _target(target, where)
        if not isinstance(source, str) or not source.strip() or len(source) > MAX_SOURCE:
            raise _bad(f"a source is a column name or JSON path of 1-{MAX_SOURCE} chars", where)
        fields[target] = source.strip()
    constants: dict[str, str | int | float] = {}
    raw_constants = spec.get("constants") or {}
    if not isinstance(raw_constants, dict):
        raise _bad("constants maps event fields to fixed values", "constants")
    for target, value in raw_constants.items():
        where = f"constants.{str(target)[:100]}"
        _target(target, where)
        if target in fields:
            raise _bad(f"{target} is both mapped and a constant", where)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _bad("a constant is a string or a number", where)
        if isinstance(value, str) and (len(value) > MAX_SOURCE or "\x00" in value):
            raise _bad(f"a constant is at most {MAX_SOURCE} characters", where)
        constants[target] = value
    time_format = spec.get("time_format") or "auto"
    if not isinstance(time_format, str) or (
        time_format not in TIME_FORMATS and "%" not in time_format
    ):
        raise _bad(f"time_format is one of {TIME_FORMATS} or a strftime pattern", "time_format")
    if len(time_format) > 100:
        raise _bad("time_format is at most 100 characters", "time_format")
    time_zone = spec.get("time_zone") or "UTC"
    try:
        if not isinstance(time_zone, str) or len(time_zone) > 64:
            raise ValueError
        ZoneInfo(time_zone)
    except (ValueError, ZoneInfoNotFoundError):
        raise _bad("time_zone is an IANA zone name such as Europe/Madrid", "time_zone") from None
    units: dict[str, str | float] = {}
    raw_units = spec.get("units") or {}
    if not isinstance(raw_units, dict):
        raise _bad("units maps latency_ms, request_bytes, response_bytes, quantity", "units")
    for target, given in raw_units.items():
        where = f"units.{str(target)[:100]}"
        unit = _multiplier(given) if target == "quantity" else given
        if not _unit_ok(target, unit):
            raise _bad(
                f"latency_ms takes {tuple(TIME_UNITS)}, request_bytes / response_bytes take "
                f"{tuple(SIZE_UNITS)}, quantity a positive multiplier",
                where,
            )
        units[target] = unit
    extra = spec.get("extra") or "properties"
    if extra not in EXTRA:
        raise _bad(f"extra is one of {EXTRA}", "extra")
    return ColumnMapping(fields, constants, time_format, time_zone, units, extra)


def _multiplier(v: Any) -> Any:
    """A quantity multiplier given as text (GraphQL, query strings) is the number it spells."""
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return v


def _unit_ok(target: Any, unit: Any) -> bool:
    if target == "latency_ms":
        return unit in TIME_UNITS
    if target in ("request_bytes", "response_bytes"):
        return unit in SIZE_UNITS
    if target == "quantity":
        return (
            isinstance(unit, int | float) and not isinstance(unit, bool) and 0 < unit < 1e18
        )  # NaN fails both comparisons
    return False


def parse_inline(text: str) -> ColumnMapping:
    """An inline mapping (JSON text, as the upload's ``mapping_json`` parameter)."""
    if len(text) > MAX_SPEC:
        raise _bad(f"a mapping is at most {MAX_SPEC} bytes", "mapping_json")
    try:
        spec = json.loads(text)
    except ValueError:
        raise _bad("mapping_json is not valid JSON", "mapping_json") from None
    return validate(spec)


def _name(name: str) -> str:
    if not _NAME.fullmatch(name or ""):
        raise ValidationFailed(
            "a mapping name is 1-100 letters, digits, spaces, '.', '_' or '-'", field="name"
        )
    return name


async def save(session: AsyncSession, name: str, mapping: ColumnMapping) -> UsageMapping:
    """Create or replace the tenant's mapping of that name."""
    stmt = (
        pg_insert(UsageMapping)
        .values(tenant_id=session.info["tenant_id"], name=_name(name), spec=mapping.spec())
        .on_conflict_do_update(
            index_elements=["tenant_id", "name"],
            set_={"spec": mapping.spec(), "updated_at": utcnow()},
        )
        .returning(UsageMapping)
    )
    saved: UsageMapping = (await session.scalars(stmt)).one()
    await session.refresh(saved)
    return saved


async def list_all(session: AsyncSession) -> list[UsageMapping]:
    return list(await session.scalars(select(UsageMapping).order_by(UsageMapping.name)))


async def get(session: AsyncSession, name: str) -> ColumnMapping:
    row = await session.scalar(select(UsageMapping).where(UsageMapping.name == name[:MAX_NAME]))
    if row is None:
        raise NotFound("no usage mapping of that name", field="mapping")
    return validate(row.spec)


async def remove(session: AsyncSession, name: str) -> UsageMapping:
    row = await session.scalar(
        delete(UsageMapping).where(UsageMapping.name == name[:MAX_NAME]).returning(UsageMapping)
    )
    if row is None:
        raise NotFound("no usage mapping of that name", field="name")
    removed: UsageMapping = row
    return removed
