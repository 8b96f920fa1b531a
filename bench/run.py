"""Every benchmark in one run, and one table of ratios against the baselines each measured in
the same run (a bare endpoint, raw COPY, raw SQL, a direct call, a bare load, a hand-written
Starlette endpoint, plain graphql-core, one worker), with each row's aim and the machine's core
count.

Each benchmark runs in its own process (each starts its own private PostgreSQL), one after the
other so they do not compete for the cores, with a time limit. Small settings by default (the
suite takes a few minutes); ``--full`` for each benchmark's own full-size defaults.

Run: ``python bench/run.py`` (``--full``; ``--only verify,ingest`` for a subset; ``--markdown``
to print the table as Markdown for ``bench/RESULTS.md``).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Row:
    measure: str
    value: str
    ratio: float
    baseline: str
    aim: str = ""


Parser = Callable[[str], list[Row]]


def _float(s: str) -> float:
    return float(s.replace(",", ""))


def parse_verify(out: str) -> list[Row]:
    rows = {
        m[1].strip(): (_float(m[2]), _float(m[4]))
        for m in re.finditer(
            r"^(bare endpoint|verify, cache \w+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", out, re.M
        )
    }
    conns = re.search(r"(\d+) connections", out)
    bare, bare_p99 = rows["bare endpoint"]
    hit_p99 = rows["verify, cache hit"][1]
    aims = {"hit": ">= 0.85x", "miss": ">= 0.35x"}
    out_rows = [
        Row(
            f"POST /v1/keys/verify, {name.split(', ')[1]}",
            f"{rps:,.0f} req/s",
            rps / bare,
            f"bare endpoint {bare:,.0f} req/s",
            aims[name.split()[-1]],
        )
        for name, (rps, _) in rows.items()
        if name != "bare endpoint"
    ]
    out_rows.append(
        Row(
            f"verify cache hit, p99 at {conns[1] if conns else '?'} connections",
            f"{hit_p99:.2f} ms",
            hit_p99 / bare_p99,
            f"bare endpoint p99 {bare_p99:.2f} ms",
            "<= 2 ms",
        )
    )
    return out_rows


def parse_ingest(out: str) -> list[Row]:
    rate = {
        m[1]: _float(m[2])
        for m in re.finditer(r"^\s+(REST|CSV|COPY)\s+([\d,]+) events/s", out, re.M)
    }
    copy = rate["COPY"]
    return [
        Row(
            f"usage ingestion, {name}",
            f"{rate[name]:,.0f} events/s",
            rate[name] / copy,
            f"raw COPY {copy:,.0f} events/s",
        )
        for name in ("REST", "CSV")
    ]


def parse_forum(out: str) -> list[Row]:
    baselines = {
        "GraphQL": "raw SQL (p95)",
        "rank-every-match": "ours (p95)",
        "not-leakproof": "ours (p95)",
    }
    rows = []
    for m in re.finditer(
        r"^\s+(GraphQL / raw SQL, [\w ]+?|rank-every-match / ours, \w+"
        r"|not-leakproof / ours, \w+)\s+([\d.]+)x",
        out,
        re.M,
    ):
        label = m[1].strip()
        kind = label.split(" / ")[0]
        rows.append(
            Row(
                f"forum {kind}, {label.split(', ')[1]}",
                "p95",
                float(m[2]),
                baselines[kind],
                "<= 1.2x" if kind == "GraphQL" else "",
            )
        )
    return rows


def parse_proxy(out: str) -> list[Row]:
    med = {
        m[1]: float(m[2])
        for m in re.finditer(
            r"^(direct|exchange|service|floor|graphql)\s+([\d.]+)\s+([\d.]+)", out, re.M
        )
    }
    d = med["direct"]
    label = {
        "exchange": "exchange",
        "service": "service",
        "floor": "served floor (hand-written endpoint, one row read)",
        "graphql": "GraphQL over TCP",
    }
    return [
        Row(
            f"try-it proxy, {label[name]}",
            f"{med[name]:.2f} ms median (+{med[name] - d:.2f})",
            med[name] / d,
            f"direct httpx call {d:.2f} ms",
            "<= +1.5 ms" if name == "graphql" else "",
        )
        for name in ("exchange", "service", "floor", "graphql")
    ]


def parse_spec(out: str) -> list[Row]:
    rows = []
    for m in re.finditer(r"^\s+(.+?)\s+([\d.]+) ms\s+([\d.]+)x (.+)$", out, re.M):
        rows.append(
            Row(
                f"spec import, {m[1].strip()}", f"{_float(m[2]):,.1f} ms", float(m[3]), m[4].strip()
            )
        )
    return rows


def parse_overhead(out: str) -> list[Row]:
    rows = []
    m = re.search(r"ASGI\s+bare\s+([\d.]+) req/s\s+metered\s+([\d.]+) req/s\s+ratio ([\d.]+)", out)
    if m:
        rows.append(
            Row(
                "SDK metering, ASGI app",
                f"{_float(m[2]):,.0f} req/s",
                float(m[3]),
                f"same app unmetered {_float(m[1]):,.0f} req/s",
            )
        )
    m = re.search(r"stdio direct\s+([\d.]+) rt/s\s+via proxy\s+([\d.]+) rt/s\s+ratio ([\d.]+)", out)
    if m:
        rows.append(
            Row(
                "SDK MCP stdio relay",
                f"{_float(m[2]):,.0f} rt/s",
                float(m[3]),
                f"direct pipe {_float(m[1]):,.0f} rt/s",
            )
        )
    return rows


def parse_graphql_list(out: str) -> list[Row]:
    table = {
        m[1]: (float(m[2]), float(m[3]), float(m[4]))
        for m in re.finditer(
            r"^(graphql|starlette|graphql-core|tenant-graphql|tenant-fastapi)\s+([\d.]+)"
            r"\s+([\d.]+)\s+([\d.]+)",
            out,
            re.M,
        )
    }
    statements = re.search(r"SQL statements per GraphQL request: (\d+)", out)
    (g50, g95, _), (s50, s95, _) = table["graphql"], table["starlette"]
    c50 = table["graphql-core"][0]
    n = statements[1] if statements else "?"
    small = re.search(r"tenant graphql / fastapi req/s = ([\d.]+)x", out)
    tg, tf = table["tenant-graphql"][2], table["tenant-fastapi"][2]
    return [
        Row(
            f"GraphQL list of 100 with nested fields, p50 ({n} SQL)",
            f"{g50:.2f} ms",
            g50 / s50,
            f"hand-written Starlette JSON {s50:.2f} ms",
            "<= 2x",
        ),
        Row(
            "GraphQL list of 100 with nested fields, p95",
            f"{g95:.2f} ms",
            g95 / s95,
            f"hand-written Starlette JSON {s95:.2f} ms",
            "<= 3x",
        ),
        Row(
            "GraphQL list of 100, p50 against graphql-core",
            f"{g50:.2f} ms",
            g50 / c50,
            f"plain graphql-core, same document and rows {c50:.2f} ms",
            "<= 1.2x",
        ),
        Row(
            "{ tenant { name } } with a storefront key",
            f"{tg:,.0f} req/s",
            float(small[1]) if small else tg / tf,
            f"bare FastAPI endpoint, same SQL {tf:,.0f} req/s",
            ">= 0.5x",
        ),
    ]


def parse_workers(out: str) -> list[Row]:
    return [
        Row(
            f"2 workers / 1, {m[1]}",
            f"{_float(m[2]):,.0f} -> {_float(m[3]):,.0f} req/s",
            float(m[4]),
            f"1 worker {_float(m[2]):,.0f} req/s",
            ">= 1.7x",
        )
        for m in re.finditer(
            r"^(graphql-list|graphql|verify)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)x", out, re.M
        )
    ]


@dataclass
class Bench:
    name: str
    script: str
    quick: list[str]
    full: list[str]
    parse: Parser
    timeout_s: int


BENCHES = [
    Bench("verify", "bench/verify.py", ["--seconds", "3"], [], parse_verify, 300),
    Bench(
        "ingest",
        "bench/ingest.py",
        ["--events", "50000"],
        ["--events", "300000"],
        parse_ingest,
        900,
    ),
    Bench(
        "graphql_list",
        "bench/graphql_list.py",
        ["--rounds", "10", "--per-round", "5"],
        [],
        parse_graphql_list,
        300,
    ),
    Bench(
        "forum_search",
        "bench/forum_search.py",
        ["--threads", "10000", "--replies", "100000", "--queries", "50"],
        ["--threads", "50000", "--replies", "500000", "--queries", "100"],
        parse_forum,
        900,
    ),
    Bench("proxy", "bench/proxy.py", ["--requests", "300"], [], parse_proxy, 300),
    Bench("workers", "bench/workers.py", ["--seconds", "3"], [], parse_workers, 600),
    Bench(
        "spec_import",
        "bench/spec_import.py",
        ["--ops", "200", "--schemas", "400", "--no-yaml"],
        [],
        parse_spec,
        600,
    ),
    Bench("sdk_overhead", "sdks/python/bench/overhead.py", [], [], parse_overhead, 300),
]


def run(bench: Bench, full: bool) -> tuple[list[Row], float, str]:
    args = bench.full if full else bench.quick
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    start = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, str(ROOT / bench.script), *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=bench.timeout_s,
        )
    except subprocess.TimeoutExpired:
        return [], time.monotonic() - start, f"timed out after {bench.timeout_s}s"
    took = time.monotonic() - start
    if done.returncode != 0:
        return [], took, f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}"
    try:
        rows = bench.parse(done.stdout)
    except (KeyError, ValueError, TypeError) as e:
        return [], took, f"unreadable output ({type(e).__name__}: {e})"
    return rows, took, "" if rows else "no ratio in the output"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true", help="each benchmark at full size")
    ap.add_argument("--only", help="comma-separated names: " + ",".join(b.name for b in BENCHES))
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--verbose", action="store_true", help="echo each benchmark's own output")
    args = ap.parse_args()
    chosen = [b for b in BENCHES if not args.only or b.name in args.only.split(",")]
    results: list[tuple[Bench, list[Row], float, str]] = []
    for b in chosen:
        print(f"running {b.name} ...", file=sys.stderr, flush=True)
        rows, took, problem = run(b, args.full)
        results.append((b, rows, took, problem))
        print(f"  {b.name}: {took:.0f} s {problem}", file=sys.stderr, flush=True)

    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    size = "full" if args.full else "quick"
    print(
        f"\n{when}, {os.cpu_count()} cores, {size} settings; ratio = measured / baseline "
        f"(times: lower is better; rates: higher is better)"
    )
    header = ("benchmark", "measure", "value", "ratio", "aim", "baseline (same run)")
    lines: list[tuple[str, ...]] = []
    for b, rows, _took, problem in results:
        if problem:
            lines.append((b.name, f"FAILED: {problem}", "", "", "", ""))
        for r in rows:
            lines.append((b.name, r.measure, r.value, f"{r.ratio:.2f}x", r.aim, r.baseline))
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for ln in lines:
            print("| " + " | ".join(ln) + " |")
    else:
        widths = [max(len(x[i]) for x in [header, *lines]) for i in range(len(header))]
        for ln in [header, *lines]:
            print("  ".join(c.ljust(w) for c, w in zip(ln, widths, strict=True)).rstrip())
    total = sum(t for _, _, t, _ in results)
    print(f"\ntotal {total / 60:.1f} min")
    sys.exit(1 if any(p for *_, p in results) else 0)


if __name__ == "__main__":
    main()
