"""Stopping background tasks so that a shutdown can never hang."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

log = logging.getLogger(__name__)


async def stop_tasks(tasks: Iterable[asyncio.Task[None]], within: float = 5.0) -> None:
    """Cancel ``tasks`` and wait for them to end.

    A single ``cancel()`` is not enough: a client library may swallow the ``CancelledError`` it
    receives in the middle of a call (redis-py does, inside a command), and the task then runs
    on while the shutdown awaits it forever. So cancellation is repeated until every task has
    ended, for up to ``within`` seconds; a task still running after that is logged and left.
    """
    pending = {t for t in tasks if not t.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while pending and loop.time() < deadline:
        for t in pending:
            t.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.1)
    for t in pending:
        log.warning("background task %s did not stop within %.1fs", t.get_name(), within)
