"""What metering costs the metered code, as ratios against a baseline measured in the same run.

    python sdks/python/bench/overhead.py

1. ASGI: requests/s of a Starlette app with MeteringMiddleware vs without (the console is
   unreachable, the worst case: every event is buffered or dropped, never sent inline).
2. stdio MCP relay: round trips/s of 1 KiB JSON-RPC lines through aforo-mcp-proxy vs direct.
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import sys
import time

import httpx
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from aforo_metering import AsyncClient, MeteringMiddleware

REQUESTS = 3000
ROUND_TRIPS = 3000


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def app() -> Starlette:
    async def item(request: object) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/items/{id}", item)])


async def requests_per_s(asgi: object) -> float:
    transport = httpx.ASGITransport(app=asgi)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://b") as c:
        for _ in range(200):
            await c.get("/items/1")
        start = time.perf_counter()
        for i in range(REQUESTS):
            await c.get(f"/items/{i}")
        return REQUESTS / (time.perf_counter() - start)


async def asgi_ratio() -> None:
    bare, metered = [], []
    for _ in range(3):
        bare.append(await requests_per_s(app()))
        client = AsyncClient(dead_url(), "gwt_bench", max_buffer=1000, batch_size=1000)
        plain = app()
        plain.add_middleware(MeteringMiddleware, client=client)
        metered.append(await requests_per_s(plain))
        await client.aclose(timeout=0)
    b, m = statistics.median(bare), statistics.median(metered)
    print(f"ASGI  bare {b:8.0f} req/s   metered {m:8.0f} req/s   ratio {m / b:.2f}")


ECHO = "import sys\nfor line in sys.stdin:\n    sys.stdout.write(line); sys.stdout.flush()\n"


async def round_trips_per_s(command: list[str]) -> float:
    proc = await asyncio.create_subprocess_exec(
        *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdin and proc.stdout
    line = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": "y" * 1000}})
    data = line.encode() + b"\n"
    for _ in range(100):
        proc.stdin.write(data)
        await proc.stdout.readline()
    start = time.perf_counter()
    for _ in range(ROUND_TRIPS):
        proc.stdin.write(data)
        await proc.stdin.drain()
        await proc.stdout.readline()
    rate = ROUND_TRIPS / (time.perf_counter() - start)
    proc.stdin.close()
    await proc.wait()
    return rate


async def relay_ratio() -> None:
    server = [sys.executable, "-c", ECHO]
    proxy = [
        sys.executable,
        "-m",
        "aforo_metering.mcp_proxy",
        "--url",
        dead_url(),
        "--token",
        "gwt_bench",
        "--flush-timeout",
        "0",
        "--",
        *server,
    ]
    direct = statistics.median([await round_trips_per_s(server) for _ in range(3)])
    relayed = statistics.median([await round_trips_per_s(proxy) for _ in range(3)])
    print(
        f"stdio direct {direct:8.0f} rt/s   via proxy {relayed:8.0f} rt/s   "
        f"ratio {relayed / direct:.2f}"
    )


if __name__ == "__main__":
    asyncio.run(asgi_ratio())
    asyncio.run(relay_ratio())
