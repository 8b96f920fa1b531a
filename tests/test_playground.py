"""Try-it through a real gateway: nginx ``auth_request`` to our verify endpoint, in front of an
upstream that echoes what it got. The credential is minted and injected server-side."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import jwt
from fastapi import FastAPI
from sqlalchemy import select

from aforo.app import create_app
from aforo.config import Settings
from aforo.models.playground import PlaygroundRun
from aforo.models.usage import UsageEvent
from aforo.services import playground_runs
from aforo.services.key_state import GATEWAY_AUDIENCE
from aforo.services.playground import REDACTED
from tests.gateway import cancel, make_key_world, ok, queries, revoke_key, statements
from tests.support import Api
from tests.test_playground_support import (
    IMPORT,
    gateway_to,
    limits,
    make_world,
    try_it,
    upstream,
)

RUNS = """query($n: Int) { playgroundRuns(first: $n) { id userId keyId operationId method url
  status errorCode totalMs createdAt timing { dnsMs connectMs ttfbMs totalMs } } }"""


def _headers(r: dict[str, Any]) -> dict[str, str]:
    return {h["name"].lower(): h["value"] for h in r["headers"]}


async def test_a_run_passes_the_gateway_only_with_the_injected_credential(
    api: Api, app: FastAPI, settings: Settings
) -> None:
    with upstream() as (up, up_server):
        k = await make_key_world(api)
        with gateway_to(create_app(settings), k.gateway, up_server.port) as nginx:
            w = await make_world(api, [nginx.url], keys=k)
            async with httpx.AsyncClient() as http:  # without a credential: refused
                assert (await http.get(f"{nginx.url}/forecast/oslo")).status_code == 403
            r = await try_it(
                api,
                w.keys.dev,
                w.run(
                    "GET /forecast/{city}",
                    pathParams=[{"name": "city", "value": "São Paulo/../x"}],
                    query=[{"name": "days", "value": "3 & more"}],
                    headers=[{"name": "Accept-Language", "value": "pt"}],
                ),
            )
    assert r["__typename"] == "PlaygroundResponse", r
    assert r["status"] == 200
    # The upstream got a short-lived JWT standing in for the key, never a raw key.
    got = up.seen[-1]
    scheme, token = got["headers"]["authorization"].split(" ", 1)
    assert scheme == "Bearer" and not token.startswith("sk_")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == w.keys.key_id and claims["aud"] == GATEWAY_AUDIENCE
    assert claims["exp"] - claims["iat"] <= 60
    assert w.keys.key not in json.dumps(got)
    assert got["headers"]["x-aforo-key-id"] == w.keys.key_id  # the gateway verified it
    assert got["raw_path"] == "/forecast/S%C3%A3o%20Paulo%2F..%2Fx"  # one encoded segment
    assert got["query"] == "days=3%20%26%20more"
    assert got["headers"]["accept-language"] == "pt"
    # What the caller sees carries no credential.
    assert token not in json.dumps(r) and token.rsplit(".", 1)[1] not in json.dumps(r)
    echoed = json.loads(r["body"])
    assert echoed["headers"]["authorization"] == f"Bearer {REDACTED}"
    h = _headers(r)
    assert h["x-echo-authorization"] == f"Bearer {REDACTED}"
    assert h["x-request-seen"] == "yes"
    assert not {"set-cookie", "www-authenticate", "authorization"} & set(h)
    t = r["timing"]
    assert t["dnsMs"] >= 0 and t["tlsMs"] == 0  # plain HTTP
    assert t["totalMs"] >= t["ttfbMs"] + t["transferMs"]
    assert r["url"].startswith(nginx.url + "/forecast/")


async def test_api_key_header_schemes_get_the_token_under_their_name(api: Api) -> None:
    with upstream() as (up, server):
        w = await make_world(api, [server.url], security="header")
        r = await try_it(
            api,
            w.keys.dev,
            w.run(
                "POST /forecast/{city}",
                pathParams=[{"name": "city", "value": "oslo"}],
                body='{"hello": "world"}',
            ),
        )
        assert r["__typename"] == "PlaygroundResponse", r
        got = up.seen[-1]
        assert "authorization" not in got["headers"]
        token = got["headers"]["x-api-key"]
        assert jwt.decode(token, options={"verify_signature": False})["sub"] == w.keys.key_id
        assert got["method"] == "POST" and got["body"] == '{"hello": "world"}'
        assert got["headers"]["content-type"] == "application/json"  # from the spec
        assert token not in r["body"] and REDACTED in r["body"]
        refused = await try_it(
            api,
            w.keys.dev,
            w.run(
                "POST /forecast/{city}",
                pathParams=[{"name": "city", "value": "oslo"}],
                headers=[{"name": "x-api-key", "value": "sk_live_mine"}],
            ),
        )
        assert (refused["code"], refused["field"]) == (
            "PLAYGROUND_HEADER_REFUSED",
            "headers.x-api-key",
        )


async def test_inputs_are_validated_with_the_offending_field(api: Api) -> None:
    w = await make_world(api, ["http://127.0.0.1:9"])
    city = [{"name": "city", "value": "oslo"}]
    cases: list[tuple[dict[str, Any], str, str]] = [
        (
            {"headers": [{"name": "Authorization", "value": "Bearer x"}]},
            "headers.Authorization",
            "PLAYGROUND_HEADER_REFUSED",
        ),
        (
            {"headers": [{"name": "Cookie", "value": "a=b"}]},
            "headers.Cookie",
            "PLAYGROUND_HEADER_REFUSED",
        ),
        (
            {"headers": [{"name": "Host", "value": "evil"}]},
            "headers.Host",
            "PLAYGROUND_HEADER_REFUSED",
        ),
        (
            {"headers": [{"name": "Transfer-Encoding", "value": "chunked"}]},
            "headers.Transfer-Encoding",
            "PLAYGROUND_HEADER_REFUSED",
        ),
        ({"headers": [{"name": "X-Ok", "value": "a\r\nInjected: 1"}]}, "headers.X-Ok", "INVALID"),
        ({"headers": [{"name": "bad name", "value": "1"}]}, "headers.bad name", "INVALID"),
        ({}, "pathParams.city", "REQUIRED"),
        ({"pathParams": [*city, {"name": "nope", "value": "1"}]}, "pathParams.nope", "INVALID"),
        ({"pathParams": city, "body": "{}"}, "body", "INVALID"),  # a GET has no body
        ({"pathParams": city, "server": "http://elsewhere.example"}, "server", "INVALID"),
        ({"pathParams": city, "keyId": str(uuid.uuid4())}, "keyId", "NOT_FOUND"),
        ({"pathParams": city, "operationId": str(uuid.uuid4())}, "operationId", "NOT_FOUND"),
        ({"pathParams": city, "keyId": "not-an-id"}, "keyId", "INVALID"),
    ]
    for extra, field, code in cases:
        r = await try_it(api, w.keys.dev, {**w.run("GET /forecast/{city}"), **extra})
        assert (r["__typename"], r.get("field"), r.get("code")) == ("UserError", field, code), (
            extra,
            r,
        )
    basic = await make_world(api, ["http://127.0.0.1:9"], security="basic", keys=w.keys, allow=())
    r = await try_it(api, w.keys.dev, basic.run("GET /big"))
    assert (r["code"], r["field"]) == ("PLAYGROUND_UNSUPPORTED_AUTH", "operationId")
    # Anonymous callers cannot try at all.
    body = await api.gql(
        "mutation($i: TryOperationInput!) { tryOperation(input: $i) { __typename } }",
        {"i": w.run("GET /big")},
        storefront=w.keys.tenant.storefront_key,
    )
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_someone_elses_key_a_revoked_key_and_a_cancelled_subscription_are_refused(
    api: Api,
) -> None:
    with upstream() as (up, server):
        w = await make_world(api, [server.url])
        inp = w.run("GET /forecast/{city}", pathParams=[{"name": "city", "value": "oslo"}])
        # A run first: its token is kept for the next runs while the verifier accepts it.
        assert (await try_it(api, w.keys.dev, inp))["status"] == 200
        other = await api.sign_up(w.keys.tenant, "other@example.com")
        r = await try_it(api, other["accessToken"], inp)
        assert (r["code"], r["field"]) == ("NOT_FOUND", "keyId")
        assert "API key" in r["message"]
        # The key is the problem named, even when the request lacks a path parameter too.
        missing = w.run("GET /forecast/{city}")
        r = await try_it(api, other["accessToken"], missing)
        assert (r["code"], r["field"]) == ("NOT_FOUND", "keyId")
        await revoke_key(api, w.keys.dev, w.keys.key_id)
        r = await try_it(api, w.keys.dev, inp)
        assert (r["code"], r["field"]) == ("KEY_REVOKED", "keyId")
        r = await try_it(api, w.keys.dev, missing)
        assert (r["code"], r["field"]) == ("KEY_REVOKED", "keyId")
        assert w.keys.key_id in r["message"] and "revoked" in r["message"]
        assert len(up.seen) == 1  # nothing was sent for a refused key
    # Cancelling the subscription revokes its keys: refused the same way.
    k = await make_key_world(api, name="Beta", email="b@example.com")
    w2 = await make_world(api, ["http://127.0.0.1:9"], keys=k)
    await cancel(api, k.dev, k.subscription_id)
    r = await try_it(api, k.dev, w2.run("GET /big"))
    assert (r["code"], r["field"]) == ("KEY_REVOKED", "keyId")


async def test_runs_are_recorded_metered_listed_and_rate_limited(api: Api, app: FastAPI) -> None:
    with upstream() as (_, server):
        w = await make_world(api, [server.url])
        inp = w.run("GET /forecast/{city}", pathParams=[{"name": "city", "value": "oslo"}])
        first = await try_it(api, w.keys.dev, inp)
        second = await try_it(api, w.keys.dev, inp)
        assert second["runId"] != first["runId"]
        failed = await try_it(
            api,
            w.keys.dev,
            w.run("GET /redirect", query=[{"name": "to", "value": "http://10.9.9.9/"}]),
        )
        assert failed["code"] == "OUTBOUND_REDIRECT"
        limits(app, per_minute=3)
        limited = await try_it(api, w.keys.dev, inp)
        assert limited["code"] == "RATE_LIMITED"
    rt = app.state.runtime
    await playground_runs.flush(rt)  # runs are recorded off the caller's path
    async with rt.transaction(uuid.UUID(w.keys.tenant.id)) as s:
        runs = list(await s.scalars(select(PlaygroundRun).order_by(PlaygroundRun.created_at)))
        usage = list(await s.scalars(select(UsageEvent).where(UsageEvent.source == "playground")))
    assert [(r.status, r.error_code) for r in runs] == [
        (200, None),
        (200, None),
        (None, "OUTBOUND_REDIRECT"),
    ]
    assert {str(r.id) for r in runs[:2]} == {first["runId"], second["runId"]}
    assert all(r.key_id == uuid.UUID(w.keys.key_id) for r in runs)
    # Metered as API calls of the key's subscription, once per run that reached the API.
    assert sorted(e.event_id for e in usage) == sorted(
        f"playground:{x['runId']}" for x in (first, second)
    )
    assert {(str(e.subscription_id), str(e.key_id), e.metric, e.route) for e in usage} == {
        (w.keys.subscription_id, w.keys.key_id, "api_calls", "/forecast/{city}")
    }
    # Listed for their owner (one statement for the page), all of them for an admin.
    with statements(app) as seen:
        mine = (await api.data(RUNS, {"n": 10}, token=w.keys.dev))["playgroundRuns"]
    # (the verifier's background write of keys' last use may land in the block: not the page's)
    assert len([q for q in queries(seen) if "last_used_at" not in q]) == 1, seen
    assert [r["status"] for r in mine] == [None, 200, 200]  # newest first
    assert mine[0]["errorCode"] == "OUTBOUND_REDIRECT" and mine[0]["timing"] is None
    assert mine[1]["timing"]["totalMs"] > 0
    other = await api.sign_up(w.keys.tenant, "nosy@example.com")
    assert (await api.data(RUNS, {}, token=other["accessToken"]))["playgroundRuns"] == []
    everyone = (await api.data(RUNS, {}, token=w.keys.admin))["playgroundRuns"]
    assert len(everyone) == 3
    body = await api.gql(RUNS, {"n": 500}, token=w.keys.dev)
    assert body["errors"][0]["extensions"]["field"] == "first"


async def test_graphql_operations_are_posted_to_the_configured_endpoint(api: Api) -> None:
    with upstream() as (up, server):
        w = await make_world(api, [server.url])
        imported = await ok(
            api,
            IMPORT,
            {
                "i": {
                    "productId": w.keys.product_id,
                    "format": "GRAPHQL",
                    "content": "type Query { forecast(city: String!): String }",
                    "serverUrl": f"{server.url}/graphql",
                    "name": "weather-graphql",
                }
            },
            "importSpec",
            token=w.keys.admin,
        )
        op_id = imported["version"]["operations"][0]["id"]
        query = '{"query": "{ forecast(city: \\"oslo\\") }"}'
        r = await try_it(
            api, w.keys.dev, {"operationId": op_id, "keyId": w.keys.key_id, "body": query}
        )
        assert r["__typename"] == "PlaygroundResponse", r
        got = up.seen[-1]
        assert (got["method"], got["path"], got["body"]) == ("POST", "/graphql", query)
        assert got["headers"]["content-type"] == "application/json"
        assert got["headers"]["authorization"].startswith("Bearer ey")


async def test_a_run_reusing_its_token_reads_its_target_and_rights_in_one_statement(
    api: Api, app: FastAPI
) -> None:
    """After the first run minted the key's token, the next ones reuse it while the key
    verifier (whose cache every instance drops on revocation) accepts it: a run then reads
    the operation, the allow-list and the caller's right to use the key in one statement on a
    bare connection (no ORM transaction, no mint), and answers as the first did."""
    with upstream() as (_, server):
        w = await make_world(api, [server.url])
        inp = w.run("GET /forecast/{city}", pathParams=[{"name": "city", "value": "oslo"}])
        first = await try_it(api, w.keys.dev, inp)
        await try_it(api, w.keys.dev, inp)  # the key's verdict is cached from here on
        await playground_runs.flush(app.state.runtime)
        with statements(app) as seen:
            second = await try_it(api, w.keys.dev, inp)
        # (background writes - keys' last use, the first run's record - are not the run's)
        mine = [q for q in seen if "last_used_at" not in q and not q.startswith("INSERT")]
        assert len(mine) == 1 and "usable" in mine[0], seen
        assert (second["status"], second["body"]) == (first["status"], first["body"])


async def test_a_cookie_an_api_sets_never_goes_out_with_anyone_elses_run(api: Api) -> None:
    """The pooled outbound clients serve every tenant and user: a ``Set-Cookie`` answered to
    one caller's run is not kept, so no later run - another tenant's here - sends it."""
    with upstream() as (up, server):
        first = await make_world(api, [server.url])
        other = await make_world(
            api, [server.url], keys=await make_key_world(api, name="Globex", email="x@example.com")
        )
        city = [{"name": "city", "value": "oslo"}]
        for w in (first, other, first):
            r = await try_it(api, w.keys.dev, w.run("GET /forecast/{city}", pathParams=city))
            assert r["status"] == 200, r
    assert len(up.seen) == 3
    assert all("cookie" not in seen["headers"] for seen in up.seen), up.seen
