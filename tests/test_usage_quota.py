"""/v1/keys/verify reports the remaining quota of the key's subscription and refuses with
QUOTA_EXCEEDED once a hard quota is used up; usage ingested here counts at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.gateway import create_key, create_plan, make_key_world, subscribe, verify
from tests.support import Api


async def _calls(api: Api, gateway: str, key_id: str, n: int, prefix: str) -> None:
    at = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    r = await api.client.post(
        "/v1/usage/events",
        json={
            "events": [
                {
                    "event_id": f"{prefix}{i}",
                    "metric": "api_calls",
                    "occurred_at": at,
                    "consumer": key_id,
                }
                for i in range(n)
            ]
        },
        headers={"Authorization": f"Bearer {gateway}"},
    )
    assert r.json()["accepted"] == n


async def test_verify_reports_remaining_quota_and_refuses_a_spent_hard_quota(api: Api) -> None:
    w = await make_key_world(api)
    r = await api.client.post(
        "/v1/keys/verify", json={"key": w.key}, headers={"Authorization": f"Bearer {w.gateway}"}
    )
    assert r.status_code == 200
    assert r.headers["X-Aforo-Quota-Limit"] == "10000"
    assert r.headers["X-Aforo-Quota-Remaining"] == "10000"
    await _calls(api, w.gateway, w.key_id, 4, "soft")
    r = await api.client.post(
        "/v1/keys/verify", json={"key": w.key}, headers={"Authorization": f"Bearer {w.gateway}"}
    )
    assert r.headers["X-Aforo-Quota-Remaining"] == "9996"

    tiny = await create_plan(
        api, w.admin, w.product_id, slug="tiny", name="Tiny", monthlyQuota=3, hardQuota=True
    )
    sub = await subscribe(api, w.dev, tiny)
    key = await create_key(api, w.dev, sub)
    status, body = await verify(api, w.gateway, key["secret"])
    assert status == 200 and body["valid"] is True
    await _calls(api, w.gateway, key["apiKey"]["id"], 3, "hard")
    status, body = await verify(api, w.gateway, key["secret"])
    assert status == 403
    assert body["valid"] is False and body["code"] == "QUOTA_EXCEEDED"
    assert body["subscription_id"] == sub
    assert {k: v for k, v in body["quota"].items() if k != "resets_at"} == {
        "limit": 3,
        "used": 3,
        "remaining": 0,
        "hard": True,
    }
    # The soft plan's key is still fine, and the two subscriptions never mix.
    status, body = await verify(api, w.gateway, w.key)
    assert status == 200
