"""The import worker: CPU-heavy spec work in separate processes, under a CPU-time budget.

Parsing a 4 MB spec, bundling files, inflating a zip or diffing two versions takes seconds of
CPU. On the event loop that froze every other request; in a thread it would still hold the GIL.
So it runs in a small pool of long-lived processes (fresh interpreters started with
``python -m`` this module, talking pickles over a socket pair), one job at a time each, at a
lower scheduling priority than the server:

- each job gets a CPU-time budget (``ITIMER_PROF``: the job is interrupted when its process has
  used that much CPU) and the process an address-space limit; past either the job is refused
  (``SPEC_TOO_COMPLEX`` / ``SPEC_TOO_LARGE``), not the server slowed;
- a job stuck where Python cannot interrupt it (inside C code) is killed after a wall-clock
  limit and its process replaced;
- results cross back pickled, written to and read from the socket directly; jobs return
  storable text (JSON), not object trees.

The pool is per process (every app of the process shares it) and starts on first use.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import gc
import os
import pickle
import resource
import signal
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aforo.services.spec_import.loader import Problem, SpecInvalid

DEFAULT_CPU_S = 60.0
DEFAULT_MEMORY_MB = 2048
NICE = 5


class CpuBudgetExceeded(BaseException):
    """Raised inside a job by the profiling timer (BaseException: no ``except Exception``
    in the job can swallow it)."""


def _on_budget(signum: int, frame: Any) -> None:
    raise CpuBudgetExceeded


# What a job hands over to be freed after its reply is sent (``free_after_reply``); None
# outside a worker process, where a job runs in the caller and nothing is held back.
_after_reply: list[Any] | None = None


def free_after_reply(value: Any) -> None:
    """Keep ``value`` alive until the job's reply is on its way. Freeing the parsed tree of
    a Stripe-size spec (a million objects) takes several milliseconds the caller need not
    wait for: done after the reply, it overlaps the server's writes. (A parse measured
    alone, ``json.loads`` as a job, is freed after its reply the same way.)"""
    if _after_reply is not None:
        _after_reply.append(value)


class _Channel:
    """One end of the socket pair, as the file a pickle is written to and read from. The
    C pickler writes a large ``bytes`` or ``str`` (a spec, a result's JSON text) straight
    from the object to the socket, and the unpickler reads it straight from the socket:
    megabytes are not copied into a pickle first, nor gathered into a buffer after."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.write = sock.sendall  # what ``pickle.Pickler`` calls
        self.reader = sock.makefile("rb")

    def send(self, value: Any) -> None:
        pickle.Pickler(self, protocol=pickle.HIGHEST_PROTOCOL).dump(value)

    def recv(self) -> Any:
        return pickle.load(self.reader)  # noqa: S301 - our own child process

    def close(self) -> None:
        self.reader.close()  # the socket's descriptor stays open while its file is
        self.sock.close()


def serve(fd: int, memory_mb: int) -> None:
    """A worker process: run jobs until the socket closes."""
    global _after_reply
    kept: list[Any] = []
    _after_reply = kept
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle
    signal.signal(signal.SIGPROF, _on_budget)
    with contextlib.suppress(OSError):
        os.nice(NICE)
    if memory_mb > 0:
        with contextlib.suppress(ValueError, OSError):
            limit = memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    channel = _Channel(socket.socket(fileno=fd))
    while True:
        try:
            fn, args, cpu_s = channel.recv()
        except (EOFError, OSError, pickle.UnpicklingError):
            return
        start = resource.getrusage(resource.RUSAGE_SELF)
        # A parsed spec is a tree (no reference cycles): reference counting frees it, and the
        # cycle collector would only rescan its million objects again and again as the job
        # allocates. It runs once, between jobs.
        gc.disable()
        try:
            signal.setitimer(signal.ITIMER_PROF, cpu_s)
            try:
                outcome: tuple[str, Any] = ("ok", fn(*args))
            finally:
                signal.setitimer(signal.ITIMER_PROF, 0)
                gc.enable()
        except CpuBudgetExceeded:
            outcome = ("err", _too_complex(cpu_s))
        except MemoryError:
            outcome = ("err", _too_large_memory(memory_mb))
        except SpecInvalid as e:
            outcome = ("err", e)
        except Exception:  # reported to the caller, which logs it; the worker lives on
            outcome = ("crash", traceback.format_exc())
        end = resource.getrusage(resource.RUSAGE_SELF)
        stats = {
            "cpu_s": (end.ru_utime + end.ru_stime) - (start.ru_utime + start.ru_stime),
            "max_rss_kb": end.ru_maxrss,
        }
        try:
            channel.send((*outcome, stats))
        except (OSError, ValueError, MemoryError):
            return
        # the result and what the job handed over are freed now, before the collection, not
        # after the next job
        outcome = ("", None)
        kept.clear()
        gc.collect()


def _too_complex(cpu_s: float) -> SpecInvalid:
    return SpecInvalid(
        [Problem("", f"importing took more than {cpu_s:g} s of CPU time; the spec is refused")],
        code="SPEC_TOO_COMPLEX",
    )


def _too_large_memory(memory_mb: int) -> SpecInvalid:
    return SpecInvalid(
        [Problem("", f"importing needs more than {memory_mb} MB of memory; the spec is refused")],
        code="SPEC_TOO_LARGE",
    )


@dataclass(eq=False)
class _Worker:
    process: subprocess.Popen[bytes]
    channel: _Channel

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.channel.close()
        with contextlib.suppress(Exception):
            self.process.kill()
            self.process.wait(5)


@dataclass
class Stats:
    cpu_s: float
    max_rss_kb: int


class WorkerPool:
    def __init__(self, size: int, memory_mb: int = DEFAULT_MEMORY_MB) -> None:
        self.size = size
        self.memory_mb = memory_mb
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._slots: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}
        self.last_stats: Stats | None = None

    def _start(self) -> _Worker:
        # A fresh interpreter running this module: nothing inherited from the server's
        # threads, sockets or event loop, and no re-import of its main module.
        parent, child = socket.socketpair()
        process = subprocess.Popen(
            [sys.executable, "-m", __name__, str(child.fileno()), str(self.memory_mb)],
            pass_fds=[child.fileno()],
            stdin=subprocess.DEVNULL,
        )
        child.close()
        w = _Worker(process, _Channel(parent))
        with self._lock:
            self._all.add(w)
        return w

    def _take(self) -> _Worker:
        with self._lock:
            while self._idle:
                w = self._idle.pop()
                if w.alive():
                    return w
                self._all.discard(w)
        return self._start()

    def _give_back(self, w: _Worker) -> None:
        with self._lock:
            self._idle.append(w)

    def _retire(self, w: _Worker) -> None:
        w.kill()
        with self._lock:
            self._all.discard(w)

    def _slot(self) -> asyncio.Semaphore:
        # A semaphore belongs to one event loop (tests run several apps, one loop each).
        loop = asyncio.get_running_loop()
        with self._lock:
            if loop not in self._slots:
                self._slots[loop] = asyncio.Semaphore(self.size)
            return self._slots[loop]

    async def run(self, fn: Callable[..., Any], *args: Any, cpu_s: float = DEFAULT_CPU_S) -> Any:
        """``fn(*args)`` in a worker process; raises what the job raised (``SpecInvalid``),
        ``SPEC_TOO_COMPLEX`` past the CPU budget (or the wall-clock limit: three budgets)."""
        async with self._slot():
            w = await asyncio.to_thread(self._take)
            try:
                await asyncio.to_thread(w.channel.send, (fn, args, cpu_s))
                outcome = await asyncio.wait_for(asyncio.to_thread(w.channel.recv), 3 * cpu_s + 10)
            except (TimeoutError, EOFError, OSError, pickle.UnpicklingError):
                self._retire(w)
                raise _too_complex(cpu_s) from None
            except BaseException:  # cancelled: the job may still run; do not reuse
                self._retire(w)
                raise
            self._give_back(w)
        kind, value, stats = outcome
        self.last_stats = Stats(stats["cpu_s"], stats["max_rss_kb"])
        if kind == "ok":
            return value
        if kind == "err":
            raise value
        raise RuntimeError(f"spec import worker failed:\n{value}")

    def close(self) -> None:
        with self._lock:
            workers, self._all, self._idle = list(self._all), set(), []
        for w in workers:
            w.kill()


@dataclass(frozen=True)
class Limits:
    """Per job CPU seconds; per worker process megabytes of address space (0: unlimited)."""

    cpu_s: float = DEFAULT_CPU_S
    memory_mb: int = DEFAULT_MEMORY_MB


_pool: WorkerPool | None = None
_pool_lock = threading.Lock()


def pool(memory_mb: int = DEFAULT_MEMORY_MB) -> WorkerPool:
    """The process's pool (made on first use, with the first caller's memory limit)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = WorkerPool(size=max(1, min(2, os.cpu_count() or 1)), memory_mb=memory_mb)
            atexit.register(_pool.close)
        return _pool


async def run(fn: Callable[..., Any], *args: Any, limits: Limits | None = None) -> Any:
    limits = limits or Limits()
    return await pool(limits.memory_mb).run(fn, *args, cpu_s=limits.cpu_s)


if __name__ == "__main__":
    import aforo.services.spec_import.jobs  # noqa: F401 - jobs arrive pickled by reference
    from aforo.services.spec_import import worker as imported

    # Served by the module under its own name, not as ``__main__``: a job's
    # ``free_after_reply`` must reach the state this loop reads.
    imported.serve(int(sys.argv[1]), int(sys.argv[2]))
