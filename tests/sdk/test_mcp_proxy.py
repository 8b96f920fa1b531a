"""The MCP sidecar with the official MCP SDK on both sides, in stdio and streamable-HTTP mode."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_types import Implementation

from aforo.runtime.postgres import free_port
from tests.sdk.conftest import Console
from tests.sdk.harness import FaultProxy
from tests.services import wait_port

SERVER = str(Path(__file__).with_name("mcp_server.py"))
AGENT = Implementation(name="research-agent", version="2.1.0")
PROXY = [sys.executable, "-m", "aforo_metering.mcp_proxy"]
SCRIPT = str(Path(sys.executable).with_name("aforo-mcp-proxy"))  # the installed console script


def proxy_args(console: Console, url: str | None = None) -> list[str]:
    return ["--url", url or console.url, "--flush-interval", "0.05", "--backoff-cap", "0.3"]


def proxy_env(console: Console) -> dict[str, str]:
    return {**os.environ, "AFORO_TOKEN": console.token}  # the token stays out of argv


async def wait_for_events(console: Console, n: int, **filters: Any) -> list[dict[str, Any]]:
    for _ in range(600):
        events = await console.events(**filters)
        if len(events) >= n:
            return events
        await asyncio.sleep(0.05)
    return await console.events(**filters)


async def drive(client: Client) -> None:
    """The same session for every mode: chatter, two good calls, one failing call."""
    tools = await client.list_tools()
    assert sorted(t.name for t in tools.tools) == ["add", "explode"]
    assert (await client.call_tool("add", {"a": 2, "b": 3})).structured_content == {"result": 5}
    failed = await client.call_tool("explode", {"reason": "on purpose"})
    assert failed.is_error
    assert (await client.call_tool("add", {"a": 40, "b": 2})).structured_content == {"result": 42}


def assert_metered(events: list[dict[str, Any]], transport: str) -> None:
    assert sorted((e["tool"], e["outcome"]) for e in events) == [
        ("add", "success"),
        ("add", "success"),
        ("explode", "tool_error"),
    ]
    assert {e["metric"] for e in events} == {"mcp_tool_calls"}
    assert {e["agent"] for e in events} == {"research-agent"}  # its version is a field apart
    assert len({e["session"] for e in events}) == 1
    assert all(e["properties"] == {"transport": transport} for e in events)
    assert all(e["latency_ms"] is not None and e["request_bytes"] > 0 for e in events)
    assert all(e["response_bytes"] > 0 for e in events)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_stdio_proxy_meters_each_tool_call(
    console: Console, fault_proxy: FaultProxy, mode: str
) -> None:
    params = StdioServerParameters(
        command=PROXY[0],
        args=[*PROXY[1:], *proxy_args(console, fault_proxy.url), "--", sys.executable, SERVER],
        env=proxy_env(console),
    )
    async with Client(params, client_info=AGENT, mode=mode) as client:
        await drive(client)
    events = await wait_for_events(console, 3)
    assert_metered(events, "stdio")
    assert len(events) == 3  # initialize / discover / tools/list are never billed
    per_tool = await console.usage(tool="add", agent="research-agent")
    assert (float(per_tool["total"]), per_tool["events"]) == (2, 2)
    # only tools/call went to the console, and without the tool's arguments or results
    shipped = b"".join(fault_proxy.bodies)
    assert b'"explode"' in shipped and b"tools/list" not in shipped
    assert b"on purpose" not in shipped and b"boom" not in shipped


async def test_stdio_proxy_with_agent_id_and_full_payloads(
    console: Console, fault_proxy: FaultProxy
) -> None:
    params = StdioServerParameters(
        command=PROXY[0],
        args=[
            *PROXY[1:],
            *proxy_args(console, fault_proxy.url),
            "--agent-id",
            "agent-42",
            "--full-payloads",
            "--",
            sys.executable,
            SERVER,
        ],
        env=proxy_env(console),
    )
    async with Client(params, client_info=AGENT, mode="legacy") as client:
        await client.call_tool("add", {"a": 1, "b": 1})
    (event,) = await wait_for_events(console, 1)
    assert (event["agent"], event["consumer"], event["tool"]) == (
        "research-agent",
        "agent-42",
        "add",
    )
    (body,) = [json.loads(b) for b in fault_proxy.bodies]
    (record,) = body["records"]
    assert record["request"]["params"]["arguments"] == {"a": 1, "b": 1}
    assert record["response"]["result"]["structuredContent"] == {"result": 2}


async def test_stdio_relay_is_byte_for_byte(console: Console) -> None:
    """Whatever the client writes reaches the server unchanged, and back: not-JSON lines,
    CRLF, unicode, a partial last line."""
    echo = (
        "import sys\nfor b in iter(lambda: sys.stdin.buffer.read1(65536), b''):\n"
        "    sys.stdout.buffer.write(b); sys.stdout.buffer.flush()\n"
    )
    payload = (
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}\n'
        b"not json at all\r\n"
        + '{"jsonrpc":"2.0","method":"notifications/message","params":{"t":"h\u00e9"}}\n'.encode()
        + b"\x00\xff binary"
    )
    proc = await asyncio.create_subprocess_exec(
        SCRIPT,
        *proxy_args(console),
        "--",
        sys.executable,
        "-c",
        echo,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=proxy_env(console),
    )
    out, _ = await asyncio.wait_for(proc.communicate(payload), 30)
    assert out == payload
    assert proc.returncode == 0


# A scripted stdio server: answers everything at once, except tools/call of "slow" (never).
SCRIPTED = """
import json, sys
for line in sys.stdin:
    msg = json.loads(line)
    if "id" not in msg or msg.get("params", {}).get("name") == "slow":
        continue
    reply = {"jsonrpc": "2.0", "id": msg["id"], "result": {"content": [], "isError": False}}
    sys.stdout.write(json.dumps(reply) + "\\n")
    sys.stdout.flush()
