"""Load-and-fault kit (no tests here): a usage-ingestion load with several HTTP clients that
retry, abandon requests mid-flight and send batches twice, and exact counts of what was stored.

Sizes come from the environment so the same tests run CI-sized by default and at full scale by
hand: ``AFORO_LOAD_EVENTS`` (default 20 000) and ``AFORO_LOAD_CLIENTS`` (default 4).
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx

from aforo.config import Settings
from tests.services import RedisServer
from tests.test_usage_helpers import fetch

BATCH = 500


def load_events(default: int = 20_000) -> int:
    return int(os.environ.get("AFORO_LOAD_EVENTS", default))


def load_clients(default: int = 4) -> int:
    return int(os.environ.get("AFORO_LOAD_CLIENTS", default))


def batches(n: int, prefix: str, rng: random.Random) -> list[list[dict[str, Any]]]:
    """``n`` distinct events in batches, plus the duplicates a real gateway fleet sends: whole
    batches again, and batches stitched from the halves of two others."""
    at = (datetime.now(UTC) - timedelta(minutes=30)).isoformat(timespec="milliseconds")
    events = [
        {
            "event_id": f"{prefix}-{i}",
            "metric": "api_calls",
            "occurred_at": at,
            "quantity": 1,
            "consumer": f"c{i % 50}",
        }
        for i in range(n)
    ]
    out = [events[i : i + BATCH] for i in range(0, n, BATCH)]
    extra: list[list[dict[str, Any]]] = []
    for b in out:
        if rng.random() < 0.15:
            extra.append(list(b))
    for _ in range(max(1, len(out) // 10)):
        a, b = rng.choice(out), rng.choice(out)
        extra.append(a[: len(a) // 2] + b[len(b) // 2 :])
    everything = out + extra
    rng.shuffle(everything)
    return everything


@dataclass
class Load:
    """What the clients saw: every HTTP status (or transport error name) and the bodies of
    the refusals, so a test can assert there was no 500 and every 503 said "retry"."""

    statuses: Counter[str] = field(default_factory=Counter)
    refusals: list[dict[str, Any]] = field(default_factory=list)
    accepted: int = 0
    sent: int = 0  # batches fully acknowledged
    abandoned: int = 0


async def ingest(
    url: str,
    token: str,
    work: list[list[dict[str, Any]]],
    *,
    clients: int,
    rng: random.Random,
    load: Load,
    on_progress: Callable[[Load], Awaitable[None]] | None = None,
) -> Load:
    """Send every batch, each client retrying its batch until acknowledged (same ids)."""
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for b in work:
        queue.put_nowait(b)
    headers = {"Authorization": f"Bearer {token}"}

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as c:
            while not queue.empty():
                batch = queue.get_nowait()
                await send(c, batch)
                if rng.random() < 0.05:  # the acknowledgement was "lost": sent again
                    await send(c, batch)
                load.sent += 1
                if on_progress is not None:
                    await on_progress(load)

    async def send(c: httpx.AsyncClient, batch: list[dict[str, Any]]) -> None:
        body = {"events": batch}
        if rng.random() < 0.05:  # a client that gives up mid-request, then retries
            try:
                r = await c.post("/v1/usage/events", json=body, timeout=0.002)
                load.statuses[str(r.status_code)] += 1  # answered in time after all
            except httpx.TimeoutException:
                load.abandoned += 1
        while True:
            try:
                r = await c.post("/v1/usage/events", json=body)
            except httpx.TransportError as e:
                load.statuses[type(e).__name__] += 1
                await asyncio.sleep(0.05)
                continue
            load.statuses[str(r.status_code)] += 1
            if r.status_code == 200:
                got = r.json()
                assert got["rejected"] == [], got
                assert got["accepted"] + got["duplicates"] == len(batch), got
                load.accepted += got["accepted"]
                return
            load.refusals.append({"status": r.status_code, "body": r.json(), **r.headers})
            assert r.status_code == 503, r.text
            await asyncio.sleep(0.05 + rng.random() * 0.1)

    await asyncio.gather(*(client() for _ in range(clients)))
    return load


async def stored(settings: Settings, tenant_id: str) -> dict[str, int]:
    """Events, distinct ids, id claims and the rollup total, as the tenant sees them."""
    (row,) = await fetch(
        settings,
        tenant_id,
        """select (select count(*) from usage_events) as events,
                  (select count(distinct event_id) from usage_events) as distinct_ids,
                  (select count(*) from usage_event_ids) as claims,
                  (select coalesce(sum(quantity), 0)::bigint from usage_rollups) as rolled_up""",
    )
    return {k: int(v) for k, v in row.items()}


class DurableRedis(RedisServer):
    """A redis-server that keeps its data across a kill (append-only file, fsync on every
    write), as production Redis does: a restart brings back every entry still within its TTL."""

    persistence: ClassVar[tuple[str, ...]] = ("--appendonly", "yes", "--appendfsync", "always")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no goodbye to the clients."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None
