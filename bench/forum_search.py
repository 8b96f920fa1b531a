"""Forum search on a large forum: 1,000,000 replies across 100,000 threads.

Seeds a private PostgreSQL cluster with COPY, then measures p50 / p95 of two-word searches and
of ``similarThreads``, through GraphQL (the ASGI app over httpx) and as raw SQL in the same run,
and prints the ratios against in-run baselines:

* GraphQL / raw SQL: what the API layer adds on top of the query;
* ranking every match (no candidate cap) / ours: what the cap saves on common words;
* without LEAKPROOF on ``@@`` / ours: the sequential scans row-level security forces otherwise.

Run: ``python bench/forum_search.py`` (several minutes; ``--threads/--replies`` to shrink it).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from common import app_settings, owner_connection, provision, seed_people, workdir
from sqlalchemy import text

from aforo import migrate
from aforo.app import create_app
from aforo.db import create_engine, sessionmaker, tenant_session
from aforo.runtime.postgres import OWNER_ROLE, EmbeddedPostgres
from aforo.services import forum_search, tenants

BATCH = 50_000
GIN_INDEXES = {
    "ix_community_threads_search": "community_threads using gin (search) where deleted_at is null",
    "ix_community_threads_title_search": (
        "community_threads using gin (title_search) where deleted_at is null"
    ),
    "ix_community_replies_search": "community_replies using gin (search) where deleted_at is null",
}
SEARCH_GQL = """query($q: String!) { searchForum(query: $q, first: 10) {
  rank titleMatch titleHtml snippet thread { id title replyCount } reply { id } } }"""
SIMILAR_GQL = """query($t: String!, $b: String) { similarThreads(title: $t, body: $b) {
  id title replyCount } }"""
# Ranks every match, no cap and no title-first lookup: the straightforward query.
UNCAPPED = text(
    """
    with q as (select websearch_to_tsquery('english', :q) as q)
    select id, rank from (
      select t.id, ts_rank_cd(t.search, q.q, 1) as rank from community_threads t, q
       where t.deleted_at is null and t.search @@ q.q
      union all
      select r.thread_id, ts_rank_cd(r.search, q.q, 1) from community_replies r, q
       where r.deleted_at is null and r.search @@ q.q) m
    order by rank desc limit 10
    """
)


# -- synthetic text: a Zipf-distributed vocabulary, like natural language ---------------------
def vocabulary(n: int, rng: random.Random) -> list[str]:
    consonants, vowels = "bcdfghjklmnprstvwxz", "aeiouy"
    words: set[str] = set()
    while len(words) < n:
        word = "".join(
            rng.choice(consonants) + rng.choice(vowels) for _ in range(rng.randint(2, 4))
        )
        words.add(word + rng.choice(["", "", "n", "r", "s", "t", "l"]))
    ordered = sorted(words)  # a set's order changes from run to run (hash randomisation)
    rng.shuffle(ordered)
    return ordered


# English stop words (the text-search configuration drops them) make up much of real text;
# content words follow Zipf's law among themselves, the most common one in ~10% of posts.
STOP_WORDS = (  # noqa: SIM905 - a word list reads better as text
    "the a an to of in is it how do i my with for on and or not can this that what "
    "when why be are was we you your from at by"
).split()
STOP_SHARE = 0.4
ZIPF_OFFSET = 30


class TextGen:
    def __init__(self, words: list[str], rng: random.Random) -> None:
        self.words = words
        self.rng = rng
        weights = [1.0 / (rank + ZIPF_OFFSET) for rank in range(len(words))]
        total = 0.0
        self.cum: list[float] = []
        for w in weights:
            total += w
            self.cum.append(total)

    def phrase(self, lo: int, hi: int) -> str:
        k = self.rng.randint(lo, hi)
        content = iter(self.rng.choices(self.words, cum_weights=self.cum, k=k))
        return " ".join(
            self.rng.choice(STOP_WORDS) if self.rng.random() < STOP_SHARE else next(content)
            for _ in range(k)
        )


# -- seeding ----------------------------------------------------------------------------------
async def seed(
    pg: EmbeddedPostgres, tenant_id: uuid.UUID, n_threads: int, n_replies: int, gen: TextGen
) -> list[tuple[uuid.UUID, str]]:
    """Returns a sample of (thread id, title) to draft near-duplicate questions from."""
    conn = await owner_connection(pg)
    rng = gen.rng
    try:
        await conn.execute("set maintenance_work_mem = '512MB'")
        # Bulk load as a restore would: no per-row FK triggers, GIN indexes built afterwards.
        await conn.execute("set session_replication_role = replica")
        for name in GIN_INDEXES:
            await conn.execute(f"drop index {name}")
        users, cats = await seed_people(conn, tenant_id, 2000, 20, user_name="user")
        start = datetime(2024, 1, 1, tzinfo=UTC)
        threads = [uuid.uuid4() for _ in range(n_threads)]
        sample: list[tuple[uuid.UUID, str]] = []
        t0 = time.perf_counter()
        for lo in range(0, n_threads, BATCH):
            recs = []
            for i in range(lo, min(lo + BATCH, n_threads)):
                body = gen.phrase(30, 80)
                at = start + timedelta(minutes=i)
                title = gen.phrase(5, 12).capitalize()
                if i % 97 == 0:
                    sample.append((threads[i], title))
                recs.append(
                    (
                        tenant_id,
                        threads[i],
                        rng.choice(cats),
                        rng.choice(users),
                        title,
                        body,
                        f"<p>{body}</p>",
                        n_replies // n_threads,
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
                    "reply_count",
                    "created_at",
                    "last_activity_at",
                ],
            )
        for lo in range(0, n_replies, BATCH):
            recs = []
            for i in range(lo, min(lo + BATCH, n_replies)):
                body = gen.phrase(15, 60)
                recs.append(
                    (
                        tenant_id,
                        uuid.uuid4(),
                        threads[i % n_threads],
                        rng.choice(users),
                        body,
                        f"<p>{body}</p>",
                        start + timedelta(seconds=i),
                    )
                )
            await conn.copy_records_to_table(
                "community_replies",
                records=recs,
                columns=[
                    "tenant_id",
                    "id",
                    "thread_id",
                    "author_id",
                    "body",
                    "body_html",
                    "created_at",
                ],
            )
            print(
                f"  replies {min(lo + BATCH, n_replies):>9,}  {time.perf_counter() - t0:6.1f}s",
                flush=True,
            )
        t1 = time.perf_counter()
        for name, definition in GIN_INDEXES.items():
            await conn.execute(f"create index {name} on {definition}")
        # Steady state, as autovacuum leaves a live forum: hint bits set, visibility map built.
        await conn.execute("vacuum (analyze) community_threads, community_replies")
        await conn.execute("analyze")
        print(
            f"seeded {n_threads:,} threads, {n_replies:,} replies: COPY {t1 - t0:.0f}s, "
            f"indexes {time.perf_counter() - t1:.0f}s",
            flush=True,
        )
    finally:
        await conn.close()
    return sample


async def frequent_lexemes(owner_url: str) -> list[str]:
    """The 3,000 most frequent title words of the seeded forum, most frequent first."""
    engine = create_engine(owner_url, pool_size=1)
    try:
        async with sessionmaker(engine)() as s:
            rows = await s.scalars(
                text(
                    "select word from ts_stat('select title_search from community_threads') "
                    "order by ndoc desc, word limit 3000"
                )
            )
            return list(rows)
    finally:
        await engine.dispose()


async def reuse(owner: Any) -> tuple[uuid.UUID, str, list[tuple[uuid.UUID, str]]]:
    """The bench tenant of a kept cluster, a new storefront key and a sample of its titles."""
    async with sessionmaker(owner)() as s, s.begin():
        tenant = await tenants.tenant_by_slug(s, "bench")
        key = await tenants.create_storefront_key(s, "bench rerun")
        rows = await s.execute(
            text("select id, title from community_threads order by random() limit 1000")
        )
        return tenant.id, key.secret, [(r.id, r.title) for r in rows]


def near_duplicate(title: str, rng: random.Random) -> str:
    """How someone asks an existing question again: a word dropped, the order changed."""
    words = title.lower().split()
    if len(words) > 3:
        words.pop(rng.randrange(len(words)))
    rng.shuffle(words)
    return " ".join(words).capitalize() + "?"


# -- measuring --------------------------------------------------------------------------------
def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def timed(*fns: Callable[[Any], Awaitable[Any]], inputs: list[Any]) -> list[list[float]]:
    """Time each function on each input, interleaved input by input, so that every variant
    sees the same background load on a shared machine."""
    for x in inputs[:5]:  # warm caches and plans
        for fn in fns:
            await fn(x)
    out: list[list[float]] = [[] for _ in fns]
    for x in inputs:
        for fn, samples in zip(fns, out, strict=True):
            t = time.perf_counter()
            await fn(x)
            samples.append((time.perf_counter() - t) * 1000)
    return out


def report(label: str, ms: list[float]) -> tuple[float, float]:
    p50, p95 = statistics.median(ms), pct(ms, 95)
    print(f"  {label:<44} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms   (n={len(ms)})", flush=True)
    return p50, p95


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=100_000)
    ap.add_argument("--replies", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--keep", action="store_true", help="leave the cluster running afterwards")
    ap.add_argument("--profile", action="store_true", help="cProfile the GraphQL searches")
    ap.add_argument("--reuse", type=Path, help="a cluster kept by --keep: measure, do not seed")
    args = ap.parse_args()
    rng = random.Random(7)
    gen = TextGen(vocabulary(20_000, rng), rng)

    root = args.reuse or workdir("aforo-bench-forum-")
    pg = EmbeddedPostgres(root / "pg", fast_unsafe=True)
    pg.start()
    try:
        if not args.reuse:
            migrate.upgrade(pg.url(OWNER_ROLE, "aforo"))
        if args.reuse:
            owner = create_engine(pg.url(OWNER_ROLE, "aforo"), pool_size=1)
            tenant_id, storefront, sample = await reuse(owner)
            await owner.dispose()
        else:
            p = await provision(pg, slug="bench")
            tenant_id, storefront = p.tenant.id, p.storefront_key
            sample = await seed(pg, tenant_id, args.threads, args.replies, gen)

        # Query words from the data itself: the most frequent title words, stemmed.
        words = await frequent_lexemes(pg.url(OWNER_ROLE, "aforo"))
        mid = [
            f"{rng.choice(words[50:3000])} {rng.choice(words[50:3000])}"
            for _ in range(args.queries)
        ]
        common = [
            f"{rng.choice(words[:50])} {rng.choice(words[:50])}" for _ in range(args.queries // 4)
        ]
        # Half the drafts re-ask an existing question, half are new ones.
        asked = [rng.choice(sample) for _ in range(args.queries // 2)]
        drafts = [(near_duplicate(title, rng), gen.phrase(10, 30)) for _, title in asked]
        drafts += [
            (gen.phrase(5, 12).capitalize(), gen.phrase(10, 30))
            for _ in range(args.queries - len(asked))
        ]

        app_url = pg.url("aforo_app", "aforo")
        engine = create_engine(app_url, pool_size=2)
        maker = sessionmaker(engine)

        async def raw_search(q: str) -> None:
            async with tenant_session(maker, tenant_id) as s:
                await forum_search.search(s, q, limit=10)

        async def raw_similar(d: tuple[str, str]) -> None:
            async with tenant_session(maker, tenant_id) as s:
                await forum_search.similar_threads(s, *d)

        found = 0
        for (original, _), (draft, body) in zip(asked, drafts, strict=False):
            async with tenant_session(maker, tenant_id) as s:
                top = await forum_search.similar_threads(s, draft, body)
            found += original in [t.thread_id for t in top]
        print(
            f"\nsimilarThreads finds the original of a re-asked question in its top 3: "
            f"{found}/{len(asked)}"
        )

        async def uncapped(q: str) -> None:
            async with tenant_session(maker, tenant_id) as s:
                await s.execute(UNCAPPED, {"q": q})

        app = create_app(app_settings(pg, root))
        headers = {"X-Storefront-Key": storefront}
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bench.test"
            ) as client,
        ):

            async def gql(query: str, variables: dict[str, Any]) -> None:
                r = await client.post(
                    "/graphql", json={"query": query, "variables": variables}, headers=headers
                )
                body = r.json()
                assert r.status_code == 200 and not body.get("errors"), body

            async def gql_search(q: str) -> None:
                await gql(SEARCH_GQL, {"q": q})

            async def gql_similar(d: tuple[str, str]) -> None:
                await gql(SIMILAR_GQL, {"t": d[0], "b": d[1]})

            async def gql_hello(_: str) -> None:
                await gql("{ tenant { id } }", {})

            print("\nbaseline: the smallest GraphQL request, { tenant { id } }")
            _, hello95 = report("GraphQL", (await timed(gql_hello, inputs=mid))[0])
            if args.profile:
                import cProfile
                import pstats

                prof = cProfile.Profile()
                prof.enable()
                await timed(gql_search, inputs=mid)
                prof.disable()
                pstats.Stats(prof).sort_stats("cumulative").print_stats(40)
            print(f"\nsearch, two mid-frequency words ({len(mid)} queries)")
            raw, api = await timed(raw_search, gql_search, inputs=mid)
            _, raw95 = report("raw SQL", raw)
            _, api95 = report("GraphQL searchForum", api)
            print(f"\nsearch, two of the 50 most common words ({len(common)} queries)")
            raw, api, unc = await timed(raw_search, gql_search, uncapped, inputs=common)
            _, rawc95 = report("raw SQL", raw)
            _, apic95 = report("GraphQL searchForum", api)
            _, unc95 = report("baseline: rank every match, raw SQL", unc)
            print(f"\nsimilarThreads ({len(drafts)} drafts)")
            raw, api = await timed(raw_similar, gql_similar, inputs=drafts)
            _, sraw95 = report("raw SQL", raw)
            _, sapi95 = report("GraphQL similarThreads", api)
        await engine.dispose()

        # The same search when @@ is not LEAKPROOF: RLS keeps the index out of the plan. New
        # connections, so no plan prepared before the change is reused.
        conn = await owner_connection(pg)
        engine = create_engine(app_url, pool_size=2)
        maker = sessionmaker(engine)
        try:
            await conn.execute("alter function ts_match_vq(tsvector, tsquery) not leakproof")
            print("\nbaseline: '@@' not LEAKPROOF (sequential scans under RLS), 5 queries")
            _, seq95 = report("raw SQL", (await timed(raw_search, inputs=mid[:5]))[0])
            await conn.execute("alter function ts_match_vq(tsvector, tsquery) leakproof")
        finally:
            await conn.close()
            await engine.dispose()

        print("\nratios (p95)")
        print(f"  GraphQL / raw SQL, search            {api95 / raw95:6.2f}x")
        print(f"  GraphQL / raw SQL, common words      {apic95 / rawc95:6.2f}x")
        print(f"  GraphQL / raw SQL, similarThreads    {sapi95 / sraw95:6.2f}x")
        print(f"  searchForum / {{ tenant {{ id }} }}      {api95 / hello95:6.2f}x")
        print(f"  rank-every-match / ours, common      {unc95 / rawc95:6.2f}x")
        print(f"  not-leakproof / ours, search         {seq95 / raw95:6.2f}x")
        print(
            f"\naim: GraphQL search p95 < 50 ms: {'met' if max(api95, apic95) < 50 else 'MISSED'}"
            f" (mid {api95:.1f} ms, common {apic95:.1f} ms; similarThreads {sapi95:.1f} ms)"
        )
    finally:
        if args.keep:
            print(f"cluster kept: port {pg.port}, data in {root}")
        else:
            pg.stop()
            if not args.reuse:
                shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
