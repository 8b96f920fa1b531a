"""GraphQL types of usage metering."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import Enum

import strawberry
from strawberry.scalars import JSON

from aforo.models import usage as m
from aforo.schema.base import parse_id
from aforo.services import usage as svc


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
            properties=e.properties,  # type: ignore[arg-type]  # JSON is NewType(object)
            upload_id=sid(e.upload_id),
        )


@strawberry.type
class UsageEventConnection:
    nodes: list[UsageEvent]
    end_cursor: str | None
    has_next_page: bool


@strawberry.type(description="A refused usage record (dead letter): why, and what it was.")
class UsageRejection:
    id: strawberry.ID
    source: str
    event_id: str | None
    upload_id: strawberry.ID | None
    row: int | None
    code: str
    field: str | None
    message: str
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
            code=r.code,
            field=r.field,
            message=r.message,
            record=r.record,
            created_at=r.created_at,
        )


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
    rows: int
    accepted: int
    duplicates: int
    rejected: int
    bytes: int
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    errors: list[UploadRowError] = strawberry.field(description="Per-row errors, by row")

    @classmethod
    def of(cls, u: m.UsageUpload, errors: list[m.UsageRejection]) -> UsageUpload:
        return cls(
            id=strawberry.ID(str(u.id)),
            format=u.format,
            filename=u.filename,
            status=UploadStatus(u.status),
            rows=u.rows,
            accepted=u.accepted,
            duplicates=u.duplicates,
            rejected=u.rejected,
            bytes=u.bytes,
            error=u.error,
            created_at=u.created_at,
            finished_at=u.finished_at,
            errors=[
                UploadRowError(row=r.row_number, column=r.field, code=r.code, message=r.message)
                for r in errors
            ],
        )
