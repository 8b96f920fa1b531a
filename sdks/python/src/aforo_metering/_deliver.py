"""Sending one batch until the service has settled it: retries, backoff, splitting on 413.

A batch keeps its event ids across attempts, so a retry after a lost response is counted once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import httpx

from aforo_metering._core import Settings, Stats, backoff, judge, log


class Aborted(Exception):
    """Raised when the owner gave up waiting (close timed out) with the batch still unsent."""


def deliver_sync(
    http: httpx.Client,
    items: list[dict[str, Any]],
    settings: Settings,
    stats: Stats,
    stop: threading.Event,
    on_attempt_failed: Callable[[], None] | None = None,
) -> None:
    attempt = 0
    while True:
        if stop.is_set():
            raise Aborted
        retry_after: float | None = None
        try:
            response = http.post(settings.path, json={settings.key: items})
        except httpx.HTTPError as e:
            log.info("aforo: send failed (%s), will retry", type(e).__name__)
        else:
            verdict = judge(response, len(items), stats)
            if verdict.done:
                return
            if verdict.split:
                half = len(items) // 2
                deliver_sync(http, items[:half], settings, stats, stop, on_attempt_failed)
                deliver_sync(http, items[half:], settings, stats, stop, on_attempt_failed)
                return
            retry_after = verdict.retry_after
        stats.retries += 1
        if on_attempt_failed:
            on_attempt_failed()
        if stop.wait(backoff(attempt, settings, retry_after)):
            raise Aborted
        attempt += 1


async def deliver_async(
    http: httpx.AsyncClient,
    items: list[dict[str, Any]],
    settings: Settings,
    stats: Stats,
    stop: asyncio.Event,
) -> None:
    attempt = 0
    while True:
        if stop.is_set():
            raise Aborted
        retry_after: float | None = None
        try:
            response = await http.post(settings.path, json={settings.key: items})
        except httpx.HTTPError as e:
            log.info("aforo: send failed (%s), will retry", type(e).__name__)
        else:
            verdict = judge(response, len(items), stats)
            if verdict.done:
                return
            if verdict.split:
                half = len(items) // 2
                await deliver_async(http, items[:half], settings, stats, stop)
                await deliver_async(http, items[half:], settings, stats, stop)
                return
            retry_after = verdict.retry_after
        stats.retries += 1
        try:
            await asyncio.wait_for(stop.wait(), backoff(attempt, settings, retry_after))
        except TimeoutError:
            attempt += 1
            continue
        raise Aborted


def drain_at_exit(
    base_url: str,
    headers: dict[str, str],
    items: list[dict[str, Any]],
    settings: Settings,
    stats: Stats,
) -> None:
    """Last chance at interpreter exit, when no event loop is left: send synchronously within
    ``exit_timeout`` seconds."""
    if not items:
        return
    stop = threading.Event()
    timer = threading.Timer(settings.exit_timeout, stop.set)
    timer.daemon = True
    timer.start()
    sent = 0
    try:
        with httpx.Client(base_url=base_url, headers=headers, timeout=settings.timeout) as http:
            while sent < len(items):
                chunk = items[sent : sent + settings.batch_size]
                deliver_sync(http, chunk, settings, stats, stop)
                sent += len(chunk)
    except Aborted:
        stats.failed += len(items) - sent
        log.error("aforo: %d events unsent at exit (service unreachable)", len(items) - sent)
    finally:
        timer.cancel()
