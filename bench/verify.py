"""Key verification throughput and latency, against a bare endpoint measured in the same run.

Starts a private PostgreSQL (the project's launcher, in a temp dir), the real service under
uvicorn (embedded defaults: in-process cache and bus; ``--redis`` to put a redis-server
behind it) and a bare uvicorn endpoint returning a constant JSON. Then loads, one after the
other with the same client settings:

1. the bare endpoint (the baseline);
2. ``POST /v1/keys/verify`` with one valid key: cache hits (L1);
3. ``POST /v1/keys/verify`` with a different well-formed key on every request: cache misses,
   each a database lookup (``ops.api_key_state``) and a cache write.

Prints req/s, p50 and p99 for each and the ratios to the bare endpoint (aims: a cache hit at
>= 85 % of the bare req/s with p99 <= 2 ms at 32 connections, a miss at >= 35 %). Uses wrk
when installed (``apt-get install wrk``), an httpx async load generator otherwise (which
measures the client as much as the server: prefer wrk).

Run: ``python bench/verify.py`` (``--seconds 5`` for a quick one).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from common import pct, private_postgres, provision, server_env

from aforo.runtime.postgres import EmbeddedPostgres, free_port
from aforo.services import tenants
from aforo.services.api_keys import new_key_secret

BARE_APP = """
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

BODY = b'{"valid":true,"code":"VALID"}'


async def bare(request):
    await request.body()
    return Response(BODY, media_type="application/json")


