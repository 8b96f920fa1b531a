"""The fast write path: one statement for a batch of new ids, the careful one when any id is
taken, and the parsing shortcuts in front of it. Each must store exactly what the slow,
obvious way would."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from aforo.config import Settings
from aforo.ingest import canonical
from aforo.services.usage.events import Event
from tests.support import Api, make_tenant
from tests.test_usage_helpers import count_events, fetch, gateway_token, rejections, rollup_total

T0 = "2026-11-27T10:15:00.123Z"


def ev(i: int | str, **kw: Any) -> dict[str, Any]:
    return {"event_id": f"w-{i}", "metric": "api_calls", "occurred_at": T0, **kw}


async def post(client: httpx.AsyncClient, token: str, events: list[Any]) -> httpx.Response:
    return await client.post(
        "/v1/usage/events", json={"events": events}, headers={"Authorization": f"Bearer {token}"}
    )


async def test_a_batch_with_one_taken_id_writes_the_rest_exactly_once(
    api: Api, settings: Settings
) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    assert (
        await post(api.client, token, [ev(1, quantity=3), ev(2, quantity=4)])
    ).status_code == 200
    # New ids around a retry (w-1, same content) and a conflict (w-2, other content): the
    # all-new statement fails on the claims and is undone; nothing of it may remain.
    batch = [ev(0, quantity=1), ev(1, quantity=3), ev(2, quantity=9), ev(3, quantity=5)]
    body = (await post(api.client, token, batch)).json()
    assert body["outcome"] == "PARTIAL"
    assert (body["accepted"], body["duplicates"]) == (2, 1)
    assert [(r["index"], r["event_id"], r["code"]) for r in body["rejected"]] == [
        (2, "w-2", "CONFLICT")
    ]
    assert await count_events(settings, t.id) == 4
    assert await rollup_total(settings, t.id) == 3 + 4 + 1 + 5
    stored = await fetch(settings, t.id, "select event_id, quantity from usage_events")
    assert {r["event_id"]: r["quantity"] for r in stored} == {
        "w-0": 1,
        "w-1": 3,
        "w-2": 4,
        "w-3": 5,
    }
    assert [r["code"] for r in await rejections(settings, t.id)] == ["CONFLICT"]


async def test_sparse_fields_land_on_their_own_rows(api: Api, settings: Settings) -> None:
    """Columns nobody in the batch sets travel as NULL, not as arrays: the others must still
    line up row by row."""
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    huge = 2**70  # beyond 64 bits: parsed and stored exactly
    batch = [
        ev("a", method="get", status=201),
        ev("b", tool="search", agent="bot", outcome="success", properties={"n": huge}),
        ev("c", latency_ms=0.0, request_bytes=0, properties={"z": 1, "a": [True, None]}),
        ev("d"),
    ]
    body = (await post(api.client, token, batch)).json()
    assert body["accepted"] == 4, body
    rows = {r["event_id"]: r for r in await count_events(settings, t.id, rows=True)}
    assert (rows["w-a"]["method"], rows["w-a"]["status"], rows["w-a"]["tool"]) == (
        "GET",
        201,
        None,
    )
    assert (rows["w-b"]["tool"], rows["w-b"]["agent"], rows["w-b"]["outcome"]) == (
        "search",
        "bot",
        "success",
    )
    assert json.loads(rows["w-b"]["properties"]) == {"n": huge}
    assert (rows["w-c"]["latency_ms"], rows["w-c"]["request_bytes"]) == (0.0, 0)
    assert json.loads(rows["w-c"]["properties"]) == {"z": 1, "a": [True, None]}
    assert all(rows["w-d"][c] is None for c in ("method", "status", "tool", "properties"))
    assert rows["w-d"]["occurred_at"] == datetime(2026, 11, 27, 10, 15, 0, 123000, tzinfo=UTC)
    # The retry of the whole batch: every one a duplicate, big integer included.
    body = (await post(api.client, token, batch)).json()
    assert (body["accepted"], body["duplicates"]) == (0, 4)


async def test_json_the_fast_parser_refuses_is_read_as_before(api: Api, settings: Settings) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    raw = (
        b'{"events": [{"event_id": "n", "metric": "m", "occurred_at": "' + T0.encode() + b'",'
        b' "latency_ms": NaN}, {"event_id": "ok", "metric": "m", "occurred_at": "'
        + T0.encode()
        + b'", "quantity": 1e400}]}'
    )
    r = await api.client.post(
        "/v1/usage/events",
        content=raw,
        headers={"Authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    # NaN and 1e400 are no JSON orjson accepts; the standard parser reads them, and each is a
    # per-record error, not an unreadable body (400): both records refused, so 422 REJECTED.
    body = r.json()
    assert (r.status_code, body["outcome"]) == (422, "REJECTED"), body
    assert [(x["event_id"], x["field"]) for x in body["rejected"]] == [
        ("n", "latency_ms"),
        ("ok", "quantity"),
    ]
    for doc in (
        b'["\\ud800"]',  # a lone surrogate escape
        b"[-9223372036854775809, 18446744073709551616]",  # beyond 64 bits, either sign
        b'{"a": 1, "a": 2}',
        b"[1e400, -0.0, 1E2]",
    ):
        got, want = canonical.loads(b"\xef\xbb\xbf" + doc), json.loads(doc)
        assert repr(got) == repr(want), doc


def _event(**kw: Any) -> Event:
    base: dict[str, Any] = {
        "event_id": "h",
        "occurred_at": datetime(2026, 1, 1, 0, 0, 0, 5000, tzinfo=UTC),
        "source": "rest",
        "metric": "m",
    }
    return Event(**{**base, **kw})


def test_content_hash_is_about_values_not_spelling() -> None:
    h = _event().content_hash()
    assert _event(quantity=Decimal("1.000")).content_hash() == h
    assert _event(quantity=Decimal(2)).content_hash() != h
    assert (
        _event(properties={"a": 1, "b": [1, 2]}).content_hash()
        == _event(properties={"b": [1, 2], "a": 1}).content_hash()
    )
    # An absent value, an empty string and the text "None" are three different contents.
    assert len({_event().content_hash(), _event(consumer="None").content_hash()}) == 2
    assert _event(consumer="").content_hash() not in {h, _event(consumer="None").content_hash()}
    # The upload an event came in is not the sender's content.
    assert _event(upload_id=uuid.uuid4()).content_hash() == h
    assert (
        _event(properties={"n": 2**70}).content_hash()
        == _event(properties={"n": 2**70}).content_hash()
    )
    assert (
        _event(properties={"n": 2**70}).content_hash()
        != _event(properties={"n": 2**70 + 1}).content_hash()
    )
