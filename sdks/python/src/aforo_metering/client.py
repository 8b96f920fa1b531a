"""``Client``: the synchronous flavour, sending from one background thread."""

from __future__ import annotations

import atexit
import collections
import os
import threading
import time
import weakref
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Self

import httpx

from aforo_metering._core import OverflowPolicy, Settings, Stats, build_event, headers, log
from aforo_metering._deliver import Aborted, deliver_sync
from aforo_metering._version import __version__

USER_AGENT = f"aforo-metering-python/{__version__}"


class ThreadShipper:
    """A bounded buffer drained by a daemon thread in batches (by size, or every
    ``flush_interval`` seconds). Items leave the buffer only once the service has settled
    them, so the bound covers what is in flight too."""

    def __init__(
        self,
        base_url: str,
        token: str,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not token:
            raise ValueError("token is required")
        self.settings = settings
        self.stats = Stats()
        self._base_url = base_url.rstrip("/")
        self._headers = headers(token, USER_AGENT)
        self._transport = transport
        self._start()
        # Weak references: registering bound methods would keep every client alive forever.
        ref = weakref.ref(self)
        self._atexit = lambda: _close_ref(ref)
        atexit.register(self._atexit)
        os.register_at_fork(after_in_child=lambda: _restart_ref(ref))

    def _start(self) -> None:
        self._http = httpx.Client(
            base_url=self._base_url,
            headers=self._headers,
            timeout=self.settings.timeout,
            transport=self._transport,
        )
        self._buf: collections.deque[dict[str, Any]] = collections.deque()
        self._cond = threading.Condition()
        self._queued = 0  # items ever accepted into the buffer
        self._settled = 0  # items ever removed from it (sent, refused or abandoned)
        self._flush_wanted = 0
        self._closing = False
        self._closed = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aforo-metering", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Items buffered or in flight."""
        with self._cond:
            return len(self._buf)

    def enqueue(self, item: dict[str, Any], *, block: bool | None = None) -> bool:
        """Buffer one item; False if it was dropped (buffer full under the DROP policy)."""
        if block is None:
            block = self.settings.overflow is OverflowPolicy.BLOCK
        with self._cond:
            if self._closing:
                self.stats.dropped += 1
                log.warning("aforo: record() after close(); event dropped")
                return False
            while len(self._buf) >= self.settings.max_buffer:
                if not block:
                    self.stats.dropped += 1
                    return False
                self._cond.wait()
                if self._closing:
                    self.stats.dropped += 1
                    return False
            self._buf.append(item)
            self._queued += 1
            if len(self._buf) >= self.settings.batch_size:
                self._cond.notify_all()
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything recorded so far; True once the service has settled all of it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._queued
            self._flush_wanted += 1
            self._cond.notify_all()
            try:
                while self._settled < target:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    if not self._thread.is_alive():
                        return False
                    self._cond.wait(remaining)
            finally:
                self._flush_wanted -= 1
        return True

    def close(self, timeout: float | None = 10.0) -> None:
        """Flush, then stop the thread; what is still unsent after ``timeout`` is counted in
        ``stats.failed``."""
        if self._closed:
            return
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join(5)
        with self._cond:
            if self._buf:
                self.stats.failed += len(self._buf)
                log.error("aforo: %d events unsent at close (service unreachable)", len(self._buf))
                self._buf.clear()
        self._closed = True
        self._http.close()
        atexit.unregister(self._atexit)

    def _run(self) -> None:
        interval = self.settings.flush_interval
        while True:
            with self._cond:
                deadline = time.monotonic() + interval
                while not self._closing and not (
                    len(self._buf) >= self.settings.batch_size or (self._flush_wanted and self._buf)
                ):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                if not self._buf:
                    if self._closing:
                        return
                    continue
                batch = [self._buf[i] for i in range(min(len(self._buf), self.settings.batch_size))]
            try:
                deliver_sync(self._http, batch, self.settings, self.stats, self._stop)
            except Aborted:
                return
            except Exception:  # a bug here must never kill metering silently
                log.exception("aforo: unexpected error while sending; batch dropped")
                self.stats.failed += len(batch)
            with self._cond:
                for _ in batch:
                    self._buf.popleft()
                self._settled += len(batch)
                self._cond.notify_all()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _restart_ref(ref: weakref.ref[ThreadShipper]) -> None:
    """A forked child (gunicorn --preload, multiprocessing) has the client but not its thread:
    start afresh. What the parent had buffered is the parent's to send."""
    shipper = ref()
    if shipper is not None and not shipper._closed:
        shipper.stats = Stats()
        shipper._start()


def _close_ref(ref: weakref.ref[ThreadShipper]) -> None:
    shipper = ref()
    if shipper is not None:
        shipper.close(shipper.settings.exit_timeout)


class Client(ThreadShipper):
    """Records usage events and ships them to ``POST /v1/usage/events``.

    ``record`` only appends to an in-memory buffer; a daemon thread sends batches with
    retries. Buffered events are flushed by ``flush()``, ``close()`` and at interpreter exit.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_buffer: int = 100_000,
        overflow: OverflowPolicy | str = OverflowPolicy.DROP,
        timeout: float = 10.0,
        exit_timeout: float = 5.0,
        backoff_base: float = 0.2,
        backoff_cap: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        settings = Settings(
            path="/v1/usage/events",
            key="events",
            batch_size=batch_size,
            flush_interval=flush_interval,
            max_buffer=max_buffer,
            overflow=OverflowPolicy(overflow),
            timeout=timeout,
            exit_timeout=exit_timeout,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
        )
        super().__init__(base_url, token, settings, transport=transport)

    def record(
        self,
        metric: str,
        quantity: float = 1,
        *,
        subscription_id: str | None = None,
        key_id: str | None = None,
        consumer: str | None = None,
        properties: Mapping[str, Any] | None = None,
        event_id: str | None = None,
        occurred_at: datetime | str | None = None,
        block: bool | None = None,
        **fields: Any,
    ) -> str:
        """Buffer one event and return its id. ``fields`` are the optional request fields
        (method, path, route, status, latency_ms, request_bytes, response_bytes, ...)."""
        event = build_event(
            metric,
            quantity,
            subscription_id=subscription_id,
            key_id=key_id,
            consumer=consumer,
            properties=properties,
            event_id=event_id,
            occurred_at=occurred_at,
            extra=fields,
        )
        self.enqueue(event, block=block)
        eid: str = event["event_id"]
        return eid
