"""The SDK clients against the console over real HTTP: batching, retries, overflow, exit."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading

import pytest

from aforo.runtime.postgres import free_port
from aforo_metering import AsyncClient, Client, OverflowPolicy, meter
from tests.sdk.conftest import Console
from tests.sdk.harness import FaultProxy


def fast(url: str, token: str, **kw: object) -> Client:
    """A client that retries quickly, so outages in tests stay short."""
    options: dict[str, object] = {"backoff_base": 0.02, "backoff_cap": 0.2, **kw}
    return Client(url, token, **options)  # type: ignore[arg-type]


async def test_batches_by_size_and_flush_sends_the_rest(
    console: Console, fault_proxy: FaultProxy
) -> None:
    client = fast(fault_proxy.url, console.token, batch_size=100, flush_interval=60)
    ids = [
        client.record("api_calls", 2, subscription_id=console.subscription_id) for _ in range(250)
    ]
    assert await asyncio.to_thread(client.flush, 20)
    client.close()
    stored = await console.events(metric="api_calls")
    assert sorted(e["event_id"] for e in stored) == sorted(ids)
    # two full batches went as soon as they filled, the remainder on flush()
    assert len(fault_proxy.seen) == 3
    assert client.stats.accepted == 250 and client.stats.duplicates == 0


async def test_sends_by_time_without_flush(console: Console) -> None:
    client = fast(console.url, console.token, batch_size=500, flush_interval=0.05)
    eid = client.record("api_calls", 1)
    for _ in range(400):
        if await console.events(event_id=eid):
            break
        await asyncio.sleep(0.025)
    assert [e["event_id"] for e in await console.events()] == [eid]
    client.close()


async def test_service_down_then_back_loses_nothing_and_doubles_nothing(
    console: Console, fault_proxy: FaultProxy
) -> None:
    client = fast(fault_proxy.url, console.token, batch_size=20, flush_interval=0.05)
    first = [
        client.record("api_calls", 1, subscription_id=console.subscription_id) for _ in range(20)
    ]
    assert await asyncio.to_thread(client.flush, 20)

    await console.server.astop()  # the console goes away...
    down = [
        client.record("api_calls", 1, subscription_id=console.subscription_id) for _ in range(30)
    ]
    assert not await asyncio.to_thread(client.flush, 0.5)
    assert client.stats.retries > 0 and client.pending == 30

    # ...and comes back, but the first answer it gives is lost on the way: the client must
    # resend the same batch, which the console counts once.
    fault_proxy.swallow_next(1)
    await console.server.astart()
    assert await asyncio.to_thread(client.flush, 20)
    client.close()

    stored = await console.events(metric="api_calls")
    assert sorted(e["event_id"] for e in stored) == sorted(first + down)
    # the swallowed batch (20) came back as duplicates: counted once by the console
    assert (client.stats.accepted, client.stats.duplicates) == (30, 20)
    assert client.stats.dropped == client.stats.failed == 0


async def test_429_waits_for_retry_after(console: Console, fault_proxy: FaultProxy) -> None:
    fault_proxy.fail_next(1, 429, retry_after="1")
    client = fast(fault_proxy.url, console.token, flush_interval=0.01)
    eid = client.record("api_calls", 1)
    assert await asyncio.to_thread(client.flush, 20)
    client.close()
    (t0, _, s0), (t1, _, s1) = fault_proxy.seen
    assert (s0, s1) == (429, 200)
    # backoff alone would retry within 0.2 s: the server's Retry-After is what held it back
    assert t1 - t0 >= 0.95
    assert [e["event_id"] for e in await console.events()] == [eid]
    # the retry carried the same event
    assert fault_proxy.bodies[0] == fault_proxy.bodies[1]


async def test_5xx_is_retried_and_the_same_ids_are_resent(
    console: Console, fault_proxy: FaultProxy
) -> None:
    fault_proxy.fail_next(2, 503)
    client = fast(fault_proxy.url, console.token, flush_interval=0.01)
    ids = {client.record("api_calls", 1) for _ in range(5)}
    assert await asyncio.to_thread(client.flush, 20)
    client.close()
    assert len(set(fault_proxy.bodies)) == 1 and len(fault_proxy.bodies) == 3
    assert {e["event_id"] for e in await console.events()} == ids
    assert client.stats.retries == 2


async def test_413_splits_the_batch_and_a_refused_token_is_not_retried(
    console: Console, fault_proxy: FaultProxy
) -> None:
    fault_proxy.fail_next(1, 413)
    client = fast(fault_proxy.url, console.token, flush_interval=0.01)
    ids = {client.record("api_calls", 1) for _ in range(10)}
    assert await asyncio.to_thread(client.flush, 20)
    client.close()
    assert [len(json.loads(b)["events"]) for b in fault_proxy.bodies] == [10, 5, 5]
    assert {e["event_id"] for e in await console.events()} == ids

    wrong = fast(fault_proxy.url, "gwt_not-a-real-token", flush_interval=0.01)
    wrong.record("api_calls", 1)
    assert await asyncio.to_thread(wrong.flush, 20)
    wrong.close()
    assert fault_proxy.seen[-1][2] == 401 and len(fault_proxy.seen) == 4
    assert (wrong.stats.failed, wrong.stats.retries) == (1, 0)


async def test_process_exit_with_a_non_empty_buffer_sends_it(console: Console) -> None:
    script = f"""
from aforo_metering import Client
c = Client({console.url!r}, {console.token!r}, flush_interval=3600, batch_size=500)
for i in range(37):
    c.record("exit_test", 1, event_id=f"exit-{{i}}")
