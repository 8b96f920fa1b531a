"""stdio mode: spawn the MCP server and relay bytes both ways, unchanged.

Bytes are forwarded as soon as they are read; a copy is split into lines (MCP stdio frames
one JSON-RPC message per line) and observed after the forward, so metering never delays the
relay. Shipping happens in the shipper's own task.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from aforo_metering._core import log
from aforo_metering.mcp_proxy.observer import Observer, Session, parse

CHUNK = 64 * 1024
_background: set[asyncio.Task[None]] = set()
MAX_LINE = 32 * 1024 * 1024  # lines longer than this are relayed but not observed


class LineSplitter:
    def __init__(self, on_line: Callable[[bytes], None]) -> None:
        self.on_line = on_line
        self.partial = bytearray()
        self.oversized = False

    def feed(self, data: bytes) -> None:
        start = 0
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                break
            if not self.oversized:
                self.partial += data[start:nl]
                line = bytes(self.partial).strip()
                if line:
                    self.on_line(line)
            self.partial.clear()
            self.oversized = False
            start = nl + 1
        if not self.oversized:
            self.partial += data[start:]
            if len(self.partial) > MAX_LINE:
                self.partial.clear()
                self.oversized = True


async def _stdin_reader() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=CHUNK)
    try:
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader),
            os.fdopen(0, "rb", buffering=0, closefd=False),
        )
    except ValueError:
        # A regular file or other non-pipe stdin: read it from a thread instead.
        async def pump() -> None:
            while chunk := await asyncio.to_thread(os.read, 0, CHUNK):
                reader.feed_data(chunk)
            reader.feed_eof()

        _background.add(task := loop.create_task(pump()))
        task.add_done_callback(_background.discard)
    return reader


def _write_stdout(data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(1, view)
        view = view[n:]


async def _stdout_writer() -> Callable[[bytes], Awaitable[None]]:
    """An async writer to our stdout; a regular file as stdout is written from a thread."""
    loop = asyncio.get_running_loop()
    try:
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(1, "wb", buffering=0, closefd=False)
        )
    except ValueError:

        async def threaded(data: bytes) -> None:
            await asyncio.to_thread(_write_stdout, data)

        return threaded
    writer = asyncio.StreamWriter(transport, protocol, None, loop)

    async def write(data: bytes) -> None:
        writer.write(data)
        await writer.drain()

    return write


async def relay(
    command: list[str],
    observer: Observer,
    *,
    session: Session | None = None,
) -> int:
    """Run ``command`` behind the relay; returns its exit code."""
    session = session or Session()
    proc = await asyncio.create_subprocess_exec(
        *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None
    child_in, child_out = proc.stdin, proc.stdout

    def observe_client(line: bytes) -> None:
        msg = parse(line)
        if msg is not None:
            observer.client_message(session, msg, len(line))

    def observe_server(line: bytes) -> None:
        msg = parse(line)
        if msg is not None:
            observer.server_message(session, msg, len(line))

    async def client_to_server() -> None:
        reader = await _stdin_reader()
        splitter = LineSplitter(_guard(observe_client))
        try:
            while chunk := await reader.read(CHUNK):
                child_in.write(chunk)
                await child_in.drain()
                splitter.feed(chunk)
        except (BrokenPipeError, ConnectionResetError):
            return
        with contextlib.suppress(OSError):
            child_in.write_eof()

    async def server_to_client() -> None:
        splitter = LineSplitter(_guard(observe_server))
        write = await _stdout_writer()
        while chunk := await child_out.read(CHUNK):
            try:
                await write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                return
            splitter.feed(chunk)

    loop = asyncio.get_running_loop()

    def forward(sig: int) -> None:
        if proc.returncode is None:
            proc.send_signal(sig)

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, forward, sig)

    upstream = asyncio.create_task(client_to_server())
    await server_to_client()
    code = await proc.wait()
    upstream.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await upstream
    observer.end(session)
    return code


def _guard(fn: Callable[[bytes], None]) -> Callable[[bytes], None]:
    def safe(line: bytes) -> None:
        try:
            fn(line)
        except Exception:  # observation must never take the relay down
            log.exception("aforo: could not observe a message")

    return safe


def main_stdio(command: list[str], shipper: Any, observer: Observer, flush_timeout: float) -> int:
    async def go() -> int:
        try:
            code = await relay(command, observer)
        finally:
            await shipper.aclose(flush_timeout)
        return code

    code = asyncio.run(go())
    sys.stdout.flush()
    return code
