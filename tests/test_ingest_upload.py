"""POST /v1/usage/upload: streamed CSV / JSON / NDJSON files processed as jobs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from aforo.config import Settings
from tests.support import Api, make_tenant
from tests.test_usage_helpers import count_events, gateway_token, rollup_total

T0 = "2026-11-27T10:15:00Z"

UPLOAD_Q = """query($id: ID!) { usageUpload(id: $id) {
  id status outcome format rows accepted duplicates rejected error
  errors { row column code message } } }"""


async def upload(
    api: Api, token: str, body: bytes | AsyncIterator[bytes], ctype: str, **params: str
) -> dict[str, Any]:
    r = await api.client.post(
        "/v1/usage/upload",
        content=body,
        params=params,
        headers={"Authorization": f"Bearer {token}", "content-type": ctype},
    )
    assert r.status_code in (200, 422), r.text
    result: dict[str, Any] = r.json()
    return result


async def test_csv_upload_with_quoting_bom_crlf_and_row_errors(
    api: Api, settings: Settings
) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    csv_text = (
        "\ufeffevent_id,metric,quantity,occurred_at,consumer,properties\r\n"
        f'u-1,api_calls,2,{T0},"Acme, Inc.","{{""plan"": ""gold""}}"\r\n'
        f'u-2,api_calls,1,{T0},"multi\r\nline ""quoted""",\r\n'
        f"u-3,api_calls,-4,{T0},c,\r\n"
        f"u-4,api_calls,1,not-a-time,c,\r\n"
        f"u-5,api_calls,1,{T0}\r\n"
        "\r\n"
        f"u-6,api_calls,,{T0},c,\r\n"
    ).encode()
    # Invalid UTF-8 in one cell refuses that row only.
    csv_bytes = csv_text + f"u-7,api_calls,1,{T0},\xff\xfe,\r\n".encode("latin-1")
    body = await upload(api, token, csv_bytes, "text/csv", filename="march.csv")
    assert body["status"] == "COMPLETED"
    assert (body["rows"], body["accepted"], body["rejected"]) == (7, 3, 4)
    assert [(e["row"], e["column"], e["code"]) for e in body["errors"]] == [
        (4, "quantity", "NEGATIVE_QUANTITY"),
        (5, "occurred_at", "INVALID_TIMESTAMP"),
        (6, "consumer", "MISSING_COLUMN"),
        (8, "consumer", "INVALID_UTF8"),
    ]
    rows = await count_events(settings, t.id, rows=True)
    assert [r["consumer"] for r in rows] == ["Acme, Inc.", 'multi\r\nline "quoted"', "c"]
    assert json.loads(rows[0]["properties"]) == {"plan": "gold"}
    assert all(r["source"] == "csv" for r in rows)
    # The job, as GraphQL reports it.
    admin = await api.admin_token(t)
    job = (await api.data(UPLOAD_Q, {"id": body["id"]}, token=admin))["usageUpload"]
    assert (job["status"], job["outcome"], job["format"]) == ("COMPLETED", "PARTIAL", "csv")
    assert job["accepted"] == 3 and job["rejected"] == 4
    assert job["errors"][0] == {
        "row": 4,
        "column": "quantity",
        "code": "NEGATIVE_QUANTITY",
        "message": "quantity must not be negative",
    }
    # Uploading the same file again counts nothing twice.
    again = await upload(api, token, csv_bytes, "text/csv")
    assert (again["accepted"], again["duplicates"]) == (0, 3)
    assert await rollup_total(settings, t.id) == 4


async def test_csv_missing_column_fails_the_job(api: Api, settings: Settings) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    body = await upload(api, token, b"event_id,quantity\nx,1\n", "text/csv")
    assert (body["status"], body["outcome"]) == ("FAILED", "REJECTED")
    assert body["errors"] == [
        {
            "row": 1,
            "column": "occurred_at",
            "code": "MISSING_COLUMN",
            "message": "the header has no time column: name one occurred_at, timestamp, time "
            "or date, or map one",
        }
    ]
    assert await count_events(settings, t.id) == 0


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def test_large_streamed_csv_in_small_chunks(api: Api, settings: Settings) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    lines = ["event_id,metric,occurred_at,consumer"]
    lines += [f'b-{i},api_calls,{T0},"c ""{i % 7}"", x"' for i in range(12_000)]
    data = ("\n".join(lines) + "\n").encode()
    # Odd chunk sizes split records, quotes and the BOM-less header anywhere.
    body = await upload(api, token, _chunks(data, 997), "text/csv")
    assert body["status"] == "COMPLETED", body
    assert body["accepted"] == 12_000 and body["rejected"] == 0
    assert await count_events(settings, t.id) == 12_000


async def test_json_array_and_ndjson_uploads(api: Api, settings: Settings) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    arr = [
        {"event_id": f"j-{i}", "metric": "m", "occurred_at": T0, "quantity": i} for i in range(5)
    ]
    raw = json.dumps(arr).replace('"quantity": 3', '"quantity": "3x"').encode()
    body = await upload(api, token, _chunks(raw, 7), "application/json")
    assert (body["status"], body["accepted"], body["rejected"]) == ("COMPLETED", 4, 1)
    assert body["errors"][0]["row"] == 4 and body["errors"][0]["code"] == "INVALID_TYPE"
    nd = b"\n".join(json.dumps({**a, "event_id": "n" + a["event_id"]}).encode() for a in arr)
    body = await upload(api, token, nd + b"\n{broken\n", "application/x-ndjson")
    assert (body["accepted"], body["rejected"]) == (5, 1)
    assert body["errors"] == [
        {"row": 6, "column": None, "code": "INVALID_JSON", "message": "not valid JSON"}
    ]
    # A truncated JSON array: the elements before the cut are in, the job failed.
    body = await upload(api, token, raw[:-30], "application/json", format="json")
    assert body["status"] == "FAILED" and body["errors"][-1]["code"] == "INVALID_JSON"
    rows = await count_events(settings, t.id, rows=True)
    assert {r["source"] for r in rows} == {"jsonl"}


async def test_upload_needs_a_known_format(api: Api, settings: Settings) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    r = await api.client.post(
        "/v1/usage/upload",
        content=b"x",
        headers={"Authorization": f"Bearer {token}", "content-type": "application/pdf"},
    )
    assert r.status_code == 415
