"""Uploads in the customer's own columns: recognized common names, saved and inline mappings,
the preview that stores nothing, and ids derived from a row's content and occurrence."""

from __future__ import annotations

import json
from typing import Any

from aforo.config import Settings
from tests.support import Api, make_tenant
from tests.test_usage_helpers import count_events, gateway_token, rejections

# An export as a customer's billing system writes it: its own names, no metric, no event id.
EXPORT = (
    "timestamp,tenant,consumer,request_id,quantity,method,path,status_code,latency\r\n"
    "2026-11-27T10:15:00Z,acme,cust-1,r-1,1,get,/v1/orders/7?x=1,200,12.5\r\n"
    "2026-11-27 10:16:00,acme,cust-2,r-2,3,POST,/v1/orders,201,40\r\n"
    "1795773360000,globex,cust-1,r-3,1,GET,/v1/items,404,3\r\n"
    "yesterday,acme,cust-1,r-4,-2,GET,/x,999,1\r\n"
)

MAPPINGS_Q = """{ usageMappings { name timeFormat timeZone extra
  fields { field source } constants { field value } units { field unit } } }"""
SAVE_M = """mutation($input: UsageMappingInput!) { saveUsageMapping(input: $input) {
  __typename ... on UsageMapping { name } ... on UserError { code field message } } }"""
DELETE_M = """mutation($name: String!) { deleteUsageMapping(name: $name) {
  __typename ... on DeletedUsageMapping { name } ... on UserError { code field } } }"""


async def _post(
    api: Api, token: str, path: str, body: bytes, ctype: str, **params: str
) -> tuple[int, dict[str, Any]]:
    r = await api.client.post(
        f"/v1/usage/{path}",
        content=body,
        params=params,
        headers={"Authorization": f"Bearer {token}", "content-type": ctype},
    )
    return r.status_code, r.json()


async def test_common_names_are_recognized_and_every_bad_field_is_listed(
    api: Api, settings: Settings
) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    status, body = await _post(api, token, "upload", EXPORT.encode(), "text/csv")
    assert status == 200, body
    assert (body["outcome"], body["rows"], body["accepted"], body["rejected"]) == (
        "PARTIAL",
        4,
        3,
        1,
    )
    # Row 5 has three bad fields, each named by the customer's own column.
    assert [(e["row"], e["column"], e["code"]) for e in body["errors"]] == [
        (5, "timestamp", "INVALID_TIMESTAMP"),
        (5, "quantity", "NEGATIVE_QUANTITY"),
        (5, "status_code", "INVALID_VALUE"),
    ]
    rows = {r["event_id"]: r for r in await count_events(settings, t.id, rows=True)}
    assert set(rows) == {"r-1", "r-2", "r-3"}
    one = rows["r-1"]
    assert (one["metric"], one["consumer"], one["method"], one["path"], one["status"]) == (
        "api_calls",
        "cust-1",
        "GET",
        "/v1/orders/7",
        200,
    )
    assert (one["latency_ms"], one["request_id"], json.loads(one["properties"])) == (
        12.5,
        "r-1",
        {"tenant": "acme"},
    )
    assert rows["r-2"]["occurred_at"].isoformat() == "2026-11-27T10:16:00+00:00"  # naive: UTC
    assert rows["r-3"]["occurred_at"].isoformat() == "2026-11-27T09:56:00+00:00"  # epoch ms
    assert rows["r-2"]["quantity"] == 3
    # The dead letter lists the three fields too.
    (dead,) = await rejections(settings, t.id)
    assert [e["field"] for e in json.loads(dead["errors"])] == [
        "timestamp",
        "quantity",
        "status_code",
    ]
    assert dead["record_index"] == 5 and dead["row_number"] == 5


