"""POST /v1/usage/events: canonical batches, idempotency, per-record errors, dead letters."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from aforo.config import Settings
from tests.support import Api, make_tenant
from tests.test_usage_helpers import count_events, gateway_token, rejections, rollup_total

T0 = "2026-11-27T10:15:00.123456Z"


def ev(i: int | str, **kw: Any) -> dict[str, Any]:
    return {"event_id": f"e-{i}", "metric": "api_calls", "occurred_at": T0, **kw}


async def post(client: httpx.AsyncClient, token: str, events: list[Any]) -> httpx.Response:
    return await client.post(
        "/v1/usage/events", json={"events": events}, headers={"Authorization": f"Bearer {token}"}
    )


async def test_batch_accepted_and_counted_once(api: Api, settings: Settings) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    batch = [ev(i, quantity=2, consumer="c1") for i in range(5)]
    r = await post(api.client, token, batch)
    assert r.status_code == 200, r.text
    assert r.json() == {"outcome": "ACCEPTED", "accepted": 5, "duplicates": 0, "rejected": []}
    # A gateway retry of the same batch: all duplicates, nothing counted twice.
    r = await post(api.client, token, batch)
    assert r.json() == {"outcome": "ACCEPTED", "accepted": 0, "duplicates": 5, "rejected": []}
    assert await count_events(settings, t.id) == 5
    assert await rollup_total(settings, t.id) == 10


async def test_same_id_different_content_is_a_conflict(api: Api, settings: Settings) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    await post(api.client, token, [ev(1)])
    r = await post(api.client, token, [ev(2), ev(1, quantity=5)])
    body = r.json()
    assert body["outcome"] == "PARTIAL"
    assert body["accepted"] == 1
    message = "an event with this id was already ingested with different content"
    assert body["rejected"] == [
        {
            "index": 1,
            "event_id": "e-1",
            "code": "CONFLICT",
            "field": "event_id",
            "message": message,
            "errors": [{"code": "CONFLICT", "field": "event_id", "message": message}],
        }
    ]
    dead = await rejections(settings, t.id)
    assert [(d["code"], d["event_id"]) for d in dead] == [("CONFLICT", "e-1")]
    assert await rollup_total(settings, t.id) == 2


async def test_per_record_errors_never_half_ingest(api: Api, settings: Settings) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    batch = [
        ev(0),
        ev(1, quantity=-1),
        ev(2, occurred_at="yesterday"),
        {"metric": "api_calls", "occurred_at": T0},
        ev(4, status="abc"),
        ev(5, consumer="x" * (64 * 1024 + 1)),
        ev(6, quantity="3.5", status="201", latency_ms="12.5"),
        "not an object",
        ev(8, colour="blue"),
        ev(9, properties={"a": "\u0000"}),
    ]
    r = await post(api.client, token, batch)
    assert r.status_code == 200
    body = r.json()
    assert body["accepted"] == 2 and body["outcome"] == "PARTIAL"
    got = {x["index"]: (x["code"], x["field"]) for x in body["rejected"]}
    assert got == {
        1: ("NEGATIVE_QUANTITY", "quantity"),
        2: ("INVALID_TIMESTAMP", "occurred_at"),
        3: ("MISSING_FIELD", "event_id"),
        4: ("INVALID_TYPE", "status"),
        5: ("TOO_LARGE", "consumer"),
        7: ("INVALID_TYPE", None),
        8: ("UNKNOWN_FIELD", "colour"),
        9: ("INVALID_VALUE", "properties"),
    }
    assert await count_events(settings, t.id) == 2
    assert len(await rejections(settings, t.id)) == 8
    # Coerced numeric strings, ms precision.
    row = (await count_events(settings, t.id, rows=True))[1]
    assert row["quantity"] == 3.5 and row["status"] == 201 and row["latency_ms"] == 12.5
    assert row["occurred_at"].isoformat() == "2026-11-27T10:15:00.123000+00:00"


async def test_unusable_payloads_are_rejected_whole(api: Api, settings: Settings) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    h = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
    for body, code in [
        (b'{"events": [{"event_id": "a", "metric"', "INVALID_JSON"),
        (b"\xff\xfe{}", "INVALID_UTF8"),
        (b'{"evts": []}', "INVALID_ENVELOPE"),
    ]:
        r = await api.client.post("/v1/usage/events", content=body, headers=h)
        assert r.status_code == 400, r.text
        assert r.json()["outcome"] == "REJECTED"
        assert r.json()["rejected"][0]["code"] == code
    too_many = json.dumps({"events": [ev(i) for i in range(10_001)]})
    r = await api.client.post("/v1/usage/events", content=too_many, headers=h)
    assert r.status_code == 413
    assert await count_events(settings, t.id) == 0


async def test_ndjson_and_auth(api: Api, settings: Settings) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    lines = "\n".join(json.dumps(ev(i)) for i in range(3)) + "\n{oops\n"
    r = await api.client.post(
        "/v1/usage/events",
        content=lines,
        headers={"X-Gateway-Token": token, "content-type": "application/x-ndjson"},
    )
    body = r.json()
    assert body["accepted"] == 3
    assert [(x["index"], x["code"]) for x in body["rejected"]] == [(3, "INVALID_JSON")]
    r = await api.client.post("/v1/usage/events", json={"events": [ev(9)]})
    assert r.status_code == 401
    r = await post(api.client, "gwt_nope", [ev(9)])
    assert r.status_code == 401


async def test_concurrent_resends_count_once(api: Api, settings: Settings) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    batch = [ev(i) for i in range(200)]
    results = await asyncio.gather(*(post(api.client, token, batch) for _ in range(4)))
    bodies = [r.json() for r in results]
    assert sum(b["accepted"] for b in bodies) == 200
    assert sum(b["duplicates"] for b in bodies) == 600
    assert await count_events(settings, t.id) == 200


async def test_tenant_comes_from_the_token(api: Api, settings: Settings) -> None:
    a = await make_tenant(settings, "Alpha")
    b = await make_tenant(settings, "Beta")
    ta, tb = await gateway_token(api, a), await gateway_token(api, b)
    await post(api.client, ta, [ev(1)])
    # The same event id in another tenant is another event.
    r = await post(api.client, tb, [ev(1, quantity=7)])
    assert r.json()["accepted"] == 1
    assert await rollup_total(settings, a.id) == 1
    assert await rollup_total(settings, b.id) == 7


async def test_partitions_are_made_on_demand_and_default_rows_move(
    api: Api, settings: Settings
) -> None:
    import asyncpg

    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    owner = await asyncpg.connect(
        (settings.migration_database_url or "").replace("postgresql+asyncpg", "postgresql")
    )
    try:
        # A row that landed in the default partition (its month had no partition then).
        await owner.execute(
            "insert into usage_events_default (tenant_id, occurred_at, event_id, source, metric,"
            " quantity) values ($1, '2005-03-04T05:06:07Z', 'old-1', 'rest', 'api_calls', 1)",
            uuid.UUID(t.id),
        )
        r = await post(api.client, token, [ev("old-2", occurred_at="2005-03-09T00:00:00Z")])
        assert r.json()["accepted"] == 1
        parts = await owner.fetch(
            "select c.relname, (select count(*) from usage_events_200503) as n from pg_inherits i"
            " join pg_class c on c.oid = i.inhrelid"
            " where i.inhparent = 'usage_events'::regclass and c.relname = 'usage_events_200503'"
        )
        assert [(p["relname"], p["n"]) for p in parts] == [("usage_events_200503", 2)]
        assert await owner.fetchval("select count(*) from usage_events_default") == 0
    finally:
        await owner.close()


async def test_a_claim_in_flight_elsewhere_is_waited_for_then_counted_once(
    settings: Settings,
) -> None:
    """Two writers, the same ids: the second waits on the first's uncommitted claims, then
    finds them taken: duplicates where the content is the same, conflicts where it is not."""
    import asyncpg

    from aforo.db import create_engine, sessionmaker, tenant_session
    from aforo.services.usage import writer as usage_writer
    from aforo.services.usage.events import Event

    t = await make_tenant(settings)
    tid = uuid.UUID(t.id)
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)

    def batch(q: int) -> list[Event]:
        return [
            Event(f"x{i}", at, "rest", "api_calls", Decimal(q if i < 10 else 1)) for i in range(50)
        ]

    engine = create_engine(settings.database_url or "", pool_size=2)
    maker = sessionmaker(engine)
    watcher = await asyncpg.connect(
        (settings.migration_database_url or "").replace("postgresql+asyncpg", "postgresql")
    )

    async def second() -> usage_writer.WriteResult:
        async with tenant_session(maker, tid) as b:
            return await usage_writer.write(b, batch(2), source="rest")

    try:
        async with tenant_session(maker, tid) as a:
            first = await usage_writer.write(a, batch(1), source="rest")
            task = asyncio.create_task(second())
            for _ in range(500):  # until the second writer is blocked on our claims
                if await watcher.fetchval("select count(*) from pg_locks where not granted"):
                    break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError("the second writer never waited")
        other = await task
    finally:
        await watcher.close()
        await engine.dispose()
    assert (first.accepted, first.duplicates) == (50, 0)
    assert (other.accepted, other.duplicates) == (0, 40)
    assert sorted(r.event_id or "" for r in other.rejected) == sorted(f"x{i}" for i in range(10))
    assert {r.code for r in other.rejected} == {"CONFLICT"}
    assert await count_events(settings, t.id) == 50
    assert await rollup_total(settings, t.id) == 50
