"""Runs the language-neutral scenarios of ``sdks/conformance/scenarios`` through each SDK's
harness, against the real console behind a fault-injecting proxy (one proxy per language, so
the languages run side by side), and reads the results back through GraphQL ``usageEvents``.

A harness is a small program per SDK that reads one JSON command per line on stdin and answers
one JSON line on stdout (``sdks/conformance/README.md`` is the protocol). The steps that act on
the world (the console going down, injected answers, HTTP requests to a metered app, checks)
are carried out here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.sdk.conftest import Console
from tests.sdk.harness import FaultProxy

ROOT = Path(__file__).resolve().parents[3]
SCENARIOS = ROOT / "sdks" / "conformance" / "scenarios"
EVENTS_PATH = "/v1/usage/events"


def scenarios() -> list[Path]:
    return sorted(SCENARIOS.glob("*.json"))


@dataclass
class Language:
    name: str
    command: list[str]
    frameworks: list[str]  # the middleware flavours its harness serves
    cwd: Path = ROOT
    env: dict[str, str] = field(default_factory=dict)


class Failed(AssertionError):
    pass


class Harness:
    """One harness process: commands in, one answer per command out; ``{"done": tag}`` lines
    announce that a background record finished."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.done: set[str] = set()
        self.lines: list[str] = []
        self.reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, lang: Language) -> Harness:
        proc = await asyncio.create_subprocess_exec(
            *lang.command,
            cwd=lang.cwd,
            env={**os.environ, **lang.env},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            text = line.decode(errors="replace").strip()
            if not text.startswith("{"):
                self.lines.append(text)  # the harness's or the SDK's own logging
                continue
            msg = json.loads(text)
            if "done" in msg:
                self.done.add(msg["done"])
            else:
                await self.replies.put(msg)

    async def call(self, command: dict[str, Any], within: float = 60) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command).encode() + b"\n")
        await self.proc.stdin.drain()
        try:
            reply = await asyncio.wait_for(self.replies.get(), within)
        except TimeoutError:
            raise Failed(f"no answer to {command['op']} within {within}s") from None
        if reply.get("error"):
            raise Failed(f"{command['op']} failed in the harness: {reply['error']}")
        return reply

    async def wait_exit(self, within: float = 60) -> int:
        code = await asyncio.wait_for(self.proc.wait(), within)
        await self.reader
        return code

    async def stop(self) -> None:
        if self.proc.returncode is None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.reader, 5)

    @property
    def log(self) -> str:
        return "\n".join(self.lines[-30:])


def _matches(got: Any, want: Any) -> bool:
    if isinstance(want, dict) and "min" in want:
        return isinstance(got, int | float) and got >= want["min"]
    return bool(got == want)


def _expect(reply: dict[str, Any], want: dict[str, Any], what: str) -> None:
    wrong = {k: reply.get(k) for k, v in want.items() if not _matches(reply.get(k), v)}
    if wrong:
        raise Failed(f"{what}: got {wrong}, want {want}")


async def _poll(fn: Callable[[], Awaitable[bool]], within: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        if await fn():
            return True
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.05)


