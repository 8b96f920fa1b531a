"""Reading usage in GraphQL: rollups, the current period, events, dead letters; the mapping of
a record's consumer to our subscription and key; who may see what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI

from tests.gateway import create_key, make_key_world, queries, statements, subscribe
from tests.support import Api

USAGE_Q = """query($f: UsageFilter, $g: UsageGranularity!) {
  usage(filter: $f, granularity: $g) { total events buckets { start quantity events } } }"""
CURRENT_Q = """query($s: ID!) { currentUsage(subscriptionId: $s) {
  subscriptionId used quota remaining hard periodStart periodEnd } }"""
EVENTS_Q = """query($f: UsageFilter, $first: Int, $after: String) {
  usageEvents(filter: $f, first: $first, after: $after) {
    nodes { eventId occurredAt consumer subscriptionId keyId quantity properties }
    endCursor hasNextPage } }"""
REJ_Q = """query { usageRejections(first: 10) { nodes { code field eventId source message }
  hasNextPage } }"""


def iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def post(api: Api, gateway: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    r = await api.client.post(
        "/v1/usage/events", json={"events": events}, headers={"Authorization": f"Bearer {gateway}"}
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_consumer_maps_to_our_key_and_subscription(api: Api) -> None:
    w = await make_key_world(api)
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    cc = await create_key(api, w.dev, w.subscription_id, fmt="CLIENT_CREDENTIALS")
    events = [
        {
            "event_id": "by-key",
            "metric": "api_calls",
            "occurred_at": iso(now),
            "consumer": w.key_id,
        },
        {
            "event_id": "by-client",
            "metric": "api_calls",
            "occurred_at": iso(now),
            "consumer": cc["clientId"],
            "quantity": 2,
        },
        {
            "event_id": "by-sub",
            "metric": "api_calls",
            "occurred_at": iso(now),
            "consumer": w.subscription_id,
        },
        {
            "event_id": "foreign",
            "metric": "api_calls",
            "occurred_at": iso(now),
            "consumer": "kong-x",
        },
        {
            "event_id": "bad-sub",
            "metric": "api_calls",
            "occurred_at": iso(now),
            "subscription_id": "00000000-0000-0000-0000-000000000000",
        },
    ]
    body = await post(api, w.gateway, events)
    assert body["accepted"] == 4
    assert [(r["index"], r["code"], r["field"]) for r in body["rejected"]] == [
        (4, "UNKNOWN_SUBSCRIPTION", "subscription_id")
    ]
    got = await api.data(EVENTS_Q, {"first": 10}, token=w.admin)
    by_id = {n["eventId"]: n for n in got["usageEvents"]["nodes"]}
    assert by_id["by-key"]["keyId"] == w.key_id
    assert by_id["by-key"]["subscriptionId"] == w.subscription_id
    assert by_id["by-client"]["keyId"] == cc["apiKey"]["id"]
    assert by_id["by-client"]["subscriptionId"] == w.subscription_id
    assert by_id["by-sub"]["subscriptionId"] == w.subscription_id
    assert by_id["by-sub"]["keyId"] is None
    assert by_id["foreign"]["subscriptionId"] is None
    assert by_id["foreign"]["consumer"] == "kong-x"
    # The plan's quota against this month's calls.
    cur = (await api.data(CURRENT_Q, {"s": w.subscription_id}, token=w.dev))["currentUsage"]
    assert (cur["used"], cur["quota"], cur["remaining"], cur["hard"]) == ("4", 10000, "9996", False)
    assert cur["periodStart"].startswith(f"{now:%Y-%m}-01T00:00:00")


async def test_usage_buckets_by_granularity_and_filter(api: Api) -> None:
    w = await make_key_world(api)
    base = datetime(2026, 10, 30, 22, 10, tzinfo=UTC)
    events = []
    for h, (tool, q) in enumerate([("search", 1), ("search", 2), ("fetch", 5), ("search", 3)]):
        at = base + timedelta(hours=h)  # 22:10, 23:10, 00:10 (Oct 31), 01:10
        events.append(
            {
                "event_id": f"t{h}",
                "metric": "mcp_tool_calls",
                "occurred_at": iso(at),
                "consumer": w.key_id,
                "tool": tool,
                "agent": "agent-1",
                "quantity": q,
            }
        )
    await post(api, w.gateway, events)
    f = {"subscriptionId": w.subscription_id, "metric": "mcp_tool_calls"}
    hour = (await api.data(USAGE_Q, {"f": f, "g": "HOUR"}, token=w.dev))["usage"]
    assert [b["quantity"] for b in hour["buckets"]] == ["1", "2", "5", "3"]
    assert hour["buckets"][0]["start"].startswith("2026-10-30T22:00:00")
    day = (await api.data(USAGE_Q, {"f": f, "g": "DAY"}, token=w.dev))["usage"]
    assert [(b["start"][:10], b["quantity"], b["events"]) for b in day["buckets"]] == [
        ("2026-10-30", "3", 2),
        ("2026-10-31", "8", 2),
    ]
    assert (day["total"], day["events"]) == ("11", 4)
    month = await api.data(USAGE_Q, {"f": {**f, "tool": "search"}, "g": "MONTH"}, token=w.dev)
    assert month["usage"]["total"] == "6"
    window = {**f, "from": "2026-10-30T23:00:00Z", "to": "2026-10-31T01:00:00Z"}
    assert (await api.data(USAGE_Q, {"f": window, "g": "DAY"}, token=w.dev))["usage"][
        "total"
    ] == "7"
    bad = await api.gql(
        USAGE_Q,
        {"f": {**f, "from": "2026-11-01T00:00:00Z", "to": "2026-10-01T00:00:00Z"}, "g": "DAY"},
        token=w.dev,
    )
    assert bad["errors"][0]["extensions"] == {"code": "INVALID", "field": "from"}


async def test_developers_see_only_their_own_subscriptions(api: Api) -> None:
    w = await make_key_world(api)
    other = await api.sign_up(w.tenant, "other@example.com")
    other_sub = await subscribe(api, other["accessToken"], w.plan_id)
    now = iso(datetime.now(UTC) - timedelta(seconds=1))
    await post(
        api,
        w.gateway,
        [
            {"event_id": "mine", "metric": "api_calls", "occurred_at": now, "consumer": w.key_id},
            {
                "event_id": "theirs",
                "metric": "api_calls",
                "occurred_at": now,
                "consumer": other_sub,
            },
            {"event_id": "nobody", "metric": "api_calls", "occurred_at": now},
        ],
    )
    mine = await api.data(EVENTS_Q, {}, token=w.dev)
    assert [n["eventId"] for n in mine["usageEvents"]["nodes"]] == ["mine"]
    theirs = await api.data(EVENTS_Q, {}, token=other["accessToken"])
    assert [n["eventId"] for n in theirs["usageEvents"]["nodes"]] == ["theirs"]
    peek = await api.data(USAGE_Q, {"f": {"subscriptionId": other_sub}, "g": "DAY"}, token=w.dev)
    assert peek["usage"]["total"] == "0"
    denied = await api.gql(CURRENT_Q, {"s": other_sub}, token=w.dev)
    assert denied["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    admin = await api.data(EVENTS_Q, {}, token=w.admin)
    assert len(admin["usageEvents"]["nodes"]) == 3
    forbidden = await api.gql(REJ_Q, {}, token=w.dev)
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_events_newest_first_with_cursor_in_constant_statements(
    api: Api, app: FastAPI
) -> None:
    w = await make_key_world(api)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    await post(
        api,
        w.gateway,
        [
            {
                "event_id": f"p{i:02d}",
                "metric": "api_calls",
                "occurred_at": iso(base + timedelta(seconds=i // 2)),
                "properties": {"i": i},
            }
            for i in range(25)
        ],
    )
    seen: list[str] = []
    after = None
    for _ in range(3):
        with statements(app) as sql:
            page = await api.data(EVENTS_Q, {"first": 10, "after": after}, token=w.admin)
        assert len(queries(sql)) <= 2
        conn = page["usageEvents"]
        seen += [n["eventId"] for n in conn["nodes"]]
        after = conn["endCursor"]
        if not conn["hasNextPage"]:
            break
    assert seen == [f"p{i:02d}" for i in reversed(range(25))]
    bad = await api.gql(EVENTS_Q, {"after": "%%%"}, token=w.admin)
    assert bad["errors"][0]["extensions"]["code"] == "INVALID"


async def test_rejections_are_queryable(api: Api) -> None:
    w = await make_key_world(api)
    r = await api.client.post(
        "/v1/usage/events",
        json={"events": [{"event_id": "x", "metric": "m", "occurred_at": "nope"}]},
        headers={"Authorization": f"Bearer {w.gateway}"},
    )
    assert (r.status_code, r.json()["outcome"]) == (422, "REJECTED")  # its only record refused
    got = (await api.data(REJ_Q, {}, token=w.admin))["usageRejections"]
    assert got["nodes"] == [
        {
            "code": "INVALID_TIMESTAMP",
            "field": "occurred_at",
            "eventId": "x",
            "source": "rest",
            "message": "occurred_at must be RFC 3339 with an offset, e.g. Z",
        }
    ]


async def test_usage_never_adds_different_metrics_together(api: Api) -> None:
    w = await make_key_world(api)
    at = datetime(2026, 10, 30, 9, 5, tzinfo=UTC)
    records = [("calls", 1, 0), ("calls", 2, 1), ("tokens", 900, 0), ("tokens", 100, 1)]
    await post(
        api,
        w.gateway,
        [
            {
                "event_id": f"m{i}",
                "metric": metric,
                "occurred_at": iso(at + timedelta(hours=h)),
                "consumer": w.key_id,
                "quantity": q,
            }
            for i, (metric, q, h) in enumerate(records)
        ],
    )
    q = """query($f: UsageFilter, $g: UsageGranularity!) { usage(filter: $f, granularity: $g) {
      total events metric buckets { quantity events }
      byMetric { metric total events buckets { quantity } } } }"""
    f = {"subscriptionId": w.subscription_id}
    both = (await api.data(q, {"f": f, "g": "DAY"}, token=w.dev))["usage"]
    # 3 calls and 1000 tokens are not "1003" of anything.
    assert (both["total"], both["metric"], both["events"]) == (None, None, 4)
    assert both["buckets"] == [{"quantity": None, "events": 4}]
    assert [(m["metric"], m["total"], m["events"]) for m in both["byMetric"]] == [
        ("calls", "3", 2),
        ("tokens", "1000", 2),
    ]
    one = (await api.data(q, {"f": {**f, "metric": "tokens"}, "g": "HOUR"}, token=w.dev))["usage"]
    assert (one["total"], one["metric"]) == ("1000", "tokens")
    assert [b["quantity"] for b in one["buckets"]] == ["900", "100"]