async def test_rows_without_ids_get_content_ids_counted_by_occurrence(
    api: Api, settings: Settings
) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    line = {"time": "2026-11-27T10:00:00Z", "customer": "c1", "count": 2, "meter": "tokens"}
    other = {**line, "count": 5}
    ndjson = "\n".join(json.dumps(x) for x in [line, line, other, line]).encode()
    status, body = await _post(api, token, "upload", ndjson, "application/x-ndjson")
    assert status == 200 and (body["accepted"], body["duplicates"]) == (4, 0), body
    rows = await count_events(settings, t.id, rows=True)
    ids = sorted(r["event_id"] for r in rows)
    assert len(set(ids)) == 4 and all(i.startswith("row:") for i in ids)
    assert sorted(i.rsplit(":", 1)[1] for i in ids) == ["1", "1", "2", "3"]
    assert {r["metric"] for r in rows} == {"tokens"}
    assert sum(r["quantity"] for r in rows) == 11
    # The same file again stores nothing twice; its identical rows are duplicates, not new.
    status, again = await _post(api, token, "upload", ndjson, "application/x-ndjson")
    assert (again["accepted"], again["duplicates"]) == (0, 4), again
    # A file that extends it by one identical row adds exactly that one.
    longer = ndjson + b"\n" + json.dumps(line).encode()
    status, more = await _post(api, token, "upload", longer, "application/x-ndjson")
    assert (more["accepted"], more["duplicates"]) == (1, 4), more
    assert await count_events(settings, t.id) == 5
    # The occurrence counts are the upload's working state only.
    from tests.test_usage_helpers import fetch

    assert await fetch(settings, t.id, "select * from usage_upload_rows") == []


async def test_saved_mapping_chosen_by_name_with_formats_zones_and_units(
    api: Api, settings: Settings
) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    admin = await api.admin_token(t)
    spec = {
        "name": "billing export",
        "fields": [
            {"field": "occurred_at", "source": "When"},
            {"field": "consumer", "source": "Account Ref"},
            {"field": "latency_ms", "source": "Secs"},
            {"field": "response_bytes", "source": "KB out"},
            {"field": "quantity", "source": "Units"},
        ],
        "constants": [{"field": "metric", "value": "storage_gb"}],
        "timeFormat": "%d/%m/%Y %H:%M",
        "timeZone": "Europe/Madrid",
        "units": [
            {"field": "latency_ms", "unit": "s"},
            {"field": "response_bytes", "unit": "KiB"},
            {"field": "quantity", "unit": "0.001"},
        ],
        "extra": "ignore",
    }
    saved = (await api.data(SAVE_M, {"input": spec}, token=admin))["saveUsageMapping"]
    assert saved == {"__typename": "UsageMapping", "name": "billing export"}
    listed = (await api.data(MAPPINGS_Q, token=admin))["usageMappings"]
    assert listed[0]["timeZone"] == "Europe/Madrid" and listed[0]["extra"] == "ignore"
    csv = b"When,Account Ref,Secs,KB out,Units,Note\n27/11/2026 11:15,acct-9,0.25,2,1500,hi\n"
    status, body = await _post(api, token, "upload", csv, "text/csv", mapping="billing export")
    assert status == 200 and body["accepted"] == 1, body
    (row,) = await count_events(settings, t.id, rows=True)
    assert row["occurred_at"].isoformat() == "2026-11-27T10:15:00+00:00"  # 11:15 in Madrid
    assert (row["metric"], row["consumer"], row["latency_ms"], row["response_bytes"]) == (
        "storage_gb",
        "acct-9",
        250.0,
        2048,
    )
    assert row["quantity"] == 1.5 and row["properties"] is None  # "Note" ignored
    # A mapping naming a column the file lacks refuses the file at its header.
    status, body = await _post(
        api, token, "upload", b"x,y\n1,2\n", "text/csv", mapping="billing export"
    )
    assert (status, body["errors"][0]["code"], body["errors"][0]["column"]) == (
        422,
        "MISSING_COLUMN",
        "Units",
    )
    assert "occurred_at from 'When'" in body["errors"][0]["message"]
    # An unknown mapping name and a bad mapping are refused, naming the offending part.
    status, body = await _post(api, token, "upload", csv, "text/csv", mapping="nope")
    assert (status, body["error"]["code"], body["error"]["field"]) == (404, "NOT_FOUND", "mapping")
    bad = {**spec, "timeZone": "Mars/Olympus"}
    refused = (await api.data(SAVE_M, {"input": bad}, token=admin))["saveUsageMapping"]
    assert (refused["code"], refused["field"]) == ("INVALID_MAPPING", "time_zone")
    bad = {**spec, "fields": [{"field": "colour", "source": "x"}]}
    refused = (await api.data(SAVE_M, {"input": bad}, token=admin))["saveUsageMapping"]
    assert (refused["code"], refused["field"]) == ("INVALID_MAPPING", "fields.colour")
    gone = (await api.data(DELETE_M, {"name": "billing export"}, token=admin))["deleteUsageMapping"]
    assert gone == {"__typename": "DeletedUsageMapping", "name": "billing export"}
    assert (await api.data(MAPPINGS_Q, token=admin))["usageMappings"] == []


