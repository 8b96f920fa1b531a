"""What the sync and async clients share: event building, validation, the retry decision."""

from __future__ import annotations

import enum
import logging
import math
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

log = logging.getLogger("aforo_metering")

MAX_EVENT_ID = 200
MAX_BATCH = 10_000  # the service's per-request cap
# Optional event fields the service knows; anything else belongs in ``properties``.
REQUEST_FIELDS = frozenset(
    {
        "method",
        "path",
        "route",
        "status",
        "latency_ms",
        "request_bytes",
        "response_bytes",
        "request_id",
        "client_ip",
        "outcome",
        "tool",
        "agent",
        "session",
    }
)


class OverflowPolicy(enum.Enum):
    """What ``record`` does when the buffer is full because the service stays unreachable."""

    BLOCK = "block"  # wait for room: nothing is lost, the caller is slowed
    DROP = "drop"  # discard the new event and count it in ``stats.dropped``


@dataclass
class Stats:
    """Counters a process can export to its own monitoring."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0  # refused by the service as invalid: retrying would not help
    dropped: int = 0  # discarded because the buffer was full (DROP policy)
    failed: int = 0  # given up on: authentication refused, or close() ran out of time
    retries: int = 0
    batches: int = 0


@dataclass(frozen=True)
class Settings:
    path: str
    key: str  # the body's list field: "events" or "records"
    batch_size: int = 500
    flush_interval: float = 1.0
    max_buffer: int = 100_000
    overflow: OverflowPolicy = OverflowPolicy.DROP
    timeout: float = 10.0
    backoff_base: float = 0.2
    backoff_cap: float = 30.0
    exit_timeout: float = 5.0

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}")
        if self.max_buffer < self.batch_size:
            raise ValueError("max_buffer must be at least batch_size")
        if self.flush_interval <= 0:
            raise ValueError("flush_interval must be positive")


def is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def new_event_id() -> str:
    return uuid.uuid4().hex


def build_event(
    metric: str,
    quantity: float,
    *,
    subscription_id: str | None = None,
    key_id: str | None = None,
    consumer: str | None = None,
    properties: Mapping[str, Any] | None = None,
    event_id: str | None = None,
    occurred_at: datetime | str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate here, in the caller's stack, so a mistake is an exception and not a lost event."""
    if not isinstance(metric, str) or not metric.strip():
        raise ValueError("metric must be a non-empty string")
    if isinstance(quantity, bool) or not isinstance(quantity, int | float):
        raise ValueError("quantity must be a number")
    if not math.isfinite(quantity) or quantity < 0:
        raise ValueError("quantity must be a finite number >= 0")
    eid = new_event_id() if event_id is None else event_id
    if not isinstance(eid, str) or not eid or len(eid) > MAX_EVENT_ID:
        raise ValueError(f"event_id must be 1-{MAX_EVENT_ID} characters")
    if isinstance(occurred_at, datetime):
        if occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")
        when = occurred_at.isoformat()
    else:
        when = occurred_at or now_rfc3339()
    for name, value in (("subscription_id", subscription_id), ("key_id", key_id)):
        if value is not None and not is_uuid(value):
            raise ValueError(f"{name} must be a UUID")
    unknown = sorted(set(extra or ()) - REQUEST_FIELDS)
    if unknown:
        raise ValueError(f"unknown event field {unknown[0]!r}; put extra data in properties")
    event: dict[str, Any] = {
        "event_id": eid,
        "metric": metric,
        "quantity": quantity,
        "occurred_at": when,
    }
    for name, value in (
        ("subscription_id", subscription_id),
        ("key_id", key_id),
        ("consumer", consumer),
    ):
        if value is not None:
            event[name] = value
    if properties:
        event["properties"] = dict(properties)
    if extra:
        event.update({k: v for k, v in extra.items() if v is not None})
    return event


@dataclass(frozen=True)
class Verdict:
    """What to do with a batch after one attempt."""

    done: bool  # remove it from the buffer (accepted, or permanently refused)
    retry_after: float | None = None  # server-requested wait before the next attempt
    split: bool = False  # too large: send it in halves


def judge(response: httpx.Response, batch_len: int, stats: Stats) -> Verdict:
    status = response.status_code
    if status == 200:
        stats.batches += 1
        try:
            body = response.json()
        except ValueError:
            body = {}
        stats.accepted += int(body.get("accepted", 0))
        stats.duplicates += int(body.get("duplicates", 0))
        rejected = body.get("rejected") or []
        stats.rejected += len(rejected)
        for r in rejected[:5]:
            log.warning("aforo: event rejected: %s", r)
        return Verdict(done=True)
    if status == 413 and batch_len > 1:
        return Verdict(done=False, split=True)
    if status == 429 or status >= 500 or status == 408:
        return Verdict(done=False, retry_after=retry_after_seconds(response))
    # 400 / 401 / 403 / 413 of a single event: sending the same bytes again cannot succeed.
    stats.failed += batch_len
    log.error("aforo: batch of %d refused with HTTP %d: %s", batch_len, status, response.text[:500])
    return Verdict(done=True)


def retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def backoff(attempt: int, settings: Settings, retry_after: float | None) -> float:
    """Full-jitter exponential backoff; a server's Retry-After is a floor, never shortened."""
    ceiling = min(settings.backoff_cap, settings.backoff_base * (2 ** min(attempt, 30)))
    delay = random.uniform(ceiling / 2, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, 300.0))
    return delay


def headers(token: str, user_agent: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "User-Agent": user_agent}
