"""From parsed records to stored ones: directly, or through Kafka when a broker is configured.

Direct: one tenant-bound transaction per request (events, claims, rollups, dead letters).
Kafka: refused records are dead-lettered at once (the caller must see them), the valid events
are produced to ``aforo.usage.events`` keyed by tenant, and the request is acknowledged once the
broker has them; the consumer group (``ingest.consumer``) writes them, and reports duplicates and
conflicts in the dead-letter table.
"""

from __future__ import annotations

from typing import Any

from aforo.runtime.state import Runtime
from aforo.services.usage import quota as usage_quota
from aforo.services.usage import writer as usage_writer
from aforo.services.usage.events import Parsed, Rejection
from aforo.services.usage.mapping import scrub_secrets
from aforo.services.usage.uploads import ACCEPTED, PARTIAL, REJECTED
from aforo.services.usage.writer import WriteResult
from aforo.tenancy.context import TenantContext

PRODUCER_KEY = "usage_producer"


async def submit(rt: Runtime, caller: TenantContext, source: str, parsed: Parsed) -> WriteResult:
    scrub_secrets(parsed.events)  # before anything is stored or queued
    producer = rt.extra.get(PRODUCER_KEY)
    if producer is None:
        async with rt.transaction(caller.tenant_id) as session:
            result = await usage_writer.write(
                session, parsed.events, parsed.rejected, source=source, indexes=parsed.indexes
            )
        usage_quota.forget(rt, caller.tenant_id, result.subscriptions)
        return result
    if parsed.rejected:
        async with rt.transaction(caller.tenant_id) as session:
            await usage_writer.dead_letter(session, parsed.rejected, source=source)
    await producer.send(caller.tenant_id, source, parsed.events)
    # Queued, not yet counted: duplicates and conflicts surface in the dead-letter table.
    return WriteResult(accepted=len(parsed.events), rejected=list(parsed.rejected))


def outcome(result: WriteResult, free: int = 0) -> str:
    """``ACCEPTED``: nothing refused. ``REJECTED``: every record refused and nothing usable
    stored (no event, no duplicate of a stored one, no free record). ``PARTIAL``: the rest."""
    if not result.rejected:
        return ACCEPTED
    if result.accepted or result.duplicates or free:
        return PARTIAL
    return REJECTED


def status(outcome: str) -> int:
    """The HTTP status of an answer whose payload was readable: 422 when nothing of it could
    be used (retrying it unchanged cannot help), else 200."""
    return 422 if outcome == REJECTED else 200


def body(result: WriteResult, *, free: int = 0, queued: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "outcome": outcome(result, free),
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "rejected": [r.public() for r in sorted(result.rejected, key=_order)],
    }
    if free:
        out["free"] = free
    if queued:
        out["queued"] = True
    return out


def _order(r: Rejection) -> int:
    return r.index if r.index is not None else -1


def unusable(code: str, message: str) -> dict[str, Any]:
    return {
        # The REST error envelope, beside the batch result: nothing was ingested.
        "error": {"code": code, "message": message},
        "outcome": "REJECTED",
        "accepted": 0,
        "duplicates": 0,
        "rejected": [
            {
                "index": None,
                "event_id": None,
                "code": code,
                "field": None,
                "message": message,
                "errors": [{"code": code, "field": None, "message": message}],
            }
        ],
    }
