"""Usage metering: the normalized event, the bulk writer, uploads, quotas and reading usage.

Sub-modules by sub-domain: ``events`` (the event every source becomes), ``writer`` (the exactly-once
bulk write), ``mapping`` (consumer → our subscription and key), ``uploads`` (file upload jobs),
``column_mappings`` (tenants' saved column mappings for uploads), ``quota`` (the plan quota on
the verify path) and ``reading`` (rollups, events, dead letters). The public functions are
re-exported here.
"""

from aforo.services.usage.events import OUTCOMES, SOURCES, Event, Parsed, Rejection
from aforo.services.usage.reading import (
    GRANULARITIES,
    QUOTA_METRICS,
    Bucket,
    CurrentUsage,
    UsageFilter,
    UsageSeries,
    current_usage,
    decode_cursor,
    encode_cursor,
    list_events,
    list_rejections,
    month_period,
    quota_for_subscriptions,
    require_admin_or_owner,
    usage,
)
from aforo.services.usage.writer import WriteResult, dead_letter, write

__all__ = [
    "GRANULARITIES",
    "OUTCOMES",
    "QUOTA_METRICS",
    "SOURCES",
    "Bucket",
    "CurrentUsage",
    "Event",
    "Parsed",
    "Rejection",
    "UsageFilter",
    "UsageSeries",
    "WriteResult",
    "current_usage",
    "dead_letter",
    "decode_cursor",
    "encode_cursor",
    "list_events",
    "list_rejections",
    "month_period",
    "quota_for_subscriptions",
    "require_admin_or_owner",
    "usage",
    "write",
]