app = Starlette(routes=[Route("/v1/keys/verify", bare, methods=["POST"])])
"""

WRK_SCRIPT = """
local keys = {}
local idx, step = 0, 1
local gateway = os.getenv("BENCH_GATEWAY")
local keyfile = os.getenv("BENCH_KEYS")
local fixed = os.getenv("BENCH_KEY")
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads - 1)
end
function init(args)
  if keyfile ~= nil and keyfile ~= "" then
    for line in io.lines(keyfile) do keys[#keys + 1] = line end
  end
  idx = tid or 0
  step = tonumber(os.getenv("BENCH_THREADS"))
end
function request()
  local key = fixed
  if #keys > 0 then
    idx = idx + step
    key = keys[(idx % #keys) + 1]
  end
  return wrk.format("POST", "/v1/keys/verify", {
    ["Authorization"] = "Bearer " .. gateway,
    ["Content-Type"] = "application/json",
  }, '{"key":"' .. key .. '"}')
end
"""


def serve(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            *args,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env={**os.environ, **env},
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"uvicorn on {port} did not start")


def gql(url: str, query: str, variables: dict[str, Any], **headers: str) -> dict[str, Any]:
    r = httpx.post(
        f"{url}/graphql", json={"query": query, "variables": variables}, headers=headers, timeout=30
    )
    body: dict[str, Any] = r.json()
    assert not body.get("errors"), body
    return body["data"]  # type: ignore[no-any-return]


def setup_world(pg: EmbeddedPostgres, url: str) -> tuple[str, str, tenants.ProvisionedTenant]:
    """A tenant ("Bench"), a plan, a subscribed developer with a key, a gateway token: the
    key, the gateway token and the tenant (its storefront key)."""

    p = asyncio.run(provision(pg, slug="bench"))
    sf = {"X-Storefront-Key": p.storefront_key}
    login = gql(
        url,
        "mutation($i: LogInInput!) { logIn(input: $i) { ... on AuthPayload { accessToken } } }",
        {"i": {"email": p.admin_email, "password": p.admin_password}},
        **sf,
    )
    admin = {"Authorization": f"Bearer {login['logIn']['accessToken']}"}
    product = gql(
        url,
        'mutation { createProduct(input: {name: "API", slug: "api"}) { ... on Product { id } } }',
        {},
        **admin,
    )["createProduct"]["id"]
    plan = gql(
        url,
        'mutation($p: ID!) { createPlan(input: {productId: $p, name: "S", '
        'slug: "s", priceCents: 0, currency: "USD", interval: MONTH}) '
        "{ ... on Plan { id } } }",
        {"p": product},
        **admin,
    )["createPlan"]["id"]
    # The bench developer's mailbox is not read: the tenant lets unverified accounts work.
    gql(
        url,
        "mutation { updateAccountSettings(input: {unverifiedAccess: FULL}) { __typename } }",
        {},
        **admin,
    )
    gql(
        url,
        'mutation { signUp(input: {email: "d@bench.example", password: '
        '"correct horse battery", name: "D"}) { __typename } }',
        {},
        **sf,
    )
    dev = gql(
        url,
        "mutation($i: LogInInput!) { logIn(input: $i) { ... on AuthPayload { accessToken } } }",
        {"i": {"email": "d@bench.example", "password": "correct horse battery"}},
        **sf,
    )["logIn"]["accessToken"]
    dev_h = {"Authorization": f"Bearer {dev}"}
    sub = gql(
        url,
        "mutation($p: ID!) { subscribe(planId: $p) { ... on Subscription { id } } }",
        {"p": plan},
        **dev_h,
    )["subscribe"]["id"]
    key = gql(
        url,
        'mutation($s: ID!) { createApiKey(input: {subscriptionId: $s, name: "b"}) '
        "{ ... on ApiKeyCreated { secret } } }",
        {"s": sub},
        **dev_h,
    )["createApiKey"]
    gateway = gql(
        url,
        'mutation { createGatewayToken(name: "bench") { ... on GatewayTokenCreated { secret } } }',
        {},
        **admin,
    )
    return key["secret"], gateway["createGatewayToken"]["secret"], p


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(
    url: str, env: dict[str, str], seconds: int, conns: int, threads: int, script: Path
) -> tuple[float, float, float]:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env, "BENCH_THREADS": str(threads)},
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    assert p50 and p99, out
    if re.search(r"Non-2xx or 3xx responses: (\d+)", out) and "miss" not in env.get(
        "BENCH_MODE", ""
    ):
        print("  warning: non-2xx responses\n" + out)
    return rps, _ms(*p50.groups()), _ms(*p99.groups())


async def _httpx_load(
    url: str, bodies: list[bytes], headers: dict[str, str], seconds: int, conns: int
) -> tuple[float, float, float]:
    latencies: list[float] = []
    stop = time.monotonic() + seconds
    counter = iter(range(10**12))
    limits = httpx.Limits(max_connections=conns, max_keepalive_connections=conns)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:

        async def worker() -> None:
            while time.monotonic() < stop:
                body = bodies[next(counter) % len(bodies)]
                t = time.perf_counter()
                await client.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - t)

        start = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(conns)))
        elapsed = time.monotonic() - start
    return len(latencies) / elapsed, pct(latencies, 0.5) * 1000, pct(latencies, 0.99) * 1000


def measure(args: argparse.Namespace, pg: EmbeddedPostgres, work: Path) -> None:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        env = server_env(pg, work / "home")
        if args.redis:
            rport = free_port()
            procs.append(
                subprocess.Popen(
                    [
                        shutil.which("redis-server") or "redis-server",
                        "--port",
                        str(rport),
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                    ],
                    stdout=subprocess.DEVNULL,
                )
            )
            env["AFORO_REDIS_URL"] = f"redis://127.0.0.1:{rport}/0"
        sport, bport = free_port(), free_port()
        procs.append(serve(["--factory", "aforo.app:create_app"], env, sport))
        (work / "bare.py").write_text(BARE_APP)
        procs.append(serve(["--app-dir", str(work), "bare:app"], {}, bport))
        service, bare = f"http://127.0.0.1:{sport}", f"http://127.0.0.1:{bport}"
        key, gateway, _ = setup_world(pg, service)

        n_miss = 400_000
        keyfile = work / "keys.txt"
        keyfile.write_text("\n".join(new_key_secret() for _ in range(n_miss)) + "\n")
        check = httpx.post(
            f"{service}/v1/keys/verify",
            json={"key": key},
            headers={"Authorization": f"Bearer {gateway}"},
        )
        assert check.json()["code"] == "VALID", check.text

        runs: dict[str, tuple[float, float, float]] = {}
        if shutil.which("wrk"):
            tool = "wrk"
            script = work / "verify.lua"
            script.write_text(WRK_SCRIPT)
            base = {"BENCH_GATEWAY": gateway}
            plan = [
                ("bare endpoint", bare, {**base, "BENCH_KEY": key}),
                ("verify, cache hit", service, {**base, "BENCH_KEY": key}),
                (
                    "verify, cache miss",
                    service,
                    {**base, "BENCH_KEYS": str(keyfile), "BENCH_MODE": "miss"},
                ),
            ]
            for name, url, e in plan:
                runs[name] = run_wrk(url, e, args.seconds, args.connections, 2, script)
        else:
            tool = "httpx"
            h = {"Authorization": f"Bearer {gateway}", "Content-Type": "application/json"}
            hit = [json.dumps({"key": key}).encode()]
            miss = [json.dumps({"key": k}).encode() for k in keyfile.read_text().split()[:50_000]]
            for name, url, bodies in [
                ("bare endpoint", bare, hit),
                ("verify, cache hit", service, hit),
                ("verify, cache miss", service, miss),
            ]:
                runs[name] = asyncio.run(
                    _httpx_load(f"{url}/v1/keys/verify", bodies, h, args.seconds, args.connections)
                )
        rps0 = runs["bare endpoint"][0]
        print(
            f"\nload: {tool}, {args.connections} connections, {args.seconds}s each; "
            f"cache: {'redis + L1' if args.redis else 'in-process L1'}; {os.cpu_count()} CPUs"
        )
        print(f"{'':22}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'vs bare':>9}")
        for name, (rps, p50, p99) in runs.items():
            print(f"{name:22}{rps:>10.0f}{p50:>9.2f}{p99:>9.2f}{rps / rps0:>8.0%}")
        hit_ratio = runs["verify, cache hit"][0] / rps0
        miss_ratio = runs["verify, cache miss"][0] / rps0
        print(
            f"\ncache hit at {hit_ratio:.0%} of the bare endpoint (aim >= 85%), p99 "
            f"{runs['verify, cache hit'][2]:.2f} ms (aim <= 2 ms); miss at {miss_ratio:.0%} "
            "(aim >= 35%)"
        )
    finally:
        for p in reversed(procs):  # the service before the redis-server it uses
            p.terminate()
            p.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--redis", action="store_true", help="run a redis-server behind the service")
    args = ap.parse_args()

    with private_postgres() as (pg, work):
        measure(args, pg, work)


if __name__ == "__main__":
    main()
