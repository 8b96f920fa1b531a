"""In-process metering of an MCP server built with the official Python SDK (``mcp``), over
stdio and streamable HTTP, driven by the official client: the same records as the sidecar."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from aforo.runtime.postgres import free_port
from tests.sdk.conftest import Console
from tests.sdk.test_mcp_proxy import AGENT, assert_metered, drive, wait_for_events
from tests.services import wait_port

ROOT = Path(__file__).resolve().parents[2]
MODULE = "tests.sdk.mcp_metered_server"


def env(console: Console) -> dict[str, str]:
    return {**os.environ, "AFORO_URL": console.url, "AFORO_TOKEN": console.token}


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_stdio_server_meters_its_own_tool_calls(console: Console, mode: str) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", MODULE], env=env(console), cwd=str(ROOT)
    )
    async with Client(params, client_info=AGENT, mode=mode) as client:
        await drive(client)
    events = await wait_for_events(console, 3)
    assert_metered(events, "stdio")
    assert len(events) == 3  # initialize, discovery and tools/list are never billed


async def test_streamable_http_server_meters_its_own_tool_calls(console: Console) -> None:
    port = free_port()
    proc = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-m", MODULE, "http", str(port)],
        env=env(console),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await asyncio.to_thread(wait_port, port)
        async with Client(f"http://127.0.0.1:{port}/mcp", client_info=AGENT, mode="legacy") as c:
            await drive(c)
        events = await wait_for_events(console, 3)
    finally:
        proc.terminate()
        proc.wait(20)
    assert_metered(events, "streamable_http")
    assert len(events) == 3
