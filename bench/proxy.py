"""Try-it proxy overhead: a try-it run against a direct httpx call to the same upstream.

Starts a private PostgreSQL (the project's launcher, in a temp dir), the service in-process
(embedded defaults: in-process cache and bus), the same service served by uvicorn in its own
process (its try-it rate limit raised through AFORO_PLAYGROUND_RATE_PER_MINUTE), and a small
upstream under uvicorn in its own process. Then, sequentially and interleaved in rounds (so
drift hits every variant alike):

1. ``direct``: one pooled ``httpx.AsyncClient`` GET to the upstream over TCP (the baseline);
2. ``exchange``: the proxy's HTTP path alone - ``Guard.exchange`` over the playground's pooled
   clients (URL vetting, address pinning, phase timing, size cap), no database;
3. ``service``: a whole try-it run in-process - prepare (rate check, the reused token checked
   through the key verifier's cache, the target and the key's team rights read in one short
   transaction), the exchange; the run's
   record and usage event are written in the background;
4. ``floor``: what any served try-it costs before it does anything of its own - a
   hand-written Starlette endpoint under uvicorn (its own process, as the service) that reads
   one row with asyncpg and makes the same upstream call with a pooled ``httpx.AsyncClient``;
   no credential, no GraphQL, no key check, no record;
5. ``graphql``: the ``tryOperation`` mutation over TCP to the served instance, with a pooled
   client (HTTP, GraphQL parsing, auth, the run, redaction, serialisation).

Prints median and p99 per variant, and the median/p99 added over ``direct`` (aim: the
GraphQL path adds <= 1.5 ms median), and what the GraphQL path adds over ``floor``.

Run: ``python bench/proxy.py`` (``--requests 2000`` for more samples).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from sqlalchemy import make_url

from aforo.app import create_app
from aforo.runtime.postgres import APP_ROLE, EmbeddedPostgres, free_port
from aforo.services import playground_runs
from aforo.services.playground import TryInput
from aforo.tenancy.context import PrincipalKind, TenantContext

# The world (tenant, plan, key, spec) is built with the test suite's factories.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import app_settings, pct, private_postgres, server_env
from tests.support import Api
from tests.test_playground_support import TRY, make_world

UPSTREAM_APP = """
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

BODY = b'{"city":"oslo","forecast":[{"day":1,"high":4,"low":-2},{"day":2,"high":6,"low":0}]}'


async def forecast(request):
    return Response(BODY, media_type="application/json")


app = Starlette(routes=[Route("/forecast/{city}", forecast)])
"""


FLOOR_APP = """
import contextlib, json, os

import asyncpg
import httpx
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

state = {}


@contextlib.asynccontextmanager
async def lifespan(app):
    state["db"] = await asyncpg.connect(os.environ["FLOOR_DSN"])
    async with httpx.AsyncClient() as client:
        state["http"] = client
        yield
    await state["db"].close()


async def run(request):
    given = await request.json()
    await state["db"].fetchrow("select $1::text as operation", given["operationId"])
    r = await state["http"].get(os.environ["FLOOR_UPSTREAM"], headers={"Authorization": "Bearer x"})
    body = {"status": r.status_code, "headers": list(r.headers.items()), "body": r.text}
    return Response(json.dumps(body), media_type="application/json")


app = Starlette(routes=[Route("/run", run, methods=["POST"])], lifespan=lifespan)
"""


def serve_module(
    work: Path, name: str, source: str, port: int, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    (work / f"{name}.py").write_text(source)
    args = ["--app-dir", str(work), f"{name}:app", "--port", str(port)]
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *args, "--log-level", "warning", "--no-access-log"],
        env={**os.environ, **(env or {})},
    )


def serve_upstream(work: Path, port: int) -> subprocess.Popen[bytes]:
    return serve_module(work, "upstream", UPSTREAM_APP, port)


def summary(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)
    return statistics.median(s) * 1000, pct(s, 0.99) * 1000


def serve_console(pg: EmbeddedPostgres, work: Path, port: int) -> subprocess.Popen[bytes]:
    """The service under uvicorn, on the bench's database and signing keys."""
    env = {
        **os.environ,
        **server_env(pg, work / "home"),
        "AFORO_JWT_KEYS_DIR": str(work / "jwt"),
        "AFORO_PLAYGROUND_RATE_PER_MINUTE": str(10**9),
        "AFORO_SPEC_SYNC_INTERVAL": "0",
    }
    args = ["--factory", "aforo.app:create_app", "--port", str(port), "--log-level", "warning"]
    return subprocess.Popen([sys.executable, "-m", "uvicorn", *args], env=env)


