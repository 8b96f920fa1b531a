"""One worker against two: ``aforo serve --workers N`` under wrk, in one run.

Starts a private PostgreSQL (the project's launcher, in a temp dir) and seeds a tenant with a
forum page of threads, a subscribed key and a gateway token. Then, for N = 1 and N = 2, serves
the app with ``aforo serve --workers N`` (one socket bound by the parent; without Redis the
workers share PostgreSQL's bus and cache) and loads it with wrk, one benchmark after the other:

* ``graphql``: ``{ tenant { name } }`` with a storefront key (one small SQL statement);
* ``graphql-list``: ``threads(first: 20)`` with authors and categories (four statements);
* ``verify``: ``POST /v1/keys/verify`` with one key (cache hits).

Prints req/s per N and the ratio two workers / one (aim: >= 1.7 on 2 cores). wrk itself and
PostgreSQL share the cores with the workers, so the ratio is what a small machine gets.

Run: ``python bench/workers.py`` (``--seconds`` per load, ``--connections``).
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

import httpx
from common import private_postgres, server_env
from graphql_list import seed
from verify import setup_world

from aforo.runtime.postgres import EmbeddedPostgres, free_port

LIST = """{ threads(first: 20) { edges { node { id title status replyCount createdAt
  author { id name } category { id name } } } } }"""

WRK_POST = """
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
local h = os.getenv("BENCH_HEADER")
if h ~= nil and h ~= "" then
  local name, value = h:match("^([^:]+):%s*(.*)$")
  wrk.headers[name] = value
end
"""


def serve(env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "aforo", "serve", "--port", str(port), "--workers", str(workers)],
        env={**os.environ, **env, "AFORO_SPEC_SYNC_INTERVAL": "0"},
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                time.sleep(2)  # every worker up, not just the first to answer
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("aforo serve did not start")


def run_wrk(url: str, script: Path, env: dict[str, str], seconds: int, conns: int) -> float:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    ).stdout
    if "Non-2xx" in out:
        print("  warning: non-2xx responses\n" + out)
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert found, out
    return float(found[1])


def measure(args: argparse.Namespace, pg: EmbeddedPostgres, work: Path) -> None:
    env = server_env(pg, work / "home")
    script = work / "post.lua"
    script.write_text(WRK_POST)
    port = free_port()
    proc = serve(env, port, 1)
    try:
        key, gateway, tenant = setup_world(pg, f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        proc.wait(30)
    asyncio.run(seed(pg, tenant.tenant.id, 200))
    storefront = f"X-Storefront-Key: {tenant.storefront_key}"
    loads = {
        "graphql": ("/graphql", {"query": "{ tenant { name } }"}, storefront),
        "graphql-list": ("/graphql", {"query": LIST}, storefront),
        "verify": ("/v1/keys/verify", {"key": key}, f"Authorization: Bearer {gateway}"),
    }
    rates: dict[str, dict[int, float]] = {name: {} for name in loads}
    for n in (1, 2):
        proc = serve(env, port, n)
        try:
            for name, (path, body, header) in loads.items():
                url = f"http://127.0.0.1:{port}{path}"
                wrk_env = {"BENCH_BODY": json.dumps(body), "BENCH_HEADER": header}
                run_wrk(url, script, wrk_env, 1, args.connections)  # warm every worker
                rates[name][n] = run_wrk(url, script, wrk_env, args.seconds, args.connections)
        finally:
            proc.terminate()
            proc.wait(30)
    print(f"\nload: wrk -t2 -c{args.connections}, {args.seconds}s each; {os.cpu_count()} CPUs")
    print(f"{'':16}{'1 worker':>12}{'2 workers':>12}{'ratio':>8}")
    for name, r in rates.items():
        print(f"{name:16}{r[1]:>12.0f}{r[2]:>12.0f}{r[2] / r[1]:>7.2f}x")
    print("aim: 2 workers >= 1.7x one worker")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--connections", type=int, default=32)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed (apt-get install wrk)")
    with private_postgres() as (pg, work):
        measure(args, pg, work)


if __name__ == "__main__":
    main()
