"""The five gateway formats, each with a realistic record and its normalized result."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

from aforo.config import Settings
from tests.support import Api, make_tenant
from tests.test_usage_helpers import count_events, gateway_token, rejections

MS = 1795764757123  # 2026-11-27T07:32:37.123Z
ISO = "2026-11-27T07:32:37.123Z"

KONG = {
    "request": {
        "method": "get",
        "uri": "/orders/caf%C3%A9?limit=2",
        "url": "https://api.example.com:8443/orders/caf%C3%A9?limit=2",
        "size": "86",
        "id": "c29f1b2e7a5d4b8c",
        "headers": {"x-consumer-id": "abc", "authorization": "Bearer sk_live_do_not_keep"},
    },
    "response": {"status": 200, "size": "934", "headers": {}},
    "route": {"id": "b5b5d7c4-0000", "name": "orders"},
    "consumer": {"id": "cons-1", "username": "acme"},
    "latencies": {"proxy": 12, "kong": 3, "request": 15},
    "client_ip": "203.0.113.7",
    "started_at": MS,
    "workspace_name": "default",
}


def expected(**kw: Any) -> dict[str, Any]:
    base = {
        "metric": "api_calls",
        "quantity": 1.0,
        "method": "GET",
        "status": 200,
        "occurred_at": ISO,
    }
    return {**base, **kw}


def pick(row: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    out = {k: row[k] for k in keys}
    if "occurred_at" in out:
        out["occurred_at"] = (
            out["occurred_at"].isoformat(timespec="milliseconds").replace("+00:00", "Z")
        )
    return out


KEYS = [
    "event_id",
    "source",
    "metric",
    "quantity",
    "consumer",
    "source_account",
    "method",
    "path",
    "route",
    "status",
    "latency_ms",
    "request_bytes",
    "response_bytes",
    "request_id",
    "client_ip",
    "occurred_at",
]


async def _post(api: Api, token: str, path: str, body: Any, **headers: str) -> dict[str, Any]:
    r = await api.client.post(
        f"/v1/usage/gateways/{path}",
        content=json.dumps(body),
        headers={"Authorization": f"Bearer {token}", "content-type": "application/json", **headers},
    )
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def test_kong_http_log_single_and_batched(api: Api, settings: Settings) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    body = await _post(api, token, "kong", KONG)
    assert body["accepted"] == 1
    second = {**KONG, "request": {**KONG["request"], "id": None}, "started_at": MS + 1}
    bad = {**KONG, "started_at": "soon"}
    body = await _post(api, token, "kong", [KONG, second, bad])
    assert (body["accepted"], body["duplicates"]) == (1, 1)
    assert [(r["index"], r["code"], r["field"]) for r in body["rejected"]] == [
        (2, "INVALID_TIMESTAMP", "started_at")
    ]
    rows = await count_events(settings, t.id, rows=True)
    first = next(r for r in rows if r["event_id"] == "kong:c29f1b2e7a5d4b8c")
    assert pick(first, KEYS) == expected(
        event_id="kong:c29f1b2e7a5d4b8c",
        source="kong",
        consumer="cons-1",
        source_account="default",
        path="/orders/café",
        route="orders",
        latency_ms=15.0,
        request_bytes=86,
        response_bytes=934,
        request_id="c29f1b2e7a5d4b8c",
        client_ip="203.0.113.7",
    )
    # The refused record is kept for debugging, without the credential it carried.
    dead = await rejections(settings, t.id)
    assert len(dead) == 1 and "sk_live_do_not_keep" not in dead[0]["record"]
    assert '"authorization": "[redacted]"' in dead[0]["record"]
    # A record without a request id gets a deterministic id: its resend is a duplicate.
    again = await _post(api, token, "kong", second)
    assert again["duplicates"] == 1


REST_LOG = {
    "requestId": "8d1c1a7e-aaaa",
    "ip": "198.51.100.4",
    "requestTimeEpoch": MS,
    "httpMethod": "POST",
    "resourcePath": "/pets/{id}",
    "path": "/prod/pets/42",
    "status": "201",
    "responseLength": "-",
    "responseLatency": "31",
    "apiKeyId": "k9x8",
    "accountId": "123456789012",
}
HTTP_API_LOG = {
    "requestId": "Jx1-http",
    "sourceIp": "198.51.100.5",
    "requestTime": "27/Nov/2026:07:32:37 +0000",
    "routeKey": "GET /pets",
    "status": 200,
    "responseLength": 12,
}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_aws_firehose_direct_and_cloudwatch_records(api: Api, settings: Settings) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    cwl = {
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "API-Gateway-Access-Logs",
        "logStream": "s",
        "subscriptionFilters": ["f"],
        "logEvents": [{"id": "1", "timestamp": MS, "message": json.dumps(HTTP_API_LOG)}],
    }
    control = {"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logEvents": []}
    delivery = {
        "requestId": "ed4acda5-034f-9f42-bba1-f29aea6d7d8f",
        "timestamp": MS,
        "records": [
            {"data": b64(json.dumps(REST_LOG).encode())},
            {"data": b64(gzip.compress(json.dumps(cwl).encode()))},
            {"data": "!!!not base64"},
            {"data": b64(gzip.compress(json.dumps(control).encode()))},
            {"data": b64(json.dumps({**REST_LOG, "requestId": "x", "status": "abc"}).encode())},
        ],
    }
    r = await api.client.post(
        "/v1/usage/gateways/aws",
        content=json.dumps(delivery),
        headers={
            "X-Amz-Firehose-Access-Key": token,
            "X-Amz-Firehose-Request-Id": delivery["requestId"],
            "X-Amz-Firehose-Protocol-Version": "1.0",
            "content-type": "application/json",
        },
    )
    # Firehose's shape, 200 even though two records were refused (they are dead-lettered).
    assert r.status_code == 200
    answer = r.json()
    assert set(answer) == {"requestId", "timestamp"}
    assert answer["requestId"] == delivery["requestId"]
    rows = {r["event_id"]: r for r in await count_events(settings, t.id, rows=True)}
    assert pick(rows["aws:8d1c1a7e-aaaa"], KEYS) == expected(
        event_id="aws:8d1c1a7e-aaaa",
        source="aws_apigateway",
        method="POST",
        status=201,
        consumer="k9x8",
        source_account="123456789012",
        path="/prod/pets/42",
        route="/pets/{id}",
        latency_ms=31.0,
        request_bytes=None,
        response_bytes=None,
        request_id="8d1c1a7e-aaaa",
        client_ip="198.51.100.4",
    )
    http = rows["aws:Jx1-http"]
    assert (http["method"], http["path"], http["route"], http["source_account"]) == (
        "GET",
        "/pets",
        "GET /pets",
        "123456789012",
    )
    assert http["occurred_at"].isoformat() == "2026-11-27T07:32:37+00:00"
    dead = await rejections(settings, t.id)
    assert sorted(d["code"] for d in dead) == ["INVALID_BASE64", "INVALID_TYPE"]
    # A wrong access key: Firehose's shape, 401.
    r = await api.client.post(
        "/v1/usage/gateways/aws",
        content=json.dumps(delivery),
        headers={"X-Amz-Firehose-Access-Key": "nope", "X-Amz-Firehose-Request-Id": "r1"},
    )
    assert r.status_code == 401 and r.json()["requestId"] == "r1" and r.json()["errorMessage"]
    # A truncated delivery: not 200, so Firehose retries it.
    r = await api.client.post(
        "/v1/usage/gateways/aws",
        content=json.dumps(delivery)[:50],
        headers={"X-Amz-Firehose-Access-Key": token, "X-Amz-Firehose-Request-Id": "r2"},
    )
    assert r.status_code == 400 and r.json()["requestId"] == "r2"


async def test_azure_gateway_logs_and_policy_messages(api: Api, settings: Settings) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    resource_log = {
        "records": [
            {
                "time": ISO,
                "resourceId": "/SUBSCRIPTIONS/0000/RESOURCEGROUPS/RG/PROVIDERS/"
                "MICROSOFT.APIMANAGEMENT/SERVICE/CONTOSO-APIM",
                "operationName": "Microsoft.ApiManagement/GatewayLogs",
                "category": "GatewayLogs",
                "durationMs": 152,
                "callerIpAddress": "203.0.113.9",
                "correlationId": "5a7c3c2b-0000",
                "properties": {
                    "method": "GET",
                    "url": "https://contoso-apim.azure-api.net/echo/resource?param1=sample",
                    "responseCode": 200,
                    "responseSize": 688,
                    "requestSize": 0,
                    "apiId": "echo-api",
                    "operationId": "retrieve-resource",
                    "apimSubscriptionId": "starter-sub",
                },
            }
        ]
    }
    body = await _post(api, token, "azure", resource_log)
    assert body["accepted"] == 1
    policy = {
        "EventTime": ISO,
        "ServiceName": "contoso-apim.azure-api.net",
        "RequestId": "9f0e-policy",
        "IpAddress": "203.0.113.10",
        "OperationId": "create-order",
        "Method": "POST",
        "Url": "https://contoso-apim.azure-api.net/orders?x=1",
        "ResponseCode": 201,
        "ResponseSize": 12,
        "RequestSize": 40,
        "ElapsedMs": 88,
        "SubscriptionId": "gold-sub",
    }
    body = await _post(api, token, "azure", [policy])
    assert body["accepted"] == 1
    rows = {r["event_id"]: r for r in await count_events(settings, t.id, rows=True)}
    assert pick(rows["azure:5a7c3c2b-0000"], KEYS) == expected(
        event_id="azure:5a7c3c2b-0000",
        source="azure_apim",
        consumer="starter-sub",
        source_account="contoso-apim",
        path="/echo/resource",
        route="retrieve-resource",
        latency_ms=152.0,
        request_bytes=0,
        response_bytes=688,
        request_id="5a7c3c2b-0000",
        client_ip="203.0.113.9",
    )
    p = rows["azure:9f0e-policy"]
    assert (p["method"], p["status"], p["consumer"], p["path"], p["latency_ms"]) == (
        "POST",
        201,
        "gold-sub",
        "/orders",
        88.0,
    )


async def test_apigee_and_mulesoft_records(api: Api, settings: Settings) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    apigee = {
        "organization": "acme-org",
        "environment": "prod",
        "apiproxy": "orders-v1",
        "client_received_start_timestamp": str(MS),
        "request_uri": "/v1/orders?page=2",
        "request_verb": "GET",
        "response_status_code": "200",
        "total_response_time": "41",
        "client_id": "ZkXq-client",
        "client_ip": "192.0.2.1",
        "request_size": "0",
        "response_size": "512",
        "messageid": "rrt-0001",
    }
    body = await _post(api, token, "apigee", {"records": [apigee, {**apigee, "request_verb": 7}]})
    assert body["accepted"] == 1
    assert [(x["code"], x["field"]) for x in body["rejected"]] == [("INVALID_TYPE", "request_verb")]
    mule = {
        "API ID": "1234",
        "API Name": "orders-api",
        "API Version": "v1",
        "Application": "mule-client-7",
        "Application Name": "Acme Mobile",
        "Client IP": "192.0.2.2",
        "Message ID": "b7f0-mule",
        "Resource Path": "/api/orders/7",
        "Verb": "delete",
        "Status Code": "204",
        "Response Time": "19",
        "Request Size": "0",
        "Response Size": "0",
        "Timestamp": ISO,
        "Org ID": "org-99",
    }
    body = await _post(api, token, "mulesoft", [mule])
    assert body["accepted"] == 1
    rows = {r["event_id"]: r for r in await count_events(settings, t.id, rows=True)}
    assert pick(rows["apigee:rrt-0001"], KEYS) == expected(
        event_id="apigee:rrt-0001",
        source="apigee",
        consumer="ZkXq-client",
        source_account="acme-org",
        path="/v1/orders",
        route="orders-v1",
        latency_ms=41.0,
        request_bytes=0,
        response_bytes=512,
        request_id="rrt-0001",
        client_ip="192.0.2.1",
    )
    assert pick(rows["mulesoft:b7f0-mule"], KEYS) == expected(
        event_id="mulesoft:b7f0-mule",
        source="mulesoft",
        method="DELETE",
        status=204,
        consumer="mule-client-7",
        source_account="org-99",
        path="/api/orders/7",
        route="orders-api",
        latency_ms=19.0,
        request_bytes=0,
        response_bytes=0,
        request_id="b7f0-mule",
        client_ip="192.0.2.2",
    )


async def test_gateway_body_limit_and_gzip(api: Api, settings: Settings) -> None:
    t = await make_tenant(settings)
    token = await gateway_token(api, t)
    h = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
    r = await api.client.post(
        "/v1/usage/gateways/kong",
        content=gzip.compress(json.dumps([KONG]).encode()),
        headers={**h, "content-encoding": "gzip"},
    )
    assert r.json()["accepted"] == 1
    # Declared or decompressed: past the documented limit is a 413, nothing ingested.
    bomb = gzip.compress(b"[" + b" " * (65 * 1024 * 1024) + b"]")
    r = await api.client.post(
        "/v1/usage/gateways/kong", content=bomb, headers={**h, "content-encoding": "gzip"}
    )
    assert r.status_code == 413
    assert r.json()["rejected"][0]["code"] == "PAYLOAD_TOO_LARGE"
