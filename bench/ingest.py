"""Usage ingestion throughput: 1,000,000 canonical events three ways, in one run.

1. ``POST /v1/usage/events`` on a real uvicorn server: batches of 1,000, a few concurrent
   clients (bodies serialised before the clock starts);
2. the same rows as one CSV file streamed to ``POST /v1/usage/upload``;
3. the same rows by raw asyncpg ``copy_records_to_table`` into a table identical to
   ``usage_events`` (same columns, same primary key): the baseline, with no idempotency
   claim, no rollups, no validation.

Each of 1 and 2 goes to its own tenant, so every event is new. Prints events/s for each and the
ratios to raw COPY (aims: REST ≥ 30 %, CSV ≥ 50 %), then checks the counts. For each phase it
also prints where the time went: CPU microseconds per event used by the server process(es), by
PostgreSQL (all its processes) and by this client (Linux ``/proc``; omitted elsewhere). On a
machine with few cores the sum of those, not any one of them, is what bounds the rate.

Run: ``python bench/ingest.py`` (``--events 100000`` for a quick one). ``--upload-gb 1`` then
streams a generated CSV of that size (rows without event ids, so each id is derived from the
row's content and occurrence) to the upload endpoint and prints the server's resident memory
before, at its peak, and after: a streamed upload runs in flat memory whatever its size.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from common import owner_connection, private_postgres, server_env

from aforo.config import Settings
from aforo.db import create_engine, sessionmaker, tenant_session
from aforo.runtime.postgres import EmbeddedPostgres, free_port
from aforo.services import gateway_tokens, tenants

BATCH = 1000
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _children(ppid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == ppid:
                    out.append(int(d.name))
            except (OSError, ValueError, IndexError):
                continue
    return out


class CpuMeter:
    """Where the time went: CPU seconds of the server (its workers too), of PostgreSQL (the
    postmaster's children, i.e. the backends and the WAL writer) and of this client, between
    ``start()`` and ``stop()``. Backends come and go, so they are sampled while it runs."""

    def __init__(self, pg: EmbeddedPostgres, server: subprocess.Popen[bytes] | None) -> None:
        pid_file = pg.datadir / "postmaster.pid"
        self.postmaster = int(pid_file.read_text().split()[0]) if pid_file.exists() else 0
        self.server = server.pid if server is not None else 0
        self.peak: dict[int, float] = {}
        self.base: dict[int, float] = {}
        self._task: asyncio.Task[None] | None = None

    def _sample(self) -> None:
        pids = [os.getpid()]
        if self.server:
            pids += [self.server, *_children(self.server)]
        if self.postmaster:
            pids += [self.postmaster, *_children(self.postmaster)]
        for p in pids:
            c = _cpu(p)
            self.base.setdefault(p, c)
            self.peak[p] = max(self.peak.get(p, 0.0), c)

    async def _run(self) -> None:
        while True:
            await asyncio.to_thread(self._sample)
            await asyncio.sleep(0.25)

    def start(self) -> None:
        if Path("/proc/self/stat").exists():
            self._sample()
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> dict[str, float]:
        if self._task is None:
            return {}
        self._task.cancel()
        self._sample()
        server = {self.server, *_children(self.server)} if self.server else set()
        out = {"server": 0.0, "postgres": 0.0, "client": 0.0}
        for p, c in self.peak.items():
            used = c - self.base[p]
            kind = "client" if p == os.getpid() else "server" if p in server else "postgres"
            out[kind] += used
        return out


def report(name: str, n: int, seconds: float, cpu: dict[str, float]) -> None:
    per = "  ".join(f"{k} {v / n * 1e6:5.1f}" for k, v in cpu.items())
    print(f"  {name:5s} {n / seconds:>10,.0f} events/s  ({seconds:.1f} s)   CPU us/event: {per}")


def rows(n: int) -> list[dict[str, Any]]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=6)
    step = timedelta(days=5) / n
    methods = ("GET", "POST", "PUT", "DELETE")
    return [
        {
            "event_id": f"ev-{i:08d}",
            "metric": "api_calls",
            "quantity": 1,
            "occurred_at": (start + step * i).isoformat(timespec="milliseconds"),
            "consumer": f"consumer-{i % 500}",
            "method": methods[i % 4],
            "path": f"/v1/orders/{i % 1000}",
            "status": 200 if i % 10 else 404,
            "latency_ms": (i % 97) + 0.5,
        }
        for i in range(n)
    ]


CSV_COLUMNS = (
    "event_id",
    "metric",
    "quantity",
    "occurred_at",
    "consumer",
    "method",
    "path",
    "status",
    "latency_ms",
)


def csv_bytes(data: list[dict[str, Any]]) -> bytes:
    lines = [",".join(CSV_COLUMNS)]
    lines += [",".join(str(r[c]) for c in CSV_COLUMNS) for r in data]
    return ("\r\n".join(lines) + "\r\n").encode()


async def provision(owner_url: str, name: str) -> tuple[uuid.UUID, str]:
    engine = create_engine(owner_url, pool_size=1)
    try:
        maker = sessionmaker(engine)
        async with maker() as s, s.begin():
            p = await tenants.provision_tenant(s, name)
        async with tenant_session(maker, p.tenant.id) as s:
            created = await gateway_tokens.create(s, "bench")
        return p.tenant.id, created.secret
    finally:
        await engine.dispose()


def start_server(
    pg: EmbeddedPostgres, home: Path, workers: int
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, **server_env(pg, home), "AFORO_DB_POOL_SIZE": "8"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "aforo.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--workers",
            str(workers),
        ],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not start")


def rest_bodies(data: list[dict[str, Any]]) -> list[bytes]:
    return [
        json.dumps({"events": data[i : i + BATCH]}).encode() for i in range(0, len(data), BATCH)
    ]


async def bench_rest(base: str, token: str, bodies: list[bytes], n: int, clients: int) -> float:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)
    accepted = 0
    headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}

    async def client() -> None:
        nonlocal accepted
        async with httpx.AsyncClient(base_url=base, timeout=120) as c:
            while True:
                try:
                    body = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                r = await c.post("/v1/usage/events", content=body, headers=headers)
                r.raise_for_status()
                accepted += r.json()["accepted"]

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - t0
    assert accepted == n, accepted
    return elapsed


async def bench_csv(base: str, token: str, blob: bytes, n: int) -> float:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(blob), 1 << 20):
            yield blob[i : i + (1 << 20)]

    t0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=3600) as c:
        r = await c.post(
            "/v1/usage/upload",
            content=chunks(),
            headers={"Authorization": f"Bearer {token}", "content-type": "text/csv"},
        )
    elapsed = time.perf_counter() - t0
    body = r.json()
    assert r.status_code == 200 and body["accepted"] == n, body
    return elapsed


async def bench_copy(
    pg: EmbeddedPostgres, tenant_id: uuid.UUID, data: list[dict[str, Any]], meter: CpuMeter
) -> tuple[float, dict[str, float]]:
    conn = await owner_connection(pg)
    try:
        await conn.execute("drop table if exists bench_raw_copy")
        # Same columns, defaults, constraints and primary key as usage_events.
        await conn.execute("create table bench_raw_copy (like usage_events including all)")
        cols = [
            "tenant_id",
            "event_id",
            "occurred_at",
            "source",
            "metric",
            "quantity",
            "consumer",
            "method",
            "path",
            "status",
            "latency_ms",
        ]
        records = [
            (
                tenant_id,
                r["event_id"],
                datetime.fromisoformat(r["occurred_at"]),
                "rest",
                r["metric"],
                Decimal(r["quantity"]),
                r["consumer"],
                r["method"],
                r["path"],
                r["status"],
                r["latency_ms"],
            )
            for r in data
        ]
        meter.start()
        t0 = time.perf_counter()
        await conn.copy_records_to_table("bench_raw_copy", records=records, columns=cols)
        elapsed = time.perf_counter() - t0
        cpu = await meter.stop()  # while its backend is still there to be read
        assert await conn.fetchval("select count(*) from bench_raw_copy") == len(data)
        await conn.execute("drop table bench_raw_copy")
        return elapsed, cpu
    finally:
        await conn.close()


def _rss(pid: int) -> tuple[int, int]:
    """(resident, peak resident) KiB of a process (Linux)."""
    got = {"VmRSS": 0, "VmHWM": 0}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in got:
            got[key] = int(value.split()[0])
    return got["VmRSS"], got["VmHWM"]


async def bench_big_upload(
    base: str, token: str, server: subprocess.Popen[bytes], gigabytes: float
) -> None:
    """A generated CSV of ``gigabytes`` streamed to the upload endpoint; the server's memory."""
    target = int(gigabytes * 1e9)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=20)
    sent = 0
    samples: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b"timestamp,customer,meter,count,status_code,latency,path\n"
        i = 0
        while sent < target:
            lines = [
                f"{(start + timedelta(milliseconds=(i + k) * 150)).isoformat()},"
                f"cust-{(i + k) % 997},api_calls,1,{200 if (i + k) % 10 else 500},"
                f"{(i + k) % 97}.5,/v1/orders/{(i + k) % 5000}\n"
                for k in range(20_000)
            ]
            i += 20_000
            chunk = "".join(lines).encode()
            sent += len(chunk)
            samples.append(_rss(server.pid)[0])
            yield chunk

    before = _rss(server.pid)
    t0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=7200) as c:
        r = await c.post(
            "/v1/usage/upload",
            content=chunks(),
            headers={"Authorization": f"Bearer {token}", "content-type": "text/csv"},
        )
    elapsed = time.perf_counter() - t0
    after = _rss(server.pid)
    body = r.json()
    print(
        f"  upload {sent / 1e9:.2f} GB, {body['accepted']:,} rows in {elapsed:.0f} s "
        f"({body['accepted'] / elapsed:,.0f} rows/s); server RSS before {before[0] / 1024:.0f} MiB"
        f", peak during {max(samples) / 1024:.0f} MiB (high-water {after[1] / 1024:.0f} MiB)"
        f", after {after[0] / 1024:.0f} MiB"
    )
    assert r.status_code == 200 and body["rejected"] == 0, body