print(c.pending)
"""  # no flush(), no close(): the interpreter's exit must send them
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "37"
    stored = await console.events(metric="exit_test")
    assert sorted(e["event_id"] for e in stored) == sorted(f"exit-{i}" for i in range(37))


async def test_a_forked_child_meters_through_its_own_sender(console: Console) -> None:
    """gunicorn --preload and multiprocessing fork a process that already holds a client."""
    script = f"""
import os, sys
from aforo_metering import Client
c = Client({console.url!r}, {console.token!r}, flush_interval=3600)
c.record("fork_test", 1, event_id="parent-before")
assert c.flush(20)
pid = os.fork()
if pid == 0:
    for i in range(5):
        c.record("fork_test", 1, event_id=f"child-{{i}}")
    sys.exit(0 if c.flush(20) else 3)
_, status = os.waitpid(pid, 0)
c.record("fork_test", 1, event_id="parent-after")
c.close()
sys.exit(os.waitstatus_to_exitcode(status))
"""
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    stored = await console.events(metric="fork_test")
    assert sorted(e["event_id"] for e in stored) == sorted(
        ["parent-before", "parent-after", *(f"child-{i}" for i in range(5))]
    )


async def test_drop_policy_counts_what_it_drops() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    client = fast(dead, "gwt_x", batch_size=10, max_buffer=10, overflow="drop")
    for _ in range(15):
        client.record("api_calls", 1)
    assert client.pending == 10
    assert client.stats.dropped == 5
    client.close(timeout=0.2)
    assert client.stats.failed == 10


async def test_block_policy_waits_for_room_then_delivers_everything(
    console: Console, fault_proxy: FaultProxy
) -> None:
    await console.server.astop()
    client = fast(
        fault_proxy.url,
        console.token,
        batch_size=5,
        max_buffer=5,
        overflow=OverflowPolicy.BLOCK,
        flush_interval=0.01,
    )
    ids = [client.record("api_calls", 1) for _ in range(5)]
    blocked = threading.Thread(target=lambda: ids.append(client.record("api_calls", 1)))
    blocked.start()
    blocked.join(0.5)
    assert blocked.is_alive(), "record() must wait while the buffer is full"
    await console.server.astart()
    await asyncio.to_thread(blocked.join, 20)
    assert await asyncio.to_thread(client.flush, 20)
    client.close()
    assert len(ids) == 6
    assert sorted(e["event_id"] for e in await console.events()) == sorted(ids)
    assert client.stats.dropped == 0


async def test_rejected_events_are_counted_not_retried(
    console: Console, fault_proxy: FaultProxy
) -> None:
    client = fast(fault_proxy.url, console.token, flush_interval=0.01)
    good = client.record("api_calls", 1)
    client.record("api_calls", 1, occurred_at="not a time")
    assert await asyncio.to_thread(client.flush, 20)
    client.close()
    assert client.stats.rejected == 1 and client.stats.accepted == 1
    assert len(fault_proxy.seen) == 1
    assert [e["event_id"] for e in await console.events()] == [good]


def test_invalid_records_fail_in_the_caller() -> None:
    client = Client("http://127.0.0.1:9", "gwt_x")
    try:
        for bad in (
            {"metric": "", "quantity": 1},
            {"metric": "m", "quantity": -1},
            {"metric": "m", "quantity": float("nan")},
            {"metric": "m", "quantity": True},
            {"metric": "m", "quantity": 1, "key_id": "not-a-uuid"},
            {"metric": "m", "quantity": 1, "event_id": "x" * 201},
            {"metric": "m", "quantity": 1, "colour": "red"},
        ):
            with pytest.raises(ValueError):
                client.record(**bad)  # type: ignore[arg-type]
        assert client.pending == 0
    finally:
        client.close(0)


async def test_async_client_down_then_back(console: Console, fault_proxy: FaultProxy) -> None:
    async with AsyncClient(
        fault_proxy.url,
        console.token,
        batch_size=10,
        flush_interval=0.02,
        backoff_base=0.02,
        backoff_cap=0.2,
    ) as client:
        await console.server.astop()
        ids = [await client.record("api_calls", 3, key_id=console.key_id) for _ in range(25)]
        assert not await client.flush(0.3)
        assert client.stats.retries > 0
        fault_proxy.swallow_next(1)
        await console.server.astart()
        assert await client.flush(20)
    stored = await console.events(metric="api_calls")
    assert sorted(e["event_id"] for e in stored) == sorted(ids)
    assert all(e["key_id"] == console.key_id and e["quantity"] == 3 for e in stored)
    assert (client.stats.accepted, client.stats.duplicates) == (15, 10)


async def test_meter_decorator_on_functions_and_coroutines(console: Console) -> None:
    sync_client = fast(console.url, console.token)
    async_client = AsyncClient(console.url, console.token)

    @meter(
        "words",
        quantity=lambda result, text: len(result),
        client=sync_client,
        subscription_id=console.subscription_id,
    )
    def split(text: str) -> list[str]:
        return text.split()

    @meter("lookups", client=async_client, properties={"tier": "gold"}, on_error=True)
    async def lookup(key: str) -> str:
        if key == "missing":
            raise KeyError(key)
        return key.upper()

    assert split("one two three") == ["one", "two", "three"]
    assert await lookup("a") == "A"
    with pytest.raises(KeyError):
        await lookup("missing")
    assert await asyncio.to_thread(sync_client.flush, 20)
    assert await async_client.flush(20)
    sync_client.close()
    await async_client.aclose()

    (words,) = await console.events(metric="words")
    assert words["quantity"] == 3 and words["subscription_id"] == console.subscription_id
    lookups = await console.events(metric="lookups")
    assert sorted(str(e["properties"]) for e in lookups) == sorted(
        [str({"tier": "gold"}), str({"tier": "gold", "error": "KeyError"})]
    )