async def test_inline_mapping_with_json_paths_and_a_preview_that_stores_nothing(
    api: Api, settings: Settings
) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    records = [
        {"ts": 1795770900, "req": {"id": "q-1", "verb": "get"}, "who": {"key": "k-1"}},
        {"ts": 1795770960, "req": {"id": "q-2", "verb": "put"}, "who": {"key": "k-2"}},
        {"ts": "soon", "req": {"id": "q-3", "verb": "get"}, "who": {"key": "k-1"}},
    ]
    mapping = json.dumps(
        {
            "fields": {
                "occurred_at": "ts",
                "event_id": "req.id",
                "method": "req.verb",
                "consumer": "who.key",
            },
            "time_format": "epoch_s",
            "extra": "ignore",
        }
    )
    body_bytes = json.dumps(records).encode()
    status, preview = await _post(
        api, token, "upload/preview", body_bytes, "application/json", mapping_json=mapping, rows="2"
    )
    assert status == 200, preview
    assert preview["rows"] == 2 and preview["error"] is None
    assert [(e["row"], e["event_id"], e["method"], e["consumer"]) for e in preview["events"]] == [
        (1, "q-1", "GET", "k-1"),
        (2, "q-2", "PUT", "k-2"),
    ]
    assert preview["events"][0]["occurred_at"] == "2026-11-27T09:15:00+00:00"
    assert preview["fields"]["event_id"] == "req.id"
    assert await count_events(settings, t.id) == 0
    status, full = await _post(
        api, token, "upload/preview", body_bytes, "application/json", mapping_json=mapping
    )
    assert [(e["row"], e["column"]) for e in full["errors"]] == [(3, "ts")]
    assert await count_events(settings, t.id) == 0 and await rejections(settings, t.id) == []
    status, body = await _post(
        api, token, "upload", body_bytes, "application/json", mapping_json=mapping
    )
    assert (body["accepted"], body["rejected"]) == (2, 1)
    status, body = await _post(
        api, token, "upload", body_bytes, "application/json", mapping_json="{not json"
    )
    assert (status, body["error"]["code"]) == (422, "INVALID_MAPPING")


async def test_a_raw_api_key_column_is_never_stored_and_names_its_key(api: Api) -> None:
    from tests.gateway import make_key_world
    from tests.test_usage_helpers import fetch

    w = await make_key_world(api)
    unknown = "sk_live_" + "0" * 49
    csv = (
        f"timestamp,api_key,count\n2026-11-27T10:15:00Z,{w.key},3\n"
        f"2026-11-27T10:16:00Z,{unknown},1\n"
    )
    status, body = await _post(api, w.gateway, "upload", csv.encode(), "text/csv")
    assert status == 200 and body["accepted"] == 2, body
    rows = await fetch(
        api.settings,
        w.tenant.id,
        "select consumer, key_id, subscription_id, quantity from usage_events",
    )
    mine = next(r for r in rows if r["quantity"] == 3)
    assert (str(mine["key_id"]), str(mine["subscription_id"])) == (w.key_id, w.subscription_id)
    for r in rows:
        assert r["consumer"].startswith("sha256:") and "sk_live_" not in r["consumer"]
