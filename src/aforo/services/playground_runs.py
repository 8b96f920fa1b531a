"""Running try-it requests: the per-user rate limit, the pooled executor, and live events.

A run is prepared from one read (the operation, the allow-list, the caller's right to the
key) with the key's token of an earlier run, or in one short transaction when the token is
minted; it is sent with no database connection held, then recorded and metered in batches.

Live runs publish their phase events (``DNS_RESOLVED``, ``CONNECTED``, ``TLS_DONE``,
``FIRST_BYTE``, then ``COMPLETED`` or ``ERROR``) on the bus channel of the run, and keep the
events so far in the shared cache (the run's log, a few minutes). A follower - on any worker
or instance, the bus and the shared cache being Redis or PostgreSQL (``runtime.processes``) -
subscribes to the channel first, then reads
the log, then streams what arrives, skipping what it has seen by sequence number: it can join
at any moment without missing or repeating an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from aforo.errors import DomainError, NotFound
from aforo.runtime.outbound import ClientPool, OutboundError, Policy, policy_of
from aforo.runtime.state import Runtime
from aforo.runtime.tasks import stop_tasks
from aforo.services import key_verify, playground
from aforo.services.api_keys import IssuedToken
from aforo.services.playground import Prepared, Result, TryInput
from aforo.services.usage import quota as usage_quota
from aforo.tenancy.context import Role, TenantContext

log = logging.getLogger(__name__)

EXTRA_KEY = "playground"
LOG_TTL_S = 300.0
TERMINAL = ("COMPLETED", "ERROR")
TOKEN_REUSE_MIN_S = 30.0  # a token handed to the API has at least this long to live
TOKEN_CACHE_MAX = 10_000


@dataclass(frozen=True)
class Limits:
    per_minute: int = 30
    timeout_s: float = 10.0
    max_bytes: int = 1024 * 1024
    max_redirects: int = 3


class Recorder:
    """Writes finished runs and their usage off the caller's path: the runs of up to
    ``GATHER_S`` go in one transaction per tenant (one insert, one usage batch): a batch's
    fixed cost is most of a small one's, and it is paid on the instance serving try-it.
    ``flush`` writes at once and waits for everything queued so far: a reader on this
    instance always sees its own runs, a live run is recorded before it reports COMPLETED.
    A failed batch is retried; it is dropped (and logged) only after ``RETRIES`` attempts, or
    when the app stops during a database outage."""

    RETRIES = 5
    GATHER_S = 0.25

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.pending: list[tuple[uuid.UUID, playground.RunRecord]] = []
        self.queued = 0
        self.written = 0
        self._wake = asyncio.Event()
        self._hurry = asyncio.Event()  # someone waits: write what there is now
        self._done = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    def add(self, tenant_id: uuid.UUID, record: playground.RunRecord) -> None:
        self.pending.append((tenant_id, record))
        self.queued += 1
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop())
        self._wake.set()

    async def flush(self) -> None:
        target = self.queued
        if self.written < target:
            self._hurry.set()
        async with self._done:
            await self._done.wait_for(lambda: self.written >= target)

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()  # before gathering: a run added from here on wakes us again
            # Gather what else finishes meanwhile: one write per batch, not per run.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hurry.wait(), self.GATHER_S)
            self._hurry.clear()
            batch, self.pending = self.pending, []
            if not batch:
                continue
            await self._write(batch)
            async with self._done:
                self.written += len(batch)
                self._done.notify_all()

    async def _write(self, batch: list[tuple[uuid.UUID, playground.RunRecord]]) -> None:
        by_tenant: dict[uuid.UUID, list[playground.RunRecord]] = {}
        for tenant_id, record in batch:
            by_tenant.setdefault(tenant_id, []).append(record)
        for tenant_id, records in by_tenant.items():
            for attempt in range(self.RETRIES):
                try:
                    async with self.runtime.transaction(tenant_id) as session:
                        written = await playground.record(session, records)
                except Exception:
                    log.exception("recording %d try-it runs failed", len(records))
                    await asyncio.sleep(0.2 * 2**attempt)
                    continue
                if written is not None:
                    usage_quota.forget(self.runtime, tenant_id, written.subscriptions)
                break

    async def aclose(self) -> None:
        if self._task is not None:
            if self.pending or self.written < self.queued:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(10):
                        await self.flush()
            await stop_tasks([self._task])


@dataclass
class Executor:
    """The process-wide part of the playground: pooled connections, limits, background runs,
    the recorder."""

    limits: Limits = field(default_factory=Limits)
    pool: ClientPool = field(default_factory=ClientPool)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    # Tokens minted per (tenant, user, key), reused while they have time left: minting
    # checks ownership in the database, the verifier's check of a known token usually not.
    tokens: dict[tuple[uuid.UUID, uuid.UUID, uuid.UUID], tuple[IssuedToken, float]] = field(
        default_factory=dict
    )
    _recorder: Recorder | None = None

    def recorder(self, runtime: Runtime) -> Recorder:
        if self._recorder is None:
            self._recorder = Recorder(runtime)
        return self._recorder

    async def aclose(self) -> None:
        await stop_tasks(list(self.tasks))
        if self._recorder is not None:
            await self._recorder.aclose()
        await self.pool.aclose()


async def flush(runtime: Runtime) -> None:
    """Wait until this instance's finished runs are in the database."""
    ex = runtime.extra.get(EXTRA_KEY)
    if isinstance(ex, Executor) and ex._recorder is not None:
        await ex._recorder.flush()


