"""The Node.js MCP pieces with the official MCP SDKs: ``@aforo/mcp-proxy`` (run with npx) in
front of a Python MCP server, and ``@aforo/mcp-metering`` inside a server built with
``@modelcontextprotocol/sdk``; both over stdio and streamable HTTP, driven by the official
Python client. Records must match what the Python sidecar ships."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from aforo.runtime.postgres import free_port
from tests.sdk.conformance import toolchains
from tests.sdk.conftest import Console
from tests.sdk.harness import FaultProxy
from tests.sdk.test_mcp_proxy import AGENT, SERVER, assert_metered, drive, wait_for_events
from tests.services import wait_port

NODE = toolchains.NODE
NODE_SERVER = str(NODE / "mcp-metering" / "test" / "server.mjs")


@pytest.fixture(scope="module")
def node_sdks() -> Path:
    return toolchains.build_node()


def npx_proxy(console: Console, url: str) -> list[str]:
    """`npx @aforo/mcp-proxy` resolves the workspace's package (never the registry)."""
    return [
        "npx",
        "--offline",
        "@aforo/mcp-proxy",
        "--url",
        url,
        "--flush-interval",
        "0.05",
        "--backoff-cap",
        "0.3",
    ]


def env(console: Console, url: str | None = None) -> dict[str, str]:
    return {**os.environ, "AFORO_TOKEN": console.token, "AFORO_URL": url or console.url}


async def test_npx_proxy_stdio_meters_like_the_python_sidecar(
    node_sdks: Path, console: Console, fault_proxy: FaultProxy
) -> None:
    """2026-era clients (auto mode) announce clientInfo in _meta; the legacy handshake is
    exercised by the Integration Guide's MCP snippet test."""
    cmd = [*npx_proxy(console, fault_proxy.url), "--", sys.executable, SERVER]
    params = StdioServerParameters(command=cmd[0], args=cmd[1:], env=env(console), cwd=str(NODE))
    async with Client(params, client_info=AGENT, mode="auto") as client:
        await drive(client)
    events = await wait_for_events(console, 3)
    assert_metered(events, "stdio")
    assert len(events) == 3
    shipped = [r for b in fault_proxy.bodies for r in json.loads(b)["records"]]
    # the same record shape as the Python sidecar: bare request and response, sizes, no payload
    assert {r["request"]["method"] for r in shipped} == {"tools/call"}
    assert all(set(r["request"]["params"]) == {"name"} for r in shipped)
    assert b"on purpose" not in b"".join(fault_proxy.bodies)


async def test_node_proxy_stdio_relays_bytes_unchanged_and_reports_cancelled(
    node_sdks: Path, console: Console
) -> None:
    scripted = (
        "import json, sys\n"
        "for line in sys.stdin:\n"
        "    msg = json.loads(line)\n"
        "    if msg.get('params', {}).get('name') == 'slow': continue\n"
        "    sys.stdout.write(json.dumps({'jsonrpc': '2.0', 'id': msg['id'], "
        "'result': {'content': [], 'isError': False}}) + '\\n'); sys.stdout.flush()\n"
    )
    call = {"jsonrpc": "2.0", "method": "tools/call"}
    lines = [
        {**call, "id": 1, "params": {"name": "fast", "arguments": {}}},
        {**call, "id": "2", "params": {"name": "slow", "arguments": {}}},
    ]
    payload = b"".join(json.dumps(m).encode() + b"\n" for m in lines)
    proc = await asyncio.create_subprocess_exec(
        *npx_proxy(console, console.url),
        "--agent-id",
        "agent-9",
        "--",
        sys.executable,
        "-c",
        scripted,
        cwd=NODE,
        env=env(console),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(proc.communicate(payload), 60)
    assert proc.returncode == 0
    assert [json.loads(x)["id"] for x in out.splitlines()] == [1]
    events = await wait_for_events(console, 2)
    assert sorted((e["tool"], e["outcome"], e["agent"]) for e in events) == [
        ("fast", "success", "agent-9"),
        ("slow", "cancelled", "agent-9"),
    ]


class Http:
    def __init__(
        self,
        server: list[str],
        proxy: list[str] | None,
        console: Console,
        extra: list[str] | None = None,
    ) -> None:
        self.server_port = free_port()
        self.procs: list[subprocess.Popen[bytes]] = [
            subprocess.Popen(
                [*server, str(self.server_port), *(extra or [])],
                cwd=NODE,
                env=env(console),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        ]
        self.port = self.server_port
        if proxy is not None:
            self.port = free_port()
            self.procs.append(
                subprocess.Popen(
                    [
                        *proxy,
                        "--upstream",
                        f"http://127.0.0.1:{self.server_port}",
                        "--listen",
                        f"127.0.0.1:{self.port}",
                    ],
                    cwd=NODE,
                    env=env(console),
                    start_new_session=True,
                )
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def start(self) -> Http:
        wait_port(self.server_port)
        wait_port(self.port)
        return self

    def stop(self) -> None:
        # Each in a process group of its own, stopped whole: npx runs the proxy as a child
        # that a signal to npx alone left running (still listening) after the tests.
        for p in reversed(self.procs):
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(20)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)  # whatever of the group is left


@pytest.fixture
def http_factory(console: Console) -> Iterator[list[Http]]:
    made: list[Http] = []
    yield made
    for h in made:
        h.stop()


@pytest.mark.parametrize("json_response", [False, True])
async def test_node_proxy_streamable_http(
    node_sdks: Path, console: Console, http_factory: list[Http], json_response: bool
) -> None:
    server = [sys.executable, SERVER, "http"]
    h = await asyncio.to_thread(
        Http, server, npx_proxy(console, console.url), console, ["json"] if json_response else []
    )
    http_factory.append(await asyncio.to_thread(h.start))
    async with Client(h.url, client_info=AGENT, mode="legacy") as client:
        await drive(client)
    events = await wait_for_events(console, 3)
    assert_metered(events, "streamable_http")
    assert len(await console.events()) == 3


async def test_mcp_metering_in_a_node_sdk_server_over_stdio(
    node_sdks: Path, console: Console
) -> None:
    params = StdioServerParameters(
        command="node", args=[NODE_SERVER], env=env(console), cwd=str(NODE)
    )
    async with Client(params, client_info=AGENT, mode="legacy") as client:
        await drive(client)
    events = await wait_for_events(console, 3)
    assert_metered(events, "stdio")
    assert len(events) == 3


async def test_mcp_metering_in_a_node_sdk_server_over_streamable_http(
    node_sdks: Path, console: Console, http_factory: list[Http]
) -> None:
    h = await asyncio.to_thread(Http, ["node", NODE_SERVER, "http"], None, console)
    http_factory.append(await asyncio.to_thread(h.start))
    async with Client(h.url, client_info=AGENT, mode="legacy") as client:
        await drive(client)
    events = await wait_for_events(console, 3)
    assert_metered(events, "streamable_http")
    assert len(events) == 3