async def count(pg: EmbeddedPostgres, tenant_id: uuid.UUID) -> int:
    conn = await asyncpg.connect(pg.url("aforo_app").replace("postgresql+asyncpg", "postgresql"))
    try:
        async with conn.transaction():
            await conn.execute("select set_config('app.tenant_id', $1, true)", str(tenant_id))
            n: int = await conn.fetchval("select count(*) from usage_events")
            return n
    finally:
        await conn.close()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument("--upload-gb", type=float, default=0, help="then a streamed upload this big")
    args = ap.parse_args()
    n = args.events
    with private_postgres(fast_unsafe=True) as (pg, root):
        server = None
        try:
            Settings()  # fail early on a broken environment
            rest_tenant, rest_token = await provision(pg.owner_url, "Bench REST")
            csv_tenant, csv_token = await provision(pg.owner_url, "Bench CSV")
            copy_tenant, _ = await provision(pg.owner_url, "Bench COPY")
            data = rows(n)
            blob = csv_bytes(data)
            server, base = start_server(pg, root / "home", args.workers)
            print(
                f"{n:,} events; {args.workers} uvicorn worker(s); "
                f"REST with {args.clients} clients x {BATCH}-event batches; "
                f"CSV {len(blob) / 1e6:.0f} MB streamed",
                flush=True,
            )
            bodies = rest_bodies(data)
            meter = CpuMeter(pg, server)
            meter.start()
            rest_s = await bench_rest(base, rest_token, bodies, n, args.clients)
            report("REST", n, rest_s, await meter.stop())
            meter = CpuMeter(pg, server)
            meter.start()
            csv_s = await bench_csv(base, csv_token, blob, n)
            report("CSV", n, csv_s, await meter.stop())
            meter = CpuMeter(pg, None)
            copy_s, copy_cpu = await bench_copy(pg, copy_tenant, data, meter)
            report("COPY", n, copy_s, copy_cpu)
            print(f"REST / COPY = {copy_s / rest_s:.0%}   (aim >= 30%)")
            print(f"CSV  / COPY = {copy_s / csv_s:.0%}   (aim >= 50%)")
            assert await count(pg, rest_tenant) == n
            assert await count(pg, csv_tenant) == n
            if args.upload_gb:
                _, big_token = await provision(pg.owner_url, "Bench big upload")
                await bench_big_upload(base, big_token, server, args.upload_gb)
        finally:
            if server is not None:
                server.terminate()
                server.wait(30)


if __name__ == "__main__":
    asyncio.run(main())
