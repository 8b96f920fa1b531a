"""GraphQL types of usage metering."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from aforo.models import usage as m
from aforo.schema.base import UserError, parse_id
from aforo.services import usage as svc
from aforo.services.usage import uploads as svc_uploads


@strawberry.enum
class UsageGranularity(Enum):
    HOUR = "hour"
    DAY = "day"
    MONTH = "month"


@strawberry.input(description="Every field narrows; from is inclusive, to exclusive.")
class UsageFilter:
    subscription_id: strawberry.ID | None = None
    key_id: strawberry.ID | None = None
    metric: str | None = None
    tool: str | None = None
    agent: str | None = None
    from_: datetime | None = strawberry.field(default=None, name="from")
    to: datetime | None = None

    def to_service(self) -> svc.UsageFilter:
        def uid(v: strawberry.ID | None, field: str) -> uuid.UUID | None:
            return parse_id(v, field) if v is not None else None

        return svc.UsageFilter(
            subscription_id=uid(self.subscription_id, "subscriptionId"),
            key_id=uid(self.key_id, "keyId"),
            metric=self.metric,
            tool=self.tool,
            agent=self.agent,
            start=self.from_,
            end=self.to,
        )


@strawberry.type
class UsageBucket:
    start: datetime
    quantity: Decimal | None = strawberry.field(
        description="Null when the bucket holds several metrics: they are not added together"
    )
    events: int


def _buckets(bs: list[svc.Bucket]) -> list[UsageBucket]:
    return [UsageBucket(start=b.start, quantity=b.quantity, events=b.events) for b in bs]


@strawberry.type(description="One metric's usage over time.")
class MetricUsage:
    metric: str
    buckets: list[UsageBucket]
    total: Decimal
    events: int


@strawberry.type(
    description="Usage over time, from the hourly rollups. Quantities of different metrics "
    "are never added: with several metrics in range, total and bucket quantities are null "
    "and byMetric has one series per metric (narrow with filter.metric for one)."
)
class UsageSeries:
    buckets: list[UsageBucket]
    total: Decimal | None
    events: int
    metric: str | None = strawberry.field(description="The one metric in range, if only one")
    by_metric: list[MetricUsage]

    @classmethod
    def of(cls, s: svc.UsageSeries) -> UsageSeries:
        return cls(
            buckets=_buckets(s.buckets),
            total=s.total,
            events=s.events,
            metric=s.metric,
            by_metric=[
                MetricUsage(
                    metric=m.metric, buckets=_buckets(m.buckets), total=m.total, events=m.events
                )
                for m in s.by_metric
            ],
        )


@strawberry.type(description="A subscription's usage in the current calendar month (UTC).")
class CurrentUsage:
    subscription_id: strawberry.ID
    used: Decimal
    quota: int | None = strawberry.field(description="The plan's monthly quota; null: unlimited")
    remaining: Decimal | None
    hard: bool = strawberry.field(description="True: calls past the quota are refused")
    period_start: datetime
    period_end: datetime

    @classmethod
    def of(cls, c: svc.CurrentUsage) -> CurrentUsage:
        return cls(
            subscription_id=strawberry.ID(str(c.subscription_id)),
            used=c.used,
            quota=c.quota,
            remaining=c.remaining,
            hard=c.hard,
            period_start=c.period_start,
            period_end=c.period_end,
        )


@strawberry.type(description="One normalized usage event.")
class UsageEvent:
    event_id: str
    occurred_at: datetime
    received_at: datetime
    source: str
    metric: str
    quantity: Decimal
    consumer: str | None
    subscription_id: strawberry.ID | None
    key_id: strawberry.ID | None
    source_account: str | None
    method: str | None
    path: str | None
    route: str | None
    status: int | None
    latency_ms: float | None
    request_bytes: int | None
    response_bytes: int | None
    request_id: str | None
    client_ip: str | None
    tool: str | None
    agent: str | None
    session: str | None
    outcome: str | None
    agent_version: str | None = strawberry.field(description="MCP: clientInfo.version")
    protocol_version: str | None = strawberry.field(description="MCP: the negotiated version")
    error_code: int | None = strawberry.field(description="MCP: the JSON-RPC error code")
    properties: JSON | None
    upload_id: strawberry.ID | None

    @classmethod
    def of(cls, e: m.UsageEvent) -> UsageEvent:
        def sid(v: uuid.UUID | None) -> strawberry.ID | None:
            return strawberry.ID(str(v)) if v is not None else None

        return cls(
            event_id=e.event_id,
            occurred_at=e.occurred_at,
            received_at=e.received_at,
            source=e.source,
            metric=e.metric,
            quantity=e.quantity,
            consumer=e.consumer,
            subscription_id=sid(e.subscription_id),
            key_id=sid(e.key_id),
            source_account=e.source_account,
            method=e.method,
            path=e.path,
            route=e.route,
            status=e.status,
            latency_ms=e.latency_ms,
            request_bytes=e.request_bytes,
            response_bytes=e.response_bytes,
            request_id=e.request_id,
            client_ip=e.client_ip,
            tool=e.tool,
            agent=e.agent,
            session=e.session,
            outcome=e.outcome,
            agent_version=e.agent_version,
            protocol_version=e.protocol_version,
            error_code=e.error_code,
            properties=e.properties,  # type: ignore[arg-type]  # JSON is NewType(object)
            upload_id=sid(e.upload_id),
        )


@strawberry.type
class UsageEventConnection:
    nodes: list[UsageEvent]
    end_cursor: str | None
    has_next_page: bool


@strawberry.type(description="One bad field of a refused record.")
class UsageFieldError:
    code: str
    field: str | None
    message: str


@strawberry.type(description="A refused usage record (dead letter): why, and what it was.")
class UsageRejection:
    id: strawberry.ID
    source: str
    event_id: str | None
    upload_id: strawberry.ID | None
    row: int | None
    index: int | None = strawberry.field(
        description="The record's position in its payload (from 0; a Firehose record's index "
        "in its delivery), or its row in an uploaded file"
    )
    code: str
    field: str | None
    message: str
    errors: list[UsageFieldError] = strawberry.field(description="Every bad field of the record")
    record: str | None = strawberry.field(description="The record as received, truncated")
    created_at: datetime

    @classmethod
    def of(cls, r: m.UsageRejection) -> UsageRejection:
        return cls(
            id=strawberry.ID(str(r.id)),
            source=r.source,
            event_id=r.event_id,
            upload_id=strawberry.ID(str(r.upload_id)) if r.upload_id else None,
            row=r.row_number,
            index=r.record_index,
            code=r.code,
            field=r.field,
            message=r.message,
            errors=field_errors(r),
            record=r.record,
            created_at=r.created_at,
        )


def field_errors(r: m.UsageRejection) -> list[UsageFieldError]:
    if not r.errors:
        return [UsageFieldError(code=r.code, field=r.field, message=r.message)]
    return [
        UsageFieldError(
            code=str(e.get("code")), field=e.get("field"), message=str(e.get("message"))
        )
        for e in r.errors
    ]


@strawberry.type
class UsageRejectionConnection:
    nodes: list[UsageRejection]
    end_cursor: str | None
    has_next_page: bool


@strawberry.type
class UploadRowError:
    row: int | None
    column: str | None
    code: str
    message: str


@strawberry.enum
class UploadStatus(Enum):
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


@strawberry.type(description="A usage file upload, processed as a job while it streams in.")
class UsageUpload:
    id: strawberry.ID
    format: str
    filename: str | None
    status: UploadStatus
    outcome: str = strawberry.field(
        description="accepted | partial | rejected, by the rule every ingestion answer follows"
    )
    rows: int
    accepted: int
    duplicates: int
    rejected: int
    bytes: int
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    errors: list[UploadRowError] = strawberry.field(
        description="Per-row errors, by row: one per bad field"
    )

    @classmethod
    def of(cls, u: m.UsageUpload, errors: list[m.UsageRejection]) -> UsageUpload:
        return cls(
            id=strawberry.ID(str(u.id)),
            format=u.format,
            filename=u.filename,
            status=UploadStatus(u.status),
            outcome=upload_outcome(u),
            rows=u.rows,
            accepted=u.accepted,
            duplicates=u.duplicates,
            rejected=u.rejected,
            bytes=u.bytes,
            error=u.error,
            created_at=u.created_at,
            finished_at=u.finished_at,
            errors=[
                UploadRowError(row=r.row_number, column=e.field, code=e.code, message=e.message)
                for r in errors
                for e in field_errors(r)
            ],
        )


def upload_outcome(u: m.UsageUpload) -> str:
    if u.status == "processing":
        return "processing"
    return svc_uploads.outcome(u.status, u.accepted, u.duplicates, u.rejected)


@strawberry.type(description="Where one event field comes from: a column or JSON path.")
class UsageFieldSource:
    field: str
    source: str


@strawberry.type(description="An event field with a fixed value.")
class UsageFieldConstant:
    field: str
    value: JSON


@strawberry.type(description="The unit a column is written in (converted on upload).")
class UsageFieldUnit:
    field: str
    unit: JSON


@strawberry.type(description="A saved column mapping for usage uploads, chosen by name.")
class UsageMapping:
    id: strawberry.ID
    name: str
    fields: list[UsageFieldSource]
    constants: list[UsageFieldConstant]
    time_format: str
    time_zone: str
    units: list[UsageFieldUnit]
    extra: str = strawberry.field(description="properties (unmapped columns kept) or ignore")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: m.UsageMapping) -> UsageMapping:
        spec = row.spec
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            fields=[UsageFieldSource(field=k, source=v) for k, v in spec["fields"].items()],
            constants=[UsageFieldConstant(field=k, value=v) for k, v in spec["constants"].items()],
            time_format=spec["time_format"],
            time_zone=spec["time_zone"],
            units=[UsageFieldUnit(field=k, unit=v) for k, v in spec["units"].items()],
            extra=spec["extra"],
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.input
class UsageFieldSourceInput:
    field: str
    source: str = strawberry.field(description="A column name, or a dotted JSON path (a.b.c)")


@strawberry.input
class UsageFieldConstantInput:
    field: str
    value: str = strawberry.field(description="The value, as text (numbers are read as numbers)")


@strawberry.input
class UsageFieldUnitInput:
    field: str = strawberry.field(description="latency_ms, request_bytes, response_bytes, quantity")
    unit: str = strawberry.field(
        description="ns|us|ms|s|min for latency_ms; B|KB|KiB|MB|MiB|GB|GiB for sizes; a "
        "multiplier for quantity, e.g. 0.001"
    )


@strawberry.input(description="A column mapping; the same as an upload's inline mapping_json.")
class UsageMappingInput:
    name: str
    fields: list[UsageFieldSourceInput] = strawberry.field(default_factory=list)
    constants: list[UsageFieldConstantInput] = strawberry.field(default_factory=list)
    time_format: str | None = strawberry.field(
        default=None,
        description="auto (default), rfc3339, epoch_s, epoch_ms, epoch_us, epoch_ns, or a "
        "strftime pattern such as %d/%m/%Y %H:%M",
    )
    time_zone: str | None = strawberry.field(
        default=None, description="IANA zone for times without an offset (default UTC)"
    )
    units: list[UsageFieldUnitInput] = strawberry.field(default_factory=list)
    extra: str | None = strawberry.field(
        default=None, description="properties (default): unmapped columns kept; ignore"
    )

    def to_spec(self) -> dict[str, object]:
        return {
            "fields": {x.field: x.source for x in self.fields},
            "constants": {x.field: x.value for x in self.constants},
            "time_format": self.time_format,
            "time_zone": self.time_zone,
            "units": {x.field: x.unit for x in self.units},
            "extra": self.extra,
        }


@strawberry.type
class DeletedUsageMapping:
    name: str


SaveUsageMappingResult = Annotated[
    UsageMapping | UserError, strawberry.union("SaveUsageMappingResult")
]
DeleteUsageMappingResult = Annotated[
    DeletedUsageMapping | UserError, strawberry.union("DeleteUsageMappingResult")
]
