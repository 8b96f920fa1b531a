"""``AsyncClient``: the asyncio flavour, sending from one task on the caller's event loop."""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import weakref
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Self

import httpx

from aforo_metering._core import OverflowPolicy, Settings, Stats, build_event, headers, log
from aforo_metering._deliver import Aborted, deliver_async, drain_at_exit
from aforo_metering.client import USER_AGENT


class AsyncShipper:
    """The asyncio twin of ``ThreadShipper``. The task starts with the first item; at
    interpreter exit, anything still buffered is sent synchronously (the loop is gone)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not token:
            raise ValueError("token is required")
        self.settings = settings
        self.stats = Stats()
        self._base_url = base_url.rstrip("/")
        self._headers = headers(token, USER_AGENT)
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._buf: collections.deque[dict[str, Any]] = collections.deque()
        self._changed: asyncio.Condition | None = None
        self._task: asyncio.Task[None] | None = None
        self._waking: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._queued = 0
        self._settled = 0
        self._flush_wanted = 0
        self._closing = False
        ref = weakref.ref(self)
        self._atexit = lambda: _drain_ref(ref)
        atexit.register(self._atexit)

    @property
    def pending(self) -> int:
        return len(self._buf)

    def _ensure_task(self) -> asyncio.Condition:
        if self._task is None or self._task.done():
            self._changed = asyncio.Condition()
            self._stop = asyncio.Event()
            self._waking = None
            self._http = httpx.AsyncClient(
                base_url=self._base_url,
                headers=self._headers,
                timeout=self.settings.timeout,
                transport=self._transport,
            )
            self._task = asyncio.get_running_loop().create_task(self._run(), name="aforo-metering")
        assert self._changed is not None
        return self._changed

    def enqueue_nowait(self, item: dict[str, Any]) -> bool:
        """Buffer one item without ever waiting; False if the buffer was full (dropped)."""
        if self._closing:
            self.stats.dropped += 1
            log.warning("aforo: record() after close(); event dropped")
            return False
        changed = self._ensure_task()
        if len(self._buf) >= self.settings.max_buffer:
            self.stats.dropped += 1
            return False
        self._buf.append(item)
        self._queued += 1
        if len(self._buf) >= self.settings.batch_size:
            self._wake(changed)
        return True

    async def enqueue(self, item: dict[str, Any], *, block: bool | None = None) -> bool:
        if block is None:
            block = self.settings.overflow is OverflowPolicy.BLOCK
        changed = self._ensure_task()
        if block:
            async with changed:
                await changed.wait_for(
                    lambda: self._closing or len(self._buf) < self.settings.max_buffer
                )
        return self.enqueue_nowait(item)

    def _wake(self, changed: asyncio.Condition) -> None:
        if self._waking is not None:
            return  # one wake-up is enough until the sender has run

        async def notify() -> None:
            async with changed:
                self._waking = None
                changed.notify_all()

        # Condition.notify needs the lock; a task keeps enqueue_nowait synchronous.
        self._waking = asyncio.get_running_loop().create_task(notify())

    async def flush(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        if not self._buf:
            return True
        changed = self._ensure_task()
        target = self._queued
        async with changed:
            self._flush_wanted += 1
            changed.notify_all()
            try:
                await asyncio.wait_for(
                    changed.wait_for(lambda: self._settled >= target or self._task_done()),
                    timeout,
                )
            except TimeoutError:
                return False
            finally:
                self._flush_wanted -= 1
        return self._settled >= target

    def _task_done(self) -> bool:
        return self._task is None or self._task.done()

    async def aclose(self, timeout: float | None = 10.0) -> None:  # noqa: ASYNC109
        self._closing = True
        if self._task is not None and not self._task.done():
            assert self._changed is not None and self._stop is not None
            async with self._changed:
                self._changed.notify_all()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                self._stop.set()
                await self._task
        if self._buf:
            self.stats.failed += len(self._buf)
            log.error("aforo: %d items unsent at close (service unreachable)", len(self._buf))
            self._buf.clear()
        if self._http is not None:
            await self._http.aclose()
        atexit.unregister(self._atexit)

    async def _run(self) -> None:
        assert self._changed is not None and self._stop is not None and self._http is not None
        changed = self._changed
        while True:
            async with changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        changed.wait_for(
                            lambda: (
                                self._closing
                                or len(self._buf) >= self.settings.batch_size
                                or bool(self._flush_wanted and self._buf)
                            )
                        ),
                        self.settings.flush_interval,
                    )
                if not self._buf:
                    if self._closing:
                        return
                    continue
                n = min(len(self._buf), self.settings.batch_size)
                batch = [self._buf[i] for i in range(n)]
            try:
                await deliver_async(self._http, batch, self.settings, self.stats, self._stop)
            except Aborted:
                return
            except Exception:
                log.exception("aforo: unexpected error while sending; batch dropped")
                self.stats.failed += len(batch)
            async with changed:
                for _ in batch:
                    self._buf.popleft()
                self._settled += len(batch)
                changed.notify_all()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _drain_ref(ref: weakref.ref[AsyncShipper]) -> None:
    shipper = ref()
    if shipper is not None and shipper._buf:
        items = list(shipper._buf)
        shipper._buf.clear()
        drain_at_exit(shipper._base_url, shipper._headers, items, shipper.settings, shipper.stats)


class AsyncClient(AsyncShipper):
    """Records usage events from asyncio code; ``await record(...)`` never performs I/O
    (it only waits for room under the BLOCK policy)."""

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
        transport: httpx.AsyncBaseTransport | None = None,
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

    async def record(
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
        await self.enqueue(event, block=block)
        eid: str = event["event_id"]
        return eid

    def record_nowait(
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
        **fields: Any,
    ) -> str:
        """Like ``record`` but never waits: a full buffer drops the event (``stats.dropped``).
        Must be called on the event loop's thread."""
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
        self.enqueue_nowait(event)
        eid: str = event["event_id"]
        return eid