def executor(runtime: Runtime) -> Executor:
    found = runtime.extra.get(EXTRA_KEY)
    if found is None:
        limits = Limits(per_minute=runtime.settings.playground_rate_per_minute)
        found = runtime.extra[EXTRA_KEY] = Executor(limits=limits)
    assert isinstance(found, Executor)
    return found


@contextlib.asynccontextmanager
async def lifespan(runtime: Runtime, state: Any) -> AsyncIterator[None]:
    """Close the pooled connections and stop background runs with the app."""
    ex = executor(runtime)
    try:
        yield
    finally:
        await ex.aclose()


# -- the rate limit --------------------------------------------------------------------------
async def check_rate(runtime: Runtime, tenant_id: uuid.UUID, user_id: uuid.UUID) -> None:
    limit = executor(runtime).limits.per_minute
    count = await runtime.shared.incr(f"aforo:{tenant_id}:playground:rate:{user_id}", 60.0)
    if count > limit:
        raise DomainError(
            f"at most {limit} try-it runs a minute; wait a moment",
            code="RATE_LIMITED",
        )


# -- one run ---------------------------------------------------------------------------------
@dataclass
class Outcome:
    prepared: Prepared
    result: Result | None
    error: OutboundError | None


def _caller(caller: TenantContext) -> uuid.UUID:
    assert caller.user_id is not None  # IsAuthenticated
    return caller.user_id


async def _reusable(
    runtime: Runtime, ex: Executor, slot: tuple[uuid.UUID, uuid.UUID, uuid.UUID]
) -> IssuedToken | None:
    """A token minted for this user's key a moment ago, if it has time left and the key
    verifier (whose cache every instance drops on revocation) still accepts it."""
    cached = ex.tokens.get(slot)
    if cached is None:
        return None
    issued, expires_at = cached
    if expires_at - time.monotonic() < TOKEN_REUSE_MIN_S:
        ex.tokens.pop(slot, None)
        return None
    verdict = await key_verify.verifier(runtime).key_verdict(
        slot[0], issued.key_id, issued.subscription_id
    )
    if not verdict.valid:
        ex.tokens.pop(slot, None)  # minting again gives the authoritative refusal
        return None
    return issued


async def prepare(runtime: Runtime, caller: TenantContext, inp: TryInput) -> Prepared:
    """The usual run reuses its token and reads its target in one statement on a bare
    connection; the ORM transaction (the key's authoritative check, with the error to show,
    or a new token) only when the token is new or the target read says the key is not usable."""
    user_id = _caller(caller)
    tenant_id = caller.tenant_id
    await check_rate(runtime, tenant_id, user_id)
    ex = executor(runtime)
    slot = (tenant_id, user_id, inp.key_id)
    reused = await _reusable(runtime, ex, slot)
    lookups = key_verify.verifier(runtime).lookups
    t = await playground.target(lookups, tenant_id, user_id=user_id, inp=inp)
    if reused is not None and t.usable:
        issued = reused
    else:
        async with runtime.transaction(tenant_id) as session:
            issued = await playground.check_key(
                session,
                runtime.auth.ring,
                runtime.auth.issuer,
                user_id=user_id,
                inp=inp,
                minted=reused,
            )
    p = playground.build(
        t, inp, issued, tenant_id=tenant_id, user_id=user_id, policy=_policy(runtime)
    )
    if reused is None:
        if len(ex.tokens) >= TOKEN_CACHE_MAX:
            ex.tokens.clear()  # crude but bounded: a miss only costs a mint
        ex.tokens[slot] = (issued, time.monotonic() + issued.expires_in)
    return p


def _policy(runtime: Runtime) -> Policy:
    """The operator's outbound policy, as every session of the app carries it."""
    return policy_of(runtime.maker.kw.get("info") or {})


async def execute(
    runtime: Runtime, p: Prepared, on_phase: Callable[[str, float], None] | None = None
) -> Outcome:
    """Send the prepared request; its record and usage are queued for the recorder. An
    outbound failure is part of the outcome (recorded with its code), not an exception."""
    ex = executor(runtime)
    lim = ex.limits
    guard = dataclasses.replace(
        p.guard, timeout_s=lim.timeout_s, max_bytes=lim.max_bytes, max_redirects=lim.max_redirects
    )
    started = time.perf_counter()
    res: Result | None = None
    error: OutboundError | None = None
    try:
        exchanged = await guard.exchange(
            ex.pool,
            p.method,
            p.url,
            headers=p.headers,
            content=p.content,
            allowed_hosts=p.allowed_hosts,
            on_phase=on_phase,
        )
        res = playground.result(p, exchanged)
    except OutboundError as e:
        # The message may quote the URL, which may carry the token (apiKey in the query).
        e.message = p.redact(e.message)
        e.field = None
        error = e
    total_ms = (time.perf_counter() - started) * 1000
    record = playground.run_record(
        p, res, error_code=error.code if error else None, total_ms=total_ms
    )
    ex.recorder(runtime).add(p.tenant_id, record)
    return Outcome(p, res, error)


