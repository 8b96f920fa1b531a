"""Azure API Management logs, as forwarded from Event Hubs.

Three shapes, told apart by nothing but their field names (matched loosely: case, spaces and
``_`` / ``-`` / ``.`` do not matter), in one request or mixed:
- resource logs of the ``GatewayLogs`` category (diagnostic settings streaming to an event
  hub): ``time``, ``resourceId``, ``callerIpAddress``, ``correlationId``, ``durationMs`` and
  ``properties`` (``method``, ``url``, ``responseCode``, ``requestSize``, ``responseSize``,
  ``apimSubscriptionId``, ``operationId``, ``apiId``);
- the resource-specific table ``ApiManagementGatewayLogs`` as a Log Analytics data export
  writes it (``TimeGenerated``, ``CorrelationId``, ``Method``, ``Url``, ``ResponseCode``,
  ``TotalTime``, ``ApimSubscriptionId``, ``_ResourceId``, …);
- messages of a ``log-to-eventhub`` policy, whose names the policy's author chose: our template
  (docs/usage-formats.md) and the names Microsoft's own examples use (``EventTime``,
  ``RequestIp``, ``StatusCode``, ``OperationName``, ``context.Elapsed`` as a TimeSpan, a
  ``DateTime.UtcNow.ToString()`` time without an offset, read as UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aforo.ingest import fields as f
from aforo.ingest.canonical import collect
from aforo.ingest.records import envelope_items, gateway_event, http_fields, required_time
from aforo.services.usage.events import Event, Parsed

SOURCE = "azure_apim"
TIME = ("time", "TimeGenerated", "EventTime", "Timestamp", "DateTime", "RequestTime")
ALIASES = {
    "consumer": (
        "properties.apimSubscriptionId",
        "ApimSubscriptionId",
        "SubscriptionId",
        "Subscription.Id",
        "SubscriptionName",
        "Subscription.Name",
    ),
    "source_account": ("ServiceName", "Service", "Deployment.ServiceName"),
    "method": ("properties.method", "Method", "HttpMethod", "RequestMethod", "Request.Method"),
    "path": (
        "properties.url",
        "Url",
        "RequestUrl",
        "OriginalUrl",
        "Request.Url",
        "Request.OriginalUrl",
        "Uri",
        "Path",
    ),
    "route": (
        "properties.operationId",
        "OperationId",
        "OperationName",
        "Operation.Id",
        "Operation.Name",
        "properties.apiId",
        "ApiId",
        "ApiName",
        "Api.Id",
        "Api.Name",
    ),
    "status": (
        "properties.responseCode",
        "ResponseCode",
        "StatusCode",
        "ResponseStatusCode",
        "Response.StatusCode",
        "HttpStatusCode",
        "Status",
    ),
    "latency_ms": (
        "durationMs",
        "TotalTime",
        "ElapsedMs",
        "ElapsedMilliseconds",
        "Elapsed",
        "Duration",
        "ResponseTime",
        "Latency",
    ),
    "request_bytes": ("properties.requestSize", "RequestSize", "RequestLength", "Request.Size"),
    "response_bytes": (
        "properties.responseSize",
        "ResponseSize",
        "ResponseLength",
        "Response.Size",
    ),
    "request_id": ("correlationId", "RequestId", "Request.Id", "CorrelationId"),
    "client_ip": (
        "callerIpAddress",
        "IpAddress",
        "RequestIp",
        "ClientIp",
        "ClientIpAddress",
        "Request.IpAddress",
        "Ip",
    ),
}


def _service(resource_id: Any) -> str | None:
    """The API Management service's name from an ARM resource id."""
    if not isinstance(resource_id, str) or not resource_id.strip():
        return None
    parts = resource_id.rstrip("/").split("/")
    for i, p in enumerate(parts[:-1]):
        if p.lower() == "service":
            return parts[i + 1].lower()
    return parts[-1].lower()


def event_from(rec: Any, now: datetime) -> Event:
    if not isinstance(rec, dict):
        raise f.RecordInvalid("INVALID_TYPE", None, "an Azure log record must be an object")
    r = f.Loose(rec)
    c = f.Collector()
    at = required_time(r, c, TIME, now, f.utc_text)
    fields = http_fields(r, c, ALIASES)
    if fields.get("source_account") is None:
        resource, key = r.find("resourceId", "_ResourceId")
        fields["source_account"] = c(f.string, _service(resource), key)
    return gateway_event(r, c, source=SOURCE, prefix="azure", at=at, fields=fields)


def parse(body: bytes) -> Parsed:
    now = datetime.now(UTC)
    return collect(envelope_items(body, "an Azure log record"), lambda x: event_from(x, now))
