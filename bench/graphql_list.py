"""A GraphQL list of 100 items with nested fields against the same data from a hand-written
Starlette JSON endpoint and from plain graphql-core, and the smallest GraphQL query against a
bare FastAPI endpoint, in one run.

Seeds a private PostgreSQL cluster with one tenant's forum (threads, authors, categories), then
asks, interleaved in rounds so drift hits all alike, over in-process ASGI (no sockets), every
answer uncompressed (the hand-written endpoints do not compress) and parsed once:

1. ``starlette``: one SQL query joining threads, authors and categories (tenant-bound, under
   row-level security like the app), rows turned into JSON by hand: the baseline;
2. ``graphql-core``: the same SQL, its rows executed by plain graphql-core (the schema built
   from ``schema.graphql``, default resolvers, the document parsed once), then JSON: the
   executor floor;
3. ``graphql``: ``threads(first: 100)`` with ``author`` and ``category`` resolved by the
   schema's dataloaders, through the whole app (storefront-key auth, parsing, validation,
   permissions, serialisation);
4. ``tenant-fastapi`` / ``tenant-graphql``: ``{ tenant { name } }`` with a storefront key
   against a bare FastAPI endpoint running the same SQL (``services.tenants.current_tenant``
   in a tenant-bound transaction).

Checks the variants return the same 100 threads, counts the SQL statements of one GraphQL
request (a constant, not 100+), and prints p50 / p95 per variant and the ratios.

Run: ``python bench/graphql_list.py`` (``--rounds`` for more samples).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from common import app_settings, owner_connection, pct, private_postgres, provision, seed_people
from fastapi import FastAPI
from graphql import build_schema, execute_sync, parse
from sqlalchemy import event, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aforo.app import create_app
from aforo.config import Settings
from aforo.db import create_engine, sessionmaker, tenant_session
from aforo.runtime.postgres import EmbeddedPostgres
from aforo.services import tenants

ROOT = Path(__file__).resolve().parent.parent
SMALL = "{ tenant { name } }"

QUERY = """{ threads(first: 100) { edges { node {
  id title status pinned tags score replyCount viewCount createdAt lastActivityAt
  author { id name } category { id name slug } } } } }"""

SQL = text(
    """select t.id, t.title, t.status, t.pinned, t.tags, t.score, t.reply_count,
              t.view_count, t.created_at, t.last_activity_at,
              u.id as author_id, u.name as author_name,
              c.id as category_id, c.name as category_name, c.slug as category_slug
         from community_threads t
         join users u on u.tenant_id = t.tenant_id and u.id = t.author_id
         join community_categories c on c.tenant_id = t.tenant_id and c.id = t.category_id
        where t.deleted_at is null
        order by t.pinned desc, t.last_activity_at desc, t.id desc
        limit 100"""
)


async def seed(pg: EmbeddedPostgres, tenant_id: uuid.UUID, n_threads: int) -> None:
    conn = await owner_connection(pg)
    try:
        users, cats = await seed_people(conn, tenant_id, 50, 8)
        start = datetime.now(UTC) - timedelta(days=30)
        recs = []
        for i in range(n_threads):
            at = start + timedelta(minutes=i)
            body = f"Body of thread {i} with a few words of text."
            recs.append(
                (
                    tenant_id,
                    uuid.uuid4(),
                    cats[i % len(cats)],
                    users[i % len(users)],
                    f"Question number {i} about the API",
                    body,
                    f"<p>{body}</p>",
                    ["api", f"tag{i % 7}"],
                    i % 13,
                    at,
                    at,
                )
            )
        await conn.copy_records_to_table(
            "community_threads",
            records=recs,
            columns=[
                "tenant_id",
                "id",
                "category_id",
                "author_id",
                "title",
                "body",
                "body_html",
                "tags",
                "reply_count",
                "created_at",
                "last_activity_at",
            ],
        )
        await conn.execute("vacuum (analyze) community_threads, users, community_categories")
    finally:
        await conn.close()


def _iso(d: datetime) -> str:
    return d.isoformat()


def _nodes(rows: Any) -> list[dict[str, Any]]:
    return [
        {
            "node": {
                "id": str(r.id),
                "title": r.title,
                "status": r.status.upper() if isinstance(r.status, str) else str(r.status),
                "pinned": r.pinned,
                "tags": list(r.tags),
                "score": r.score,
                "replyCount": r.reply_count,
                "viewCount": r.view_count,
                "createdAt": _iso(r.created_at),
                "lastActivityAt": _iso(r.last_activity_at),
                "author": {"id": str(r.author_id), "name": r.author_name},
                "category": {
                    "id": str(r.category_id),
                    "name": r.category_name,
                    "slug": r.category_slug,
                },
            }
        }
        for r in rows
    ]


def baseline_app(settings: Settings, tenant_id: uuid.UUID) -> tuple[Starlette, Any]:
    """The hand-written endpoint, and the same rows through plain graphql-core: same pool
    size as the app, same RLS-bound transaction."""
    engine = create_engine(settings.database_url or "", pool_size=settings.db_pool_size)
    maker = sessionmaker(engine)
    core_schema = build_schema((ROOT / "schema.graphql").read_text())
    document = parse(QUERY)

    async def threads(_: Request) -> Response:
        async with tenant_session(maker, tenant_id) as s:
            rows = (await s.execute(SQL)).all()
        edges = _nodes(rows)
        body = json.dumps({"data": {"threads": {"edges": edges}}}, separators=(",", ":"))
        return Response(body, media_type="application/json")

    async def threads_core(_: Request) -> Response:
        async with tenant_session(maker, tenant_id) as s:
            rows = (await s.execute(SQL)).all()
        result = execute_sync(core_schema, document, {"threads": {"edges": _nodes(rows)}})
        assert not result.errors, result.errors
        body = json.dumps({"data": result.data}, separators=(",", ":"))
        return Response(body, media_type="application/json")

    routes = [Route("/threads", threads), Route("/threads-core", threads_core)]
    return Starlette(routes=routes), engine


def small_app(settings: Settings, tenant_id: uuid.UUID) -> tuple[FastAPI, Any]:
    """A bare FastAPI endpoint running the SQL of ``{ tenant { name } }``."""
    engine = create_engine(settings.database_url or "", pool_size=settings.db_pool_size)
    maker = sessionmaker(engine)
    app = FastAPI()

    @app.get("/tenant")
    async def tenant() -> dict[str, Any]:
        async with tenant_session(maker, tenant_id) as s:
            t = await tenants.current_tenant(s)
        return {"data": {"tenant": {"name": t.name}}}

    return app, engine


async def main_async(args: argparse.Namespace, pg: EmbeddedPostgres, work: Path) -> None:
    settings = app_settings(pg, work)
    p = await provision(pg, slug="bench")
    tenant_id, storefront = p.tenant.id, p.storefront_key
    await seed(pg, tenant_id, args.threads)

    app = create_app(settings)
    base, base_engine = baseline_app(settings, tenant_id)
    bare, bare_engine = small_app(settings, tenant_id)
    headers = {"X-Storefront-Key": storefront}
    # Uncompressed answers from every variant: the app compresses what a client accepts
    # (brotli, ~0.4 ms for this 46 KB page), the hand-written endpoints do not; like for like.
    plain = {"Accept-Encoding": "identity"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://c", headers=plain
        ) as gql,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=base), base_url="http://b", headers=plain
        ) as raw,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=bare), base_url="http://f", headers=plain
        ) as fa,
    ):

        async def graphql() -> Any:
            r = await gql.post("/graphql", json={"query": QUERY}, headers=headers)
            body = r.json()  # parsed once, as every variant's answer is
            assert r.status_code == 200 and "errors" not in body, r.text[:500]
            return body

        async def starlette() -> Any:
            r = await raw.get("/threads")
            assert r.status_code == 200
            return r.json()

        async def core() -> Any:
            r = await raw.get("/threads-core")
            assert r.status_code == 200
            return r.json()

        async def tenant_graphql() -> Any:
            r = await gql.post("/graphql", json={"query": SMALL}, headers=headers)
            assert r.status_code == 200 and r.json()["data"]["tenant"]["name"], r.text
            return r.json()

        async def tenant_fastapi() -> Any:
            r = await fa.get("/tenant")
            assert r.status_code == 200
            return r.json()

        a, b, c = await graphql(), await starlette(), await core()
        assert a == c, "graphql-core answers differently from the app"
        ids_a = [e["node"]["id"] for e in a["data"]["threads"]["edges"]]
        ids_b = [e["node"]["id"] for e in b["data"]["threads"]["edges"]]
        assert len(ids_a) == 100 and set(ids_a) == set(ids_b), "not the same 100 threads"
        names_a = {e["node"]["author"]["name"] for e in a["data"]["threads"]["edges"]}
        assert names_a == {e["node"]["author"]["name"] for e in b["data"]["threads"]["edges"]}
        assert await tenant_graphql() == await tenant_fastapi()

        seen: list[str] = []
        sync_engine = app.state.runtime.maker.kw["bind"].sync_engine

        def hook(*a: Any) -> None:
            seen.append(a[2])

        event.listen(sync_engine, "before_cursor_execute", hook)
        await graphql()
        event.remove(sync_engine, "before_cursor_execute", hook)

        variants = {
            "starlette": starlette,
            "graphql-core": core,
            "graphql": graphql,
            "tenant-fastapi": tenant_fastapi,
            "tenant-graphql": tenant_graphql,
        }
        for _ in range(args.warmup):
            for fn in variants.values():
                await fn()
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, fn in variants.items():
                for _ in range(args.per_round):
                    t0 = time.perf_counter()
                    await fn()
                    times[name].append((time.perf_counter() - t0) * 1000)
    await base_engine.dispose()
    await bare_engine.dispose()

    size = len(json.dumps(a))
    print(f"cores {os.cpu_count()}, 100 threads with author and category, {size // 1024} KiB")
    print(f"SQL statements per GraphQL request: {len(seen)} (the tenant binding included)")
    print(f"{'variant':<16}{'p50 ms':>9}{'p95 ms':>9}{'req/s':>9}")
    for name, ms in times.items():
        print(
            f"{name:<16}{pct(ms, 0.5):>9.2f}{pct(ms, 0.95):>9.2f}{1000 / statistics.mean(ms):>9.0f}"
        )
    g, s, c = times["graphql"], times["starlette"], times["graphql-core"]
    print(f"graphql / starlette p50 = {pct(g, 0.5) / pct(s, 0.5):.2f}x (aim <= 2)")
    print(f"graphql / starlette p95 = {pct(g, 0.95) / pct(s, 0.95):.2f}x (aim <= 3)")
    print(f"graphql / graphql-core p50 = {pct(g, 0.5) / pct(c, 0.5):.2f}x (aim <= 1.2)")
    tg, tf = times["tenant-graphql"], times["tenant-fastapi"]
    rate = statistics.mean(tf) / statistics.mean(tg)
    print(f"tenant graphql / fastapi req/s = {rate:.2f}x (aim >= 0.5)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1000, help="threads seeded (100 listed)")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--per-round", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=20)
    args = ap.parse_args()
    with private_postgres() as (pg, work):
        asyncio.run(main_async(args, pg, work))
    sys.exit(0)


if __name__ == "__main__":
    main()
