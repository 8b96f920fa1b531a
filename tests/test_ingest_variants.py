"""Vendor variants (built from each vendor's documented field names), limits on every string of
a record, and outcomes that say everything: rejected when nothing was usable, every bad field,
an index on every rejection, dead letters written once however often a batch is retried."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

from aforo.config import Settings
from tests.support import Api, make_tenant
from tests.test_usage_helpers import count_events, gateway_token, rejections

MS = 1795764757123  # 2026-11-27T07:32:37.123Z

REJECTIONS_Q = """{ usageRejections(first: 50) { nodes {
  source index row code field errors { code field message } } } }"""


async def _post(
    client: httpx.AsyncClient, token: str, path: str, body: Any, **headers: str
) -> httpx.Response:
    return await client.post(
        f"/v1/usage/{path}",
        content=json.dumps(body),
        headers={"Authorization": f"Bearer {token}", "content-type": "application/json", **headers},
    )


async def test_apigee_flow_variables_and_derived_latency(api: Api, settings: Settings) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    # A MessageLogging policy printing flow variables (no total_response_time).
    flow = {
        "messageid": "rrt-flow-1",
        "organization.name": "acme-org",
        "apiproxy.name": "orders-v1",
        "request.verb": "POST",
        "request.uri": "/v1/orders?debug=1",
        "response.status.code": 201,
        "client.ip": "192.0.2.7",
        "developer.app.name": "mobile",
        "client.received.start.timestamp": MS,
        "client.sent.end.timestamp": MS + 87,
    }
    # An analytics export row: the dimension names, latency from the two timestamps.
    export = {
        "messageid": "rrt-exp-1",
        "client_received_start_timestamp": "2026-11-27 07:32:37.123",
        "client_sent_end_timestamp": "2026-11-27 07:32:37.368",
        "request_verb": "GET",
        "response_status_code": "200",
    }
    r = await _post(api.client, token, "gateways/apigee", [flow, export])
    assert r.json()["accepted"] == 2, r.text
    rows = {x["event_id"]: x for x in await count_events(settings, t.id, rows=True)}
    f = rows["apigee:rrt-flow-1"]
    assert (f["method"], f["path"], f["status"], f["route"], f["source_account"]) == (
        "POST",
        "/v1/orders",
        201,
        "orders-v1",
        "acme-org",
    )
    assert (f["latency_ms"], f["client_ip"], f["consumer"]) == (87.0, "192.0.2.7", "mobile")
    assert rows["apigee:rrt-exp-1"]["latency_ms"] == 245.0


async def test_azure_log_to_eventhub_aliases(api: Api, settings: Settings) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    # Names of Microsoft's own log-to-eventhub examples; DateTime.UtcNow.ToString() and
    # context.Elapsed as they print without a format.
    message = {
        "EventTime": "11/27/2026 7:32:37 AM",
        "ServiceName": "contoso-apim.azure-api.net",
        "RequestId": "8d1c-ms-sample",
        "RequestIp": "203.0.113.21",
        "OperationName": "GetOrder",
        "StatusCode": 404,
        "Method": "GET",
        "Url": "https://contoso-apim.azure-api.net/orders/9",
        "Elapsed": "00:00:00.1520000",
    }
    # A Log Analytics export of the resource-specific table.
    table = {
        "TimeGenerated": "2026-11-27T07:32:38.000Z",
        "CorrelationId": "la-1",
        "Method": "PUT",
        "Url": "https://contoso-apim.azure-api.net/orders/1",
        "ResponseCode": 200,
        "TotalTime": 33,
        "CallerIpAddress": "203.0.113.22",
        "ApimSubscriptionId": "gold-sub",
        "_ResourceId": "/SUBSCRIPTIONS/0/RESOURCEGROUPS/RG/PROVIDERS/"
        "MICROSOFT.APIMANAGEMENT/SERVICE/CONTOSO-APIM",
    }
    r = await _post(api.client, token, "gateways/azure", {"records": [message, table]})
    assert r.json()["accepted"] == 2, r.text
    rows = {x["event_id"]: x for x in await count_events(settings, t.id, rows=True)}
    m = rows["azure:8d1c-ms-sample"]
    assert (m["status"], m["client_ip"], m["route"], m["latency_ms"]) == (
        404,
        "203.0.113.21",
        "GetOrder",
        152.0,
    )
    assert m["occurred_at"].isoformat() == "2026-11-27T07:32:37+00:00"
    la = rows["azure:la-1"]
    assert (la["consumer"], la["source_account"], la["latency_ms"]) == (
        "gold-sub",
        "contoso-apim",
        33.0,
    )


def _firehose(records: list[bytes]) -> dict[str, Any]:
    return {
        "requestId": "ed4acda5-aaaa",
        "timestamp": MS,
        "records": [{"data": base64.b64encode(d).decode()} for d in records],
    }


async def test_limits_apply_to_every_string_and_to_firehose_records(
    api: Api, settings: Settings
) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    line = {"requestId": "ok-1", "requestTimeEpoch": MS, "httpMethod": "GET", "status": "200"}
    clf = b'198.51.100.4 - - [27/Nov/2026:07:32:37 +0000] "GET /pets HTTP/1.1" 200 12 clf-1'
    huge = {**line, "requestId": "big-1", "userAgent": "x" * 1_100_000}  # > 1,000 KiB record
    wide = {**line, "requestId": "big-2", "userAgent": "y" * 300_000}  # < 1,000 KiB, > 64 KiB
    delivery = _firehose(
        [json.dumps(line).encode(), clf, json.dumps(huge).encode(), json.dumps(wide).encode()]
    )
    r = await _post(
        api.client, token, "gateways/aws", delivery, **{"X-Amz-Firehose-Access-Key": token}
    )
    assert r.status_code == 200 and set(r.json()) == {"requestId", "timestamp"}
    assert {x["event_id"] for x in await count_events(settings, t.id, rows=True)} == {
        "aws:ok-1",
        "aws:clf-1",
    }
    # Apigee: a 300 KB user agent in a field we never read refuses its record all the same.
    apigee = {"messageid": "a-1", "client_received_start_timestamp": MS, "useragent": "z" * 300_000}
    r = await _post(api.client, token, "gateways/apigee", [apigee])
    assert r.status_code == 422 and r.json()["outcome"] == "REJECTED"
    assert r.json()["rejected"][0]["errors"] == [
        {"code": "TOO_LARGE", "field": "useragent", "message": "useragent is larger than 64 KiB"}
    ]
    admin = await api.admin_token(t)
    nodes = (await api.data(REJECTIONS_Q, token=admin))["usageRejections"]["nodes"]
    got = sorted((n["source"], n["index"], n["code"], n["field"]) for n in nodes)
    assert got == [
        ("apigee", 0, "TOO_LARGE", "useragent"),
        ("aws_apigateway", 2, "TOO_LARGE", "data"),
        ("aws_apigateway", 3, "TOO_LARGE", "userAgent"),
    ]


async def test_outcomes_list_every_field_and_retries_do_not_duplicate_dead_letters(
    api: Api, settings: Settings
) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    bad = {"event_id": "b-1", "metric": "", "occurred_at": "soon", "quantity": -1, "colour": 1}
    r = await _post(api.client, token, "events", {"events": [bad]})
    body = r.json()
    assert (r.status_code, body["outcome"], body["accepted"]) == (422, "REJECTED", 0)
    assert [(e["code"], e["field"]) for e in body["rejected"][0]["errors"]] == [
        ("MISSING_FIELD", "metric"),
        ("INVALID_TIMESTAMP", "occurred_at"),
        ("NEGATIVE_QUANTITY", "quantity"),
        ("UNKNOWN_FIELD", "colour"),
    ]
    # Kong and MuleSoft answer by the same rule.
    r = await _post(api.client, token, "gateways/kong", [{"request": {"uri": "/x"}}])
    assert (r.status_code, r.json()["outcome"]) == (422, "REJECTED")
    r = await _post(api.client, token, "gateways/mulesoft", [{"Verb": "GET"}])
    assert (r.status_code, r.json()["rejected"][0]["index"]) == (422, 0)
    # A batch with a good record, a bad one and its twin, retried three times.
    good = {"event_id": "g-1", "metric": "m", "occurred_at": "2026-11-27T07:00:00Z"}
    twin = {"event_id": "t-1", "metric": "m", "occurred_at": "nope"}
    for _ in range(3):
        r = await _post(api.client, token, "events", {"events": [good, twin, twin]})
        assert r.status_code == 200 and r.json()["outcome"] == "PARTIAL"
    dead = [d for d in await rejections(settings, t.id) if d["event_id"] == "t-1"]
    assert sorted(d["record_index"] for d in dead) == [1, 2]  # two records, stored once each
    assert await count_events(settings, t.id) == 1
