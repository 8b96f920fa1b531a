"""What the boundary's per-request checks cost on the GraphQL path, in one run.

Every signed-in request is checked against the caller's current standing (an in-process cache
hit when nothing changed), and every operation against its static cost and its text inputs
(one cached walk of the document, then the variables). Over in-process ASGI (no sockets),
interleaved in rounds so drift hits both alike:

1. ``bypassed``: the same app with the standing check and the operation checks switched off:
   the baseline;
2. ``checked``: as shipped.

Two requests each: ``{ me { id name } }`` as a signed-in developer (the standing check), and
``threads(first: 50)`` with authors and categories, as a storefront caller with variables (the
operation checks on a list). Prints p50 / p95 and the ratios checked / bypassed.

Run: ``python bench/boundary.py`` (``--rounds`` for more samples).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from common import app_settings, pct, private_postgres, provision

from aforo import graphql_limits
from aforo.app import create_app
from aforo.runtime.postgres import EmbeddedPostgres

ME = "{ me { id name } }"
PW = "bench horse battery"
LIST = """query($n: Int, $q: String) { threads(first: $n, tag: $q) { edges { node { id title
  author { name } category { name } } } } }"""


@contextmanager
def bypassed(app: Any) -> Iterator[None]:
    auth = app.state.runtime.auth
    current, auth.current = auth.current, None
    checks = graphql_limits.OperationChecks.on_execute

    def no_checks(self: Any) -> Iterator[None]:
        yield

    graphql_limits.OperationChecks.on_execute = no_checks  # type: ignore[method-assign]
    try:
        yield
    finally:
        auth.current = current
        graphql_limits.OperationChecks.on_execute = checks  # type: ignore[method-assign]


async def main_async(args: argparse.Namespace, pg: EmbeddedPostgres, work: Path) -> None:
    settings = app_settings(pg, work)
    p = await provision(pg, slug="bench")
    app = create_app(settings)
    sf = {"X-Storefront-Key": p.storefront_key}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as c,
    ):
        signed = await c.post(
            "/graphql",
            json={
                "query": "mutation($i: SignUpInput!) { signUp(input: $i) { ... on AuthPayload"
                " { accessToken } } }",
                "variables": {
                    "i": {
                        "email": "b@bench.example",
                        "password": "bench horse battery",
                        "name": "B",
                    }
                },
            },
            headers=sf,
        )
        token = signed.json()["data"]["signUp"]["accessToken"]
        user = {**sf, "Authorization": f"Bearer {token}"}

        async def me() -> None:
            r = await c.post("/graphql", json={"query": ME}, headers=user)
            assert r.status_code == 200 and "errors" not in r.json(), r.text

        async def threads() -> None:
            body = {"query": LIST, "variables": {"n": 50, "q": None}}
            r = await c.post("/graphql", json=body, headers=sf)
            assert r.status_code == 200 and "errors" not in r.json(), r.text

        times: dict[str, list[float]] = {
            f"{req} {mode}": [] for req in ("me", "threads") for mode in ("bypassed", "checked")
        }
        for _ in range(args.warmup):
            await me()
            await threads()
        for _ in range(args.rounds):
            for mode in ("bypassed", "checked"):
                for req, fn in (("me", me), ("threads", threads)):
                    if mode == "bypassed":
                        with bypassed(app):
                            samples = [await _timed(fn) for _ in range(args.per_round)]
                    else:
                        samples = [await _timed(fn) for _ in range(args.per_round)]
                    times[f"{req} {mode}"] += samples
    print(f"cores {os.cpu_count()}")
    print(f"{'variant':<20}{'p50 ms':>9}{'p95 ms':>9}")
    for name, ms in times.items():
        print(f"{name:<20}{pct(ms, 0.5):>9.3f}{pct(ms, 0.95):>9.3f}")
    for req in ("me", "threads"):
        a, b = times[f"{req} checked"], times[f"{req} bypassed"]
        print(f"{req}: checked / bypassed p50 = {pct(a, 0.5) / pct(b, 0.5):.2f}x")


async def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    await fn()
    return (time.perf_counter() - t0) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--per-round", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=50)
    args = ap.parse_args()
    with private_postgres("aforo-bench-boundary-", fast_unsafe=True) as (pg, work):
        asyncio.run(main_async(args, pg, work))


if __name__ == "__main__":
    main()