async def try_operation(runtime: Runtime, caller: TenantContext, inp: TryInput) -> Outcome:
    return await execute(runtime, await prepare(runtime, caller, inp))


# -- live events -----------------------------------------------------------------------------
def channel(tenant_id: uuid.UUID, run_id: uuid.UUID) -> str:
    return f"aforo:{tenant_id}:playground:run:{run_id}"


def log_key(tenant_id: uuid.UUID, run_id: uuid.UUID) -> str:
    return f"aforo:{tenant_id}:playground:log:{run_id}"


class _Publisher:
    """Events of one run, in order: appended to the log, then published (never the reverse,
    so a follower reading the log after subscribing misses nothing)."""

    def __init__(self, runtime: Runtime, p: Prepared) -> None:
        self.runtime = runtime
        self.p = p
        self.events: list[dict[str, Any]] = []
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def phase(self, name: str, elapsed_ms: float) -> None:  # the executor's sync hook
        self.add({"phase": name, "elapsedMs": elapsed_ms})

    def add(self, event: dict[str, Any]) -> None:
        self.queue.put_nowait(event)

    async def save(self) -> None:
        body = {"user": str(self.p.user_id), "events": self.events}
        await self.runtime.shared.set(
            log_key(self.p.tenant_id, self.p.run_id), json.dumps(body).encode(), LOG_TTL_S
        )

    async def pump(self) -> None:
        while (event := await self.queue.get()) is not None:
            event = {"runId": str(self.p.run_id), "seq": len(self.events) + 1, **event}
            self.events.append(event)
            await self.save()
            await self.runtime.bus.publish(
                channel(self.p.tenant_id, self.p.run_id), json.dumps(event).encode()
            )


async def _live(runtime: Runtime, pub: _Publisher) -> None:
    pump = asyncio.create_task(pub.pump())
    try:
        try:
            out = await execute(runtime, pub.p, pub.phase)
        except Exception:  # a background task: log it, and the follower still hears the end
            log.exception("try-it run %s failed", pub.p.run_id)
            pub.add(error_payload(DomainError("the run failed", code="PLAYGROUND_FAILED")))
            return
        await flush(runtime)  # COMPLETED means recorded: the run is listed from now on
        if out.result is not None:
            pub.add(
                {
                    "phase": "COMPLETED",
                    "elapsedMs": out.result.timing.total_ms,
                    "response": out.result.to_dict(),
                }
            )
        else:
            assert out.error is not None
            pub.add(error_payload(out.error))
    finally:
        pub.queue.put_nowait(None)
        await pump


def error_payload(e: DomainError) -> dict[str, Any]:
    return {
        "phase": "ERROR",
        "elapsedMs": 0.0,
        "error": {"code": e.code, "message": e.message, "field": e.field},
    }


async def start(runtime: Runtime, caller: TenantContext, inp: TryInput) -> uuid.UUID:
    """Prepare a run and execute it in the background on this instance; its events can be
    followed from any instance with ``follow``."""
    p = await prepare(runtime, caller, inp)
    pub = _Publisher(runtime, p)
    await pub.save()  # the log exists (owner known) before anyone learns the run id
    ex = executor(runtime)
    task = asyncio.get_running_loop().create_task(_live(runtime, pub))
    ex.tasks.add(task)
    task.add_done_callback(ex.tasks.discard)
    return p.run_id


async def follow(
    runtime: Runtime, caller: TenantContext, run_id: uuid.UUID
) -> AsyncIterator[dict[str, Any]]:
    """A run's events in order, from its start to ``COMPLETED`` or ``ERROR``. Only its owner
    (or an admin of the tenant) may follow it."""
    tenant_id = caller.tenant_id
    deadline = time.monotonic() + executor(runtime).limits.timeout_s + 30
    async with runtime.bus.subscribe(channel(tenant_id, run_id)) as messages:
        raw = await runtime.shared.get(log_key(tenant_id, run_id))
        if raw is None:
            raise NotFound("no such run (or it ended minutes ago)", field="runId")
        entry = json.loads(raw)
        if entry["user"] != str(caller.user_id) and not caller.has(Role.ADMIN):
            raise NotFound("no such run (or it ended minutes ago)", field="runId")
        seen = 0
        for event in entry["events"]:
            seen = event["seq"]
            yield event
            if event["phase"] in TERMINAL:
                return
        it = aiter(messages)
        while True:
            left = deadline - time.monotonic()
            try:
                raw = await asyncio.wait_for(anext(it), max(left, 0.001))
            except TimeoutError:
                lost = DomainError("the run stopped reporting", code="PLAYGROUND_RUN_LOST")
                yield {"runId": str(run_id), "seq": seen + 1, **error_payload(lost)}
                return
            event = json.loads(raw)
            if event["seq"] <= seen:
                continue
            seen = event["seq"]
            yield event
            if event["phase"] in TERMINAL:
                return