"""


async def test_stdio_cancelled_and_unanswered_calls_are_metered_as_cancelled(
    console: Console,
) -> None:
    def line(obj: dict[str, Any]) -> bytes:
        return json.dumps(obj).encode() + b"\n"

    init = {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"},
    }
    call = {"jsonrpc": "2.0", "method": "tools/call"}
    client_says = b"".join(
        [
            line({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init}),
            line({**call, "id": 1, "params": {"name": "fast", "arguments": {}}}),
            line({**call, "id": 2, "params": {"name": "slow", "arguments": {}}}),
            line(
                {
                    "jsonrpc": "2.0",
                    "method": "notifications/cancelled",
                    "params": {"requestId": 2, "reason": "user gave up"},
                }
            ),
            line({**call, "id": "3", "params": {"name": "slow", "arguments": {}}}),
        ]
    )  # then the client leaves with call "3" still unanswered
    proc = await asyncio.create_subprocess_exec(
        *PROXY,
        *proxy_args(console),
        "--",
        sys.executable,
        "-c",
        SCRIPTED,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=proxy_env(console),
    )
    out, _ = await asyncio.wait_for(proc.communicate(client_says), 30)
    assert [json.loads(x)["id"] for x in out.splitlines()] == [0, 1]
    events = await wait_for_events(console, 3)
    assert sorted((e["tool"], e["outcome"], e["request_id"]) for e in events) == [
        ("fast", "success", "1"),
        ("slow", "cancelled", '"3"'),
        ("slow", "cancelled", "2"),
    ]
    assert {e["agent"] for e in events} == {"raw"}


async def test_stdio_proxy_sends_transcripts_the_console_pairs(
    console: Console, fault_proxy: FaultProxy
) -> None:
    def line(obj: dict[str, Any]) -> bytes:
        return json.dumps(obj).encode() + b"\n"

    init = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": AGENT_INFO}
    call = {"jsonrpc": "2.0", "method": "tools/call"}
    client_says = b"".join(
        [
            line({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init}),
            line({**call, "id": 1, "params": {"name": "fast", "arguments": {"q": "secret"}}}),
            line({**call, "id": 2, "params": {"name": "slow", "arguments": {}}}),
        ]
    )  # call 2 is never answered: the session ends with it pending
    proc = await asyncio.create_subprocess_exec(
        *PROXY,
        *proxy_args(console, fault_proxy.url),
        "--send",
        "transcripts",
        "--agent-id",
        "agent-9",
        "--",
        sys.executable,
        "-c",
        SCRIPTED,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=proxy_env(console),
    )
    await asyncio.wait_for(proc.communicate(client_says), 30)
    events = await wait_for_events(console, 2)
    assert sorted((e["tool"], e["outcome"], e["agent"], e["consumer"]) for e in events) == [
        ("fast", "success", "raw", "agent-9"),
        ("slow", "cancelled", "raw", "agent-9"),
    ]
    assert all(e["properties"] == {"transport": "stdio"} for e in events)
    shipped = [json.loads(b) for b in fault_proxy.bodies]
    transcripts = [t for body in shipped for t in body["transcripts"]]
    assert {t["protocol_version"] for t in transcripts} == {"2025-06-18"}
    assert all(m["direction"] and m["timestamp"] for t in transcripts for m in t["messages"])
    assert b"secret" not in b"".join(fault_proxy.bodies)  # arguments stay with the agent


AGENT_INFO = {"name": "raw", "version": "1"}


def test_proxy_refuses_to_start_without_console_or_server() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFORO_")}
    no_token = subprocess.run(
        [*PROXY, "--url", "http://127.0.0.1:9", "--", "true"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert no_token.returncode == 2 and "--token" in no_token.stderr
    no_server = subprocess.run(
        [*PROXY, "--url", "http://127.0.0.1:9", "--token", "gwt_x"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert no_server.returncode == 2 and "--upstream" in no_server.stderr
    missing = subprocess.run(
        [*PROXY, "--url", "http://127.0.0.1:9", "--token", "gwt_x", "--", "no-such-server-x"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert missing.returncode == 127 and "cannot start server" in missing.stderr


async def test_stdio_console_killed_mid_session_loses_nothing(console: Console) -> None:
    params = StdioServerParameters(
        command=PROXY[0],
        args=[*PROXY[1:], *proxy_args(console), "--", sys.executable, SERVER],
        env=proxy_env(console),
    )
    async with Client(params, client_info=AGENT, mode="legacy") as client:
        await client.call_tool("add", {"a": 2, "b": 3})
        assert len(await wait_for_events(console, 1)) == 1
        await console.server.astop()
        # tool calls are not delayed or broken while the console is down
        assert (await client.call_tool("explode", {"reason": "x"})).is_error
        assert (await client.call_tool("add", {"a": 40, "b": 2})).structured_content == {
            "result": 42
        }
        await asyncio.sleep(0.3)  # a few failed shipping attempts
        await console.server.astart()
        events = await wait_for_events(console, 3)
    assert_metered(events, "stdio")
    assert len(await console.events()) == 3


class HttpMcp:
    """The tiny server over streamable HTTP, with the sidecar in front of it."""

    def __init__(self, console: Console, json_response: bool) -> None:
        self.server_port, self.proxy_port = free_port(), free_port()
        extra = ["json"] if json_response else []
        self.server = subprocess.Popen(
            [sys.executable, SERVER, "http", str(self.server_port), *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.proxy = subprocess.Popen(
            [
                *PROXY,
                *proxy_args(console),
                "--upstream",
                f"http://127.0.0.1:{self.server_port}",
                "--listen",
                f"127.0.0.1:{self.proxy_port}",
            ],
            env=proxy_env(console),
            stderr=subprocess.PIPE,
            text=True,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}/mcp"

    def start(self) -> None:
        wait_port(self.server_port)
        wait_port(self.proxy_port)

    def stop(self) -> str:
        for p in (self.proxy, self.server):
            p.terminate()
        self.server.wait(10)
        _, err = self.proxy.communicate(timeout=10)
        return err


@pytest.fixture
def http_mcp_factory(console: Console) -> Iterator[Any]:
    made: list[HttpMcp] = []

    def make(json_response: bool) -> HttpMcp:
        h = HttpMcp(console, json_response)
        made.append(h)
        h.start()
        return h

    yield make
    for h in made:
        if h.proxy.poll() is None or h.server.poll() is None:
            h.stop()


@pytest.mark.parametrize(
    ("mode", "json_response"), [("legacy", False), ("legacy", True), ("auto", False)]
)
async def test_streamable_http_proxy_meters_each_tool_call(
    console: Console, http_mcp_factory: Any, mode: str, json_response: bool
) -> None:
    h: HttpMcp = await asyncio.to_thread(http_mcp_factory, json_response)
    async with Client(h.url, client_info=AGENT, mode=mode) as client:
        await drive(client)
    events = await wait_for_events(console, 3)
    err = await asyncio.to_thread(h.stop)
    assert_metered(events, "streamable_http")
    assert len(await console.events()) == 3, err


async def test_streamable_http_console_killed_mid_session_loses_nothing(
    console: Console, http_mcp_factory: Any
) -> None:
    h: HttpMcp = await asyncio.to_thread(http_mcp_factory, False)
    async with Client(h.url, client_info=AGENT, mode="legacy") as client:
        await console.server.astop()
        await drive(client)
        await asyncio.sleep(0.3)
        await console.server.astart()
        events = await wait_for_events(console, 3)
    await asyncio.to_thread(h.stop)
    assert_metered(events, "streamable_http")
