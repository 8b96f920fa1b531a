"""Shared pieces of the schemathesis fuzz suites: the example budget, the run loop that drives
hypothesis from a worker thread against the in-process ASGI app, and the checks every answer
must pass (no 5xx; every 4xx a machine-readable error with a stable code)."""

from __future__ import annotations

import asyncio
import json
import os
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from hypothesis import HealthCheck, Phase, settings

# CI budget per operation; a longer run by hand: AFORO_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz_*.
EXAMPLES = int(os.environ.get("AFORO_FUZZ_EXAMPLES", "0") or 0)


def profile(default: int) -> settings:
    return settings(
        max_examples=EXAMPLES or default,
        deadline=None,
        database=None,
        # Failures are collected, not raised, so shrinking would never run anyway.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


def error_code(status: int, body: Any) -> str | None:
    """The stable code of a refusal, whatever the endpoint family, or None when unclear."""
    if not isinstance(body, dict):
        return None
    err = body.get("error")
    if isinstance(err, dict) and isinstance(err.get("code"), str) and err.get("message"):
        return str(err["code"])
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        code = (errors[0].get("extensions") or {}).get("code")
        if isinstance(code, str) and errors[0].get("message"):
            return code
    rejected = body.get("rejected")  # usage ingestion: the envelope was refused
    if body.get("outcome") == "REJECTED" and isinstance(rejected, list) and rejected:
        code = rejected[0].get("code") if isinstance(rejected[0], dict) else None
        return code if isinstance(code, str) else None
    if isinstance(err, str) and body.get("status") in ("failed", "FAILED"):  # a failed upload job
        return err
    if body.get("outcome") == "REJECTED" and isinstance(errors, list) and errors:
        first = errors[0]  # an upload whose every row was refused: each row's own code
        code = first.get("code") if isinstance(first, dict) else None
        return code if isinstance(code, str) else None
    if body.get("valid") is False and isinstance(body.get("code"), str):
        return str(body["code"])  # a key verdict: refused, and why
    if isinstance(err, str) and isinstance(body.get("error_description"), str):
        return err  # OAuth 2.0 token endpoint (RFC 6749 §5.2)
    if isinstance(body.get("errorMessage"), str) and "requestId" in body:
        return "FIREHOSE_ERROR"  # the response shape Kinesis Data Firehose requires
    return None


@dataclass
class Tally:
    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    problems: dict[tuple[str, int, str], str] = field(default_factory=dict)

    @property
    def server_errors(self) -> int:
        return sum(n for s, n in self.by_status.items() if s >= 500)

    def record(self, label: str, request: str, response: httpx.Response) -> None:
        self.requests += 1
        status = response.status_code
        self.by_status[status] = self.by_status.get(status, 0) + 1
        try:
            body = response.json()
        except ValueError:
            body = None
        if status >= 500 or (status >= 400 and error_code(status, body) is None):
            self.problems.setdefault((label, status, response.text[:120]), request)

    def report(self, name: str) -> str:
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(self.by_status.items()))
        return f"{name}: {self.requests} requests, {self.server_errors} 5xx ({statuses})"

    def failures(self) -> str:
        lines = [
            f"{label} -> {status} {body!r}\n    {request}"
            for (label, status, body), request in list(self.problems.items())[:15]
        ]
        return "\n".join(lines)


def describe(request: httpx.Request) -> str:
    content = request.content[:300]
    headers = {k: v for k, v in request.headers.items() if k not in ("host", "accept-encoding")}
    return f"{request.method} {request.url} {json.dumps(headers)} {content!r}"


async def in_worker(run: Callable[[Callable[[Awaitable[Any]], Any]], None]) -> None:
    """Run a synchronous hypothesis test in a thread; it sends requests through ``call``, which
    executes each coroutine on this event loop (where the app and its pools live)."""
    loop = asyncio.get_running_loop()

    def call(coro: Awaitable[Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(60)  # type: ignore[arg-type]

    await asyncio.to_thread(run, call)


@asynccontextmanager
async def as_served(app: Any, crashes: list[str]) -> AsyncIterator[httpx.AsyncClient]:
    """A client that sees what a server would send: an unhandled exception is a 500 to
    count and report (its traceback kept in ``crashes``), not an exception ending the run."""

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        try:
            await app(scope, receive, send)
        except Exception:
            crashes.append(traceback.format_exc())
            raise

    transport = httpx.ASGITransport(app=recording, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as c:
        yield c
