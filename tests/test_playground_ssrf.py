"""Server-side request forgery through try-it: every refused address class, DNS pointing
inside, redirects inside or off the API's servers, oversized and slow answers."""

from __future__ import annotations

import ipaddress
import uuid

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from aforo.models.playground import PlaygroundRun
from aforo.runtime import outbound
from aforo.services import playground_runs
from tests.support import Api
from tests.test_playground_support import limits, make_world, try_it, upstream

REFUSED = [
    "http://127.0.0.1:9",
    "http://10.1.2.3",
    "http://169.254.10.10",
    "http://169.254.169.254",
    "http://224.0.0.251",
    "http://[::ffff:10.0.0.1]",
    "http://localhost:9",  # a name resolving to loopback
    "http://api.weather.example",  # DNS answers 10.20.30.40, see below
]


async def test_each_refused_address_class_is_a_typed_error_and_is_recorded(
    strict: tuple[FastAPI, Api], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, api = strict  # the shipped operator policy: public unicast only
    real = outbound._resolve

    async def dns(host: str, port: int) -> list[outbound.IPAddress]:
        # The outside world's DNS, pointing a public-looking name inside.
        if host == "api.weather.example":
            return [ipaddress.ip_address("10.20.30.40")]
        return await real(host, port)

    monkeypatch.setattr(outbound, "_resolve", dns)
    w = await make_world(api, REFUSED)
    for server in REFUSED:
        r = await try_it(api, w.keys.dev, w.run("GET /big", server=server))
        assert r["code"] == "OUTBOUND_BLOCKED_ADDRESS", (server, r)
        # Never what a name resolved to: one answer for every refused class.
        assert r["message"].endswith(" is not a public address"), (server, r["message"])
        assert "10.20.30.40" not in r["message"] and "eyJ" not in r["message"]
    await playground_runs.flush(app.state.runtime)  # runs are recorded off the caller's path
    async with app.state.runtime.transaction(uuid.UUID(w.keys.tenant.id)) as s:
        runs = list(await s.scalars(select(PlaygroundRun)))
    assert {r.error_code for r in runs} == {"OUTBOUND_BLOCKED_ADDRESS"}
    assert len(runs) == len(REFUSED) and all(r.status is None for r in runs)


async def test_non_http_servers_are_never_called(api: Api) -> None:
    w = await make_world(api, ["ftp://files.example/pub", "file:///etc"])
    r = await try_it(api, w.keys.dev, w.run("GET /big"))
    assert (r["code"], r["field"]) == ("PLAYGROUND_NO_SERVER", "operationId")


async def test_redirects_oversized_and_slow_answers(api: Api, app: FastAPI) -> None:
    private = "http://10.1.2.3"
    with upstream() as (up, server):
        # The upstream (loopback) is open (operator policy); the private server is not.
        w = await make_world(api, [server.url, private])

        async def redirect(to: str) -> dict[str, object]:
            return await try_it(
                api, w.keys.dev, w.run("GET /redirect", query=[{"name": "to", "value": to}])
            )

        r = await redirect(f"{private}/latest/meta-data")  # one of the API's servers
        assert r["code"] == "OUTBOUND_BLOCKED_ADDRESS", r
        r = await redirect("http://169.254.169.254/latest/meta-data")  # not one of them
        assert r["code"] == "OUTBOUND_REDIRECT", r
        r = await redirect("http://93.184.216.34/")  # public, but not the API's
        assert r["code"] == "OUTBOUND_REDIRECT", r
        r = await redirect(f"{server.url}/forecast/oslo")  # on the same server: followed
        assert r["__typename"] == "PlaygroundResponse" and r["status"] == 200, r
        assert up.seen[-1]["path"] == "/forecast/oslo"
        assert up.seen[-1]["headers"]["authorization"].startswith("Bearer ")

        limits(app, max_bytes=1024 * 1024)
        r = await try_it(api, w.keys.dev, w.run("GET /big"))  # 2 MiB
        assert r["code"] == "OUTBOUND_TOO_LARGE", r

        limits(app, timeout_s=0.3)
        r = await try_it(api, w.keys.dev, w.run("GET /slow"))
        assert r["code"] == "OUTBOUND_TIMEOUT", r
