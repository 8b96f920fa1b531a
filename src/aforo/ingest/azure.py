"""Azure API Management logs, as forwarded from Event Hubs.

Two shapes, told apart per record:
- the resource-log wrapper ``{"records": [...]}`` of ``GatewayLogs`` (diagnostic settings
  streaming to an event hub): ``time``, ``resourceId``, ``callerIpAddress``, ``correlationId``,
  ``durationMs`` and ``properties`` (``method``, ``url``, ``responseCode``, ``requestSize``,
  ``responseSize``, ``apimSubscriptionId``, ``operationId``, ``apiId``);
- messages from the ``log-to-eventhub`` policy template in docs/usage-formats.md.
Field names are matched case-insensitively: Event Hubs exports and Log Analytics differ in case.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aforo.ingest import fields as f
from aforo.ingest.canonical import collect
from aforo.ingest.records import envelope_items
from aforo.services.usage.events import Event, Parsed

SOURCE = "azure_apim"


def _ci(d: dict[str, Any]) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in d.items()}


def _service(resource_id: Any) -> str | None:
    s = f.string(resource_id, "resourceId")
    if s is None:
        return None
    parts = s.rstrip("/").split("/")
    for i, p in enumerate(parts[:-1]):
        if p.lower() == "service":
            return parts[i + 1].lower()
    return parts[-1].lower()


def _gateway_log(r: dict[str, Any], now: datetime) -> Event:
    p = r.get("properties")
    p = _ci(p) if isinstance(p, dict) else {}
    correlation = f.string(r.get("correlationid"), "correlationId")
    return Event(
        event_id=f"azure:{correlation}" if correlation else f.derived_id("azure", r),
        occurred_at=f.when(r.get("time"), "time", now),
        source=SOURCE,
        metric="api_calls",
        consumer=f.string(p.get("apimsubscriptionid"), "properties.apimSubscriptionId"),
        source_account=_service(r.get("resourceid")),
        method=f.method(p.get("method"), "properties.method"),
        path=f.path(p.get("url"), "properties.url"),
        route=f.string(p.get("operationid") or p.get("apiid"), "properties.operationId"),
        status=f.status(p.get("responsecode"), "properties.responseCode"),
        latency_ms=f.number(r.get("durationms"), "durationMs"),
        request_bytes=f.integer(p.get("requestsize"), "properties.requestSize"),
        response_bytes=f.integer(p.get("responsesize"), "properties.responseSize"),
        request_id=correlation,
        client_ip=f.string(r.get("calleripaddress"), "callerIpAddress"),
    )


def _policy_message(r: dict[str, Any], now: datetime) -> Event:
    request_id = f.string(r.get("requestid"), "RequestId")
    return Event(
        event_id=f"azure:{request_id}" if request_id else f.derived_id("azure", r),
        occurred_at=f.when(r.get("eventtime"), "EventTime", now),
        source=SOURCE,
        metric="api_calls",
        consumer=f.string(r.get("subscriptionid"), "SubscriptionId"),
        source_account=f.string(r.get("servicename"), "ServiceName"),
        method=f.method(r.get("method"), "Method"),
        path=f.path(r.get("url"), "Url"),
        route=f.string(r.get("operationid") or r.get("apiid"), "OperationId"),
        status=f.status(r.get("responsecode"), "ResponseCode"),
        latency_ms=f.number(r.get("elapsedms"), "ElapsedMs"),
        request_bytes=f.integer(r.get("requestsize"), "RequestSize"),
        response_bytes=f.integer(r.get("responsesize"), "ResponseSize"),
        request_id=request_id,
        client_ip=f.string(r.get("ipaddress"), "IpAddress"),
    )


def event_from(r: Any, now: datetime) -> Event:
    if not isinstance(r, dict):
        raise f.RecordInvalid("INVALID_TYPE", None, "an Azure log record must be an object")
    ci = _ci(r)
    if "properties" in ci and ("resourceid" in ci or "category" in ci):
        if f.blank(ci.get("time")):
            raise f.RecordInvalid("MISSING_FIELD", "time", "time is required")
        return _gateway_log(ci, now)
    if f.blank(ci.get("eventtime")):
        raise f.RecordInvalid("MISSING_FIELD", "EventTime", "EventTime is required")
    return _policy_message(ci, now)


def parse(body: bytes) -> Parsed:
    now = datetime.now(UTC)
    return collect(envelope_items(body, "an Azure log record"), lambda x: event_from(x, now))
