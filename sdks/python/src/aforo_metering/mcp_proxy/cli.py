"""``aforo-mcp-proxy``: meter every ``tools/call`` of an MCP server without changing it.

aforo-mcp-proxy --url https://console.example --token $TOKEN -- python server.py
aforo-mcp-proxy --url … --token … --upstream http://127.0.0.1:9000 --listen 127.0.0.1:8931
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from aforo_metering._core import OverflowPolicy, Settings
from aforo_metering.aio import AsyncShipper
from aforo_metering.mcp_proxy.observer import Observer


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aforo-mcp-proxy",
        description="Relay an MCP server unchanged and meter its tools/call requests.",
        epilog="stdio mode: put the server command after `--`. "
        "HTTP mode: give --upstream (and --listen).",
    )
    p.add_argument(
        "--url", default=os.environ.get("AFORO_URL"), help="console base URL (env AFORO_URL)"
    )
    p.add_argument(
        "--token",
        default=os.environ.get("AFORO_TOKEN"),
        help="gateway token (env AFORO_TOKEN; prefer the env var: argv is visible)",
    )
    p.add_argument(
        "--agent-id",
        default=os.environ.get("AFORO_AGENT_ID"),
        help="agent client id to attribute calls to (default: clientInfo only)",
    )
    p.add_argument("--upstream", help="HTTP mode: base URL of the MCP server")
    p.add_argument("--listen", default="127.0.0.1:8931", help="HTTP mode: host:port to serve")
    p.add_argument("--batch-size", type=int, default=200)
    p.add_argument("--flush-interval", type=float, default=1.0, help="seconds")
    p.add_argument(
        "--max-buffer",
        type=int,
        default=100_000,
        help="records kept while the console is unreachable; beyond, dropped",
    )
    p.add_argument("--backoff-cap", type=float, default=30.0, help="max seconds between retries")
    p.add_argument(
        "--flush-timeout",
        type=float,
        default=1.5,
        help="seconds to keep sending at exit (MCP clients kill servers after ~2s)",
    )
    p.add_argument(
        "--send",
        choices=("records", "transcripts"),
        default=os.environ.get("AFORO_MCP_SEND", "records"),
        help="records: one metering record per call (default); transcripts: the call's raw "
        "JSON-RPC messages with direction and time, paired by the console",
    )
    p.add_argument(
        "--full-payloads",
        action="store_true",
        help="ship tool arguments and results too (default: tool name, outcome and sizes only)",
    )
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- server command and arguments")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    logging.basicConfig(  # stderr: stdout belongs to the protocol in stdio mode
        stream=sys.stderr,
        level=logging.INFO if args.verbose else logging.WARNING,
        format="aforo-mcp-proxy: %(message)s",
    )
    if not args.url or not args.token:
        print(
            "aforo-mcp-proxy: --url and --token (or AFORO_URL / AFORO_TOKEN) are required",
            file=sys.stderr,
        )
        return 2
    if bool(command) == bool(args.upstream):
        print(
            "aforo-mcp-proxy: give either a server command after `--` or --upstream",
            file=sys.stderr,
        )
        return 2
    settings = Settings(
        path="/v1/usage/mcp",
        key="transcripts" if args.send == "transcripts" else "records",
        batch_size=args.batch_size,
        flush_interval=args.flush_interval,
        max_buffer=args.max_buffer,
        overflow=OverflowPolicy.DROP,
        backoff_cap=args.backoff_cap,
        exit_timeout=args.flush_timeout,
    )
    shipper = AsyncShipper(args.url, args.token, settings)
    if command:
        from aforo_metering.mcp_proxy.stdio import main_stdio

        observer = Observer(
            shipper.enqueue_nowait,
            transport="stdio",
            agent_id=args.agent_id,
            full_payloads=args.full_payloads,
            transcripts=args.send == "transcripts",
        )
        try:
            return main_stdio(command, shipper, observer, args.flush_timeout)
        except FileNotFoundError as e:
            print(f"aforo-mcp-proxy: cannot start server: {e}", file=sys.stderr)
            return 127
    return asyncio.run(_serve_http(args, shipper))


async def _serve_http(args: argparse.Namespace, shipper: AsyncShipper) -> int:
    try:
        import uvicorn
    except ImportError:
        print(
            "aforo-mcp-proxy: HTTP mode needs `pip install aforo-metering[mcp-http]`",
            file=sys.stderr,
        )
        return 2
    from aforo_metering.mcp_proxy.http import HttpProxy

    observer = Observer(
        shipper.enqueue_nowait,
        transport="streamable_http",
        agent_id=args.agent_id,
        full_payloads=args.full_payloads,
        transcripts=args.send == "transcripts",
    )
    proxy = HttpProxy(args.upstream, observer)
    host, _, port = args.listen.rpartition(":")
    server = uvicorn.Server(
        uvicorn.Config(
            proxy, host=host or "127.0.0.1", port=int(port), log_level="warning", lifespan="on"
        )
    )
    try:
        await server.serve()
    finally:
        await shipper.aclose(args.flush_timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
