"""Pub/sub between the processes of one database: PostgreSQL ``LISTEN`` / ``NOTIFY``.

The bus of several workers on one machine when Redis is not configured (``aforo serve
--workers N``): cache invalidations, live GraphQL subscriptions and try-it events published in
one worker reach the subscribers of every worker.

Every message travels on one PostgreSQL channel, ``aforo_bus``, with its logical channel in
the payload (channel names are longer than PostgreSQL's 63-byte identifiers); each process
listens on one dedicated connection and hands messages to its local subscribers, the
publishing process's own included, so every subscriber sees one order. A payload is limited to
8000 bytes: a longer message is cut into numbered chunks, all sent in one statement (one
transaction, so they arrive together and in order) and put back together by the receivers.

As with Redis pub/sub, delivery is at most once: while the listening connection is down
(a database restart) messages are lost, and the connection is re-established in the
background. Whoever needs to know (the key verifier's cache) watches its own heartbeat come
back through the bus.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from aforo.runtime.bus import MemoryBus
from aforo.runtime.tasks import stop_tasks

log = logging.getLogger(__name__)

PG_CHANNEL = "aforo_bus"
MAX_PAYLOAD = 7999  # PostgreSQL: "must be shorter than 8000 bytes"
RECONNECT_S = (0.1, 0.5, 1.0, 2.0)


def encode(channel: str, message: bytes, msg_id: str) -> list[str]:
    """``message`` on ``channel`` as NOTIFY payloads: ``id n i enc channel\\n`` then data.
    UTF-8 text without NUL goes as is (``t``), anything else base64 (``b``)."""
    try:
        text = message.decode()
        enc = "b" if "\0" in text else "t"
    except UnicodeDecodeError:
        enc = "b"
    data = base64.b64encode(message) if enc == "b" else message
    parts: list[bytes] = []
    # The header's length depends on the count of parts: assume the widest, 9999 parts.
    budget = MAX_PAYLOAD - len(f"{msg_id} 9999 9999 {enc} {channel}\n".encode())
    if budget < 64:
        raise ValueError(f"channel name too long for the bus: {channel[:80]}")
    start = 0
    while True:
        end = min(len(data), start + budget)
        while end < len(data) and (data[end] & 0xC0) == 0x80:
            end -= 1  # never cut a UTF-8 sequence in two
        parts.append(data[start:end])
        start = end
        if start >= len(data):
            break
    n = len(parts)
    return [f"{msg_id} {n} {i} {enc} {channel}\n{p.decode()}" for i, p in enumerate(parts)]


class Reassembly:
    """Chunks back into messages (chunks of one message arrive together, in order; a
    message whose chunks stopped coming - a connection lost mid-way - is dropped)."""

    MAX_PENDING = 1000

    def __init__(self) -> None:
        self.pending: dict[str, list[str]] = {}

    def add(self, payload: str) -> tuple[str, bytes] | None:
        head, _, data = payload.partition("\n")
        try:
            msg_id, n_s, i_s, enc, channel = head.split(" ", 4)
            n, i = int(n_s), int(i_s)
        except ValueError:
            log.warning("bus: an unreadable payload was ignored")
            return None
        if n == 1:
            text = data
        else:
            parts = self.pending.setdefault(msg_id, [])
            if i != len(parts):  # a gap: its start was lost
                self.pending.pop(msg_id, None)
                return None
            parts.append(data)
            if len(parts) < n:
                if len(self.pending) > self.MAX_PENDING:
                    self.pending.pop(next(iter(self.pending)))
                return None
            text = "".join(self.pending.pop(msg_id))
        raw = text.encode()
        return channel, base64.b64decode(raw) if enc == "b" else raw


class PgBus:
    def __init__(self, dsn: str, queue_size: int = 1000) -> None:
        self.dsn = dsn
        self._local = MemoryBus(queue_size)  # this process's subscribers
        self._reassembly = Reassembly()
        self._prefix = f"{os.getpid():x}{os.urandom(3).hex()}"
        self._ids = itertools.count()
        self._listener: asyncpg.Connection | None = None
        self._publisher: asyncpg.Connection | None = None
        self._publish_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()
        self.connections = 0  # listening connections made so far (a reconnect adds one)

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Listen in the background (reconnecting as needed); waits briefly for the first
        connection so a healthy start is subscribed from its first request."""
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="pg-bus-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.listening.wait(), 5.0)

    async def _listen(self) -> None:
        attempt = 0
        while True:
            lost = asyncio.Event()
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(
                    self.dsn, server_settings={"application_name": "aforo-bus"}
                )
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(PG_CHANNEL, self._received)
                self._listener = conn
                self.connections += 1
                self.listening.set()
                attempt = 0
                await lost.wait()
                log.warning("bus: the listening connection was lost; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the database is down or restarting: retry
                log.warning("bus: cannot listen (%s); retrying", type(e).__name__)
            finally:
                self.listening.clear()
                self._listener = None
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(RECONNECT_S[min(attempt, len(RECONNECT_S) - 1)])
            attempt += 1

    async def close(self) -> None:
        if self._task is not None:
            await stop_tasks([self._task])
            self._task = None
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            with contextlib.suppress(Exception):
                await publisher.close(timeout=2)
        await self._local.close()

    # -- receiving -------------------------------------------------------------------------
    def _received(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        message = self._reassembly.add(payload)
        if message is not None:
            self._local.deliver(*message)

    def subscribe(
        self, channel: str
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[bytes]]:
        return self._local.subscribe(channel)

    # -- publishing ------------------------------------------------------------------------
    async def publish(self, channel: str, message: bytes) -> None:
        payloads = encode(channel, message, f"{self._prefix}.{next(self._ids):x}")
        async with self._publish_lock:
            for attempt in range(2):
                try:
                    if self._publisher is None or self._publisher.is_closed():
                        self._publisher = await asyncpg.connect(
                            self.dsn, server_settings={"application_name": "aforo-bus"}
                        )
                    # One statement, one transaction: the chunks arrive together, in order.
                    await self._publisher.execute(
                        "select pg_notify($1, p) from unnest($2::text[]) as p",
                        PG_CHANNEL,
                        payloads,
                    )
                    return
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
                    publisher, self._publisher = self._publisher, None
                    if publisher is not None:
                        publisher.terminate()
                    if attempt:  # best effort, as Redis pub/sub: say so and go on
                        log.warning("bus publish failed: %s", type(e).__name__)