async def main_async(args: argparse.Namespace, pg: EmbeddedPostgres, work: Path) -> None:
    port, console_port, floor_port = free_port(), free_port(), free_port()
    upstream = serve_upstream(work, port)
    floor = serve_module(
        work,
        "floor",
        FLOOR_APP,
        floor_port,
        {
            "FLOOR_DSN": make_url(pg.url(APP_ROLE, "aforo"))
            .set(drivername="postgresql")
            .render_as_string(hide_password=False),
            "FLOOR_UPSTREAM": f"http://127.0.0.1:{port}/forecast/oslo",
        },
    )
    settings = app_settings(pg, work, spec_sync_interval_s=0)
    app = create_app(settings)
    served: subprocess.Popen[bytes] | None = None
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://console"
            ) as console,
            httpx.AsyncClient() as direct_client,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{console_port}") as over_tcp,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{floor_port}") as floor_client,
        ):
            for _ in range(200):
                try:
                    await direct_client.get(f"http://127.0.0.1:{port}/forecast/oslo")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            api = Api(console, settings)
            upstream_url = f"http://127.0.0.1:{port}"
            w = await make_world(api, [upstream_url])
            rt = app.state.runtime
            ex = playground_runs.executor(rt)
            ex.limits = playground_runs.Limits(per_minute=10**9)
            caller = TenantContext(
                uuid.UUID(w.keys.tenant.id), PrincipalKind.USER, user_id=uuid.UUID(w.keys.dev_id)
            )
            gql_input = w.run(
                "GET /forecast/{city}", pathParams=[{"name": "city", "value": "oslo"}]
            )
            svc_input = TryInput(
                operation_id=uuid.UUID(gql_input["operationId"]),
                key_id=uuid.UUID(w.keys.key_id),
                path_params=[("city", "oslo")],
            )
            prepared = await playground_runs.prepare(rt, caller, svc_input)
            target = f"{upstream_url}/forecast/oslo"
            served = serve_console(pg, work, console_port)  # the keys exist: the app made them
            for _ in range(600):
                try:
                    if (await over_tcp.get("/readyz")).status_code == 200:
                        await floor_client.get("/")  # (a 404 once it listens)
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)

            async def direct() -> None:
                r = await direct_client.get(target, headers={"Authorization": "Bearer x"})
                assert r.status_code == 200

            async def exchange() -> None:
                out = await prepared.guard.exchange(
                    ex.pool, "GET", prepared.url, headers=prepared.headers
                )
                assert out.response.status == 200

            async def service() -> None:
                out = await playground_runs.try_operation(rt, caller, svc_input)
                assert out.result is not None and out.result.status == 200

            async def floor_run() -> None:
                r = await floor_client.post("/run", json=gql_input)
                assert r.json()["status"] == 200, r.text

            async def graphql() -> None:
                r = await over_tcp.post(
                    "/graphql",
                    json={"query": TRY, "variables": {"i": gql_input}},
                    headers={"Authorization": f"Bearer {w.keys.dev}"},
                )
                assert r.json()["data"]["tryOperation"]["status"] == 200, r.text

            variants: dict[str, Callable[[], Awaitable[None]]] = {
                "direct": direct,
                "exchange": exchange,
                "service": service,
                "floor": floor_run,
                "graphql": graphql,
            }
            samples: dict[str, list[float]] = {k: [] for k in variants}
            for fn in variants.values():  # warm-up: pools, caches, JIT-free but lazy imports
                for _ in range(30):
                    await fn()
            rounds = 10
            per_round = max(1, args.requests // rounds)
            for _ in range(rounds):
                for name, fn in variants.items():
                    for _ in range(per_round):
                        t = time.perf_counter()
                        await fn()
                        samples[name].append(time.perf_counter() - t)
    finally:
        for proc in (served, floor, upstream):
            if proc is not None:
                proc.terminate()
                proc.wait(10)

    base_med, base_p99 = summary(samples["direct"])
    print(f"{'variant':<10} {'median ms':>10} {'p99 ms':>10} {'+median':>10} {'+p99':>10}")
    for name in samples:
        med, p99 = summary(samples[name])
        print(
            f"{name:<10} {med:>10.3f} {p99:>10.3f} {med - base_med:>10.3f} {p99 - base_p99:>10.3f}"
        )
    svc_med, _ = summary(samples["service"])
    gql_med, _ = summary(samples["graphql"])
    floor_med, _ = summary(samples["floor"])
    print(
        f"\nadded median: service {svc_med - base_med:.2f} ms, graphql {gql_med - base_med:.2f} ms"
        f" (aim: graphql <= 1.5 ms); {len(samples['direct'])} requests per variant"
        f"\nthe served floor adds {floor_med - base_med:.2f} ms; graphql adds"
        f" {gql_med - floor_med:.2f} ms over it (the aim leaves"
        f" {1.5 - (floor_med - base_med):.2f} ms for credentials, GraphQL, checks and records)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--requests", type=int, default=1000)
    args = ap.parse_args()
    with private_postgres() as (pg, work):
        asyncio.run(main_async(args, pg, work))


if __name__ == "__main__":
    main()