class Run:
    """One scenario for one language (and one middleware flavour)."""

    def __init__(
        self,
        scenario: dict[str, Any],
        tag: str,
        lang: Language,
        framework: str | None,
        console: Console,
        proxy: FaultProxy,
    ) -> None:
        self.scenario = scenario
        self.lang = lang
        self.framework = framework
        self.console = console
        self.proxy = proxy
        self.prefix = f"{lang.name}-{framework or 'client'}-{tag}"
        self.metric = f"{lang.name}.{framework}.requests"
        self.harness: Harness | None = None
        self.port: int | None = None

    def _requests(self) -> list[tuple[float, int, list[str]]]:
        """What reached the proxy on the events endpoint: (time, status answered, ids)."""
        out = []
        for (t, path, status), body in zip(self.proxy.seen, self.proxy.bodies, strict=True):
            if path == EVENTS_PATH:
                ids = [e.get("event_id") for e in json.loads(body).get("events", [])]
                out.append((t, status, ids))
        return out

    async def _events(self, **filters: Any) -> list[dict[str, Any]]:
        return await self.console.events(**filters)

    async def _with_prefix(self, name: str) -> list[dict[str, Any]]:
        prefix = f"{self.prefix}-{name}-"
        return [e for e in await self._events() if str(e["event_id"]).startswith(prefix)]

    async def execute(self) -> None:
        self.harness = await Harness.start(self.lang)
        try:
            await self._client(self.scenario.get("client", {}), self.console.token)
            for i, step in enumerate(self.scenario["steps"]):
                try:
                    await self._step(step)
                except Failed as e:
                    raise Failed(f"step {i + 1} {json.dumps(step)[:160]}: {e}") from None
        except Failed as e:
            log = self.harness.log
            raise Failed(f"{e}\n--- harness output ---\n{log}" if log else str(e)) from None
        finally:
            await self.harness.stop()

    async def _client(self, options: dict[str, Any], token: str) -> None:
        assert self.harness is not None
        opts = {"backoff_base": 0.02, "backoff_cap": 0.2, **options}
        await self.harness.call(
            {"op": "client", "url": self.proxy.url, "token": token, "options": opts}
        )

    async def _step(self, step: dict[str, Any]) -> None:
        h = self.harness
        assert h is not None
        if "sdk" in step:
            await self._sdk(step)
        elif "console" in step:
            if step["console"] == "down":
                await self.proxy.server.astop()
            else:
                await self.proxy.server.astart()
        elif "proxy" in step:
            if step["proxy"] == "fail":
                self.proxy.fail_next(step["count"], step["status"], step.get("retry_after"))
            else:
                self.proxy.swallow_next(step["count"])
        elif "http" in step:
            await self._http(step["http"])
        elif step.get("check") == "still_running":
            await asyncio.sleep(step["for"])
            if step["background"] in h.done:
                raise Failed("record() returned while the buffer was full (block policy)")
        elif step.get("check") == "finished":
            if not await _poll(lambda: _true(step["background"] in h.done), step.get("within", 20)):
                raise Failed("the blocked record() never finished")
        elif step.get("check") == "events":
            await self._check_events(step)
        elif step.get("check") == "requests":
            self._check_requests(step)
        elif step.get("check") == "requests_metered":
            await self._check_metered(step["expect"])
        else:
            raise Failed(f"unknown step {step}")

    async def _sdk(self, step: dict[str, Any]) -> None:
        h = self.harness
        assert h is not None
        op = step["sdk"]
        if op == "client":
            await self._client(step.get("options", {}), step.get("token", self.console.token))
            return
        command: dict[str, Any] = {"op": op}
        if op == "record":
            command.update(
                count=step["count"],
                id_prefix=f"{self.prefix}-{step['id']}",
                metric=step["metric"],
            )
            if step.get("subscription"):
                command["subscription_id"] = self.console.subscription_id
            if "background" in step:
                command["background"] = step["background"]
        elif op in ("flush", "close"):
            command["timeout"] = step.get("timeout", 20)
        elif op == "serve":
            command.update(framework=self.framework, metric=self.metric, routes=step["routes"])
        elif op == "exit":
            await h.call(command)
            code = await h.wait_exit()
            if code != 0:
                raise Failed(f"the harness exited with {code}")
            return
        reply = await h.call(command, within=step.get("timeout", 20) + 30)
        if op == "serve":
            self.port = int(reply["port"])
        if "expect" in step:
            _expect(reply, step["expect"], op)

    async def _http(self, spec: dict[str, Any]) -> None:
        assert self.port is not None, "serve first"
        headers = {"x-request-id": self._request_id(spec["path"])}
        if spec.get("key") is True:
            headers["x-api-key-id"] = self.console.key_id
        elif spec.get("key"):
            headers["x-api-key-id"] = spec["key"]
        async with httpx.AsyncClient(timeout=10) as c:
            r = await c.request(
                spec["method"],
                f"http://127.0.0.1:{self.port}{spec['path']}",
                content=spec.get("body", "").encode(),
                headers=headers,
            )
        if r.status_code != spec["expect_status"]:
            raise Failed(f"{spec['method']} {spec['path']}: HTTP {r.status_code}")

    def _request_id(self, path: str) -> str:
        return f"{self.prefix}{path.split('?')[0]}"

    async def _check_events(self, step: dict[str, Any]) -> None:
        want = step["count"]

        async def enough() -> bool:
            return len(await self._with_prefix(step["id"])) >= want

        if "within" in step:
            await _poll(enough, step["within"])
        events = await self._with_prefix(step["id"])
        ids = sorted(e["event_id"] for e in events)
        if len(ids) != want:
            raise Failed(f"{len(ids)} events stored with id {step['id']!r}, want {want}")
        if "first" in step:
            expected = sorted(f"{self.prefix}-{step['id']}-{i}" for i in range(step["first"]))
            if ids != expected:
                raise Failed(f"stored {ids}, want the first {step['first']}: {expected}")
        if step.get("subscription"):
            subs = {e["subscription_id"] for e in events}
            if subs != {self.console.subscription_id}:
                raise Failed(f"subscriptions {subs}")

    def _check_requests(self, step: dict[str, Any]) -> None:
        seen = self._requests()
        if "batch_sizes" in step:
            sizes = [len(ids) for _, _, ids in seen]
            if sizes != step["batch_sizes"]:
                raise Failed(f"batch sizes {sizes}, want {step['batch_sizes']}")
        if "statuses" in step:
            statuses = [s for _, s, _ in seen]
            if statuses != step["statuses"]:
                raise Failed(f"answers {statuses}, want {step['statuses']}")
        if "same_body" in step:
            sets = {tuple(seen[i][2]) for i in step["same_body"]}
            if len(sets) != 1:
                raise Failed("the retries did not carry the same event ids")
        if "gap_at_least" in step:
            gap = seen[1][0] - seen[0][0]
            if gap < step["gap_at_least"]:
                raise Failed(f"retried after {gap:.3f}s, before Retry-After")

    async def _check_metered(self, expected: list[dict[str, Any]]) -> None:
        async def arrived() -> bool:
            return len(await self._events(metric=self.metric)) >= len(expected)

        await _poll(arrived, 20)
        events = await self._events(metric=self.metric)
        if len(events) != len(expected):
            raise Failed(f"{len(events)} requests metered, want {len(expected)}")
        by_path = {(e["method"], e["path"]): e for e in events}
        for want in expected:
            got = by_path.get((want["method"], want["path"]))
            if got is None:
                raise Failed(f"no event for {want['method']} {want['path']}: {list(by_path)}")
            checks = {k: v for k, v in want.items() if k not in ("key", "consumer")}
            wrong = {k: got.get(k) for k, v in checks.items() if got.get(k) != v}
            if want.get("key") and got["key_id"] != self.console.key_id:
                wrong["key_id"] = got["key_id"]
            if "consumer" in want and got["consumer"] != want["consumer"]:
                wrong["consumer"] = got["consumer"]
            if got["latency_ms"] is None or got["latency_ms"] < 0:
                wrong["latency_ms"] = got["latency_ms"]
            if got["request_id"] != self._request_id(want["path"]):
                wrong["request_id"] = got["request_id"]
            if wrong:
                raise Failed(f"{want['method']} {want['path']}: {wrong}")


async def _true(value: bool) -> bool:
    return value


async def run(
    scenario: dict[str, Any], tag: str, languages: list[Language], console: Console
) -> dict[str, str]:
    """Every language (and flavour) through one scenario, side by side; failures by name."""
    serves = any(s.get("sdk") == "serve" for s in scenario["steps"])
    jobs = [(lang, fw) for lang in languages for fw in (lang.frameworks if serves else [None])]
    failures: dict[str, str] = {}

    async def one(lang: Language, framework: str | None) -> None:
        proxy = FaultProxy(console.url)
        await proxy.server.astart()
        try:
            await Run(scenario, tag, lang, framework, console, proxy).execute()
        except Failed as e:
            failures[f"{lang.name}/{framework}" if framework else lang.name] = str(e)
        finally:
            await proxy.server.astop()

    await asyncio.gather(*(one(lang, fw) for lang, fw in jobs))
    return failures
