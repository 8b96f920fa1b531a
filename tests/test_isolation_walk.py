"""Tenant isolation, walked over the live GraphQL schema: every Query, Mutation and
subscription field is called by tenant B's callers (admin, developer, moderator, anonymous
storefront) with tenant A's ids. Nothing of A's is returned, changed or counted."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets

from tests.isolation_cases import CASES, Case, call, diff, kind, snapshot
from tests.world import (
    Served,
    World,
    Worlds,
    document,
    error_codes,
    leaks,
    root_fields,
    served,
    sign_in_again,
    user_error,
    worlds,
)

__all__ = ["served", "worlds"]  # module-scoped fixtures, used by the tests below

CALLERS = ("admin", "developer", "moderator", "anonymous")
REFUSED = {"FORBIDDEN", "UNAUTHENTICATED"}


def test_every_field_has_a_case() -> None:
    live = set(root_fields())
    assert sorted(live - set(CASES)) == [], "fields without an isolation case"
    assert sorted(set(CASES) - live) == [], "cases naming a field that no longer exists"


async def test_b_reaches_nothing_of_a_through_any_query_or_mutation(
    served: Served, worlds: Worlds
) -> None:
    a, b = worlds.a, worlds.b
    before = await snapshot(served, a)
    # The snapshot holds all of A's world: every id A made is in it.
    seen = json.dumps(before)
    assert [k for k, v in a.ids.items() if v not in seen] == []
    secrets = a.secrets()
    problems: list[str] = []
    walked = {"Query": 0, "Mutation": 0}
    # logOut ends the callers' sessions: walked last.
    order = sorted(
        (k for k in CASES if kind(k) in walked), key=lambda k: (k == "Mutation.logOut", k)
    )
    for key in order:
        case: Case = CASES[key]
        walked[kind(key)] += 1
        for args in case.args(a, b):
            bodies = await asyncio.gather(*(call(served, b, r, key, args) for r in CALLERS))
            for role, body in zip(CALLERS, bodies, strict=True):
                where = f"{key} {json.dumps(args)} as B's {role}"
                if found := leaks(body, secrets):
                    problems.append(f"{where}: leaks {found}: {json.dumps(body)[:400]}")
                codes = error_codes(body)
                if "INTERNAL_SERVER_ERROR" in codes or "None" in codes:  # masked, or uncoded
                    problems.append(f"{where}: unexpected error {body}")
                if kind(key) == "Mutation":
                    problems += _mutation_outcome(where, key, case, role, body)
    live = [k for k in root_fields() if kind(k) in walked]
    assert sum(walked.values()) == len(live), walked
    print(f"isolation walk: {walked['Query']} queries, {walked['Mutation']} mutations")
    await sign_in_again(served.api, b)  # logOut ended B's sessions, at once
    assert not problems, "\n".join(problems)
    after = await snapshot(served, a)
    assert not diff(before, after), {k: (before[k], after.get(k)) for k in diff(before, after)}


def _mutation_outcome(
    where: str, key: str, case: Case, role: str, body: dict[str, Any]
) -> list[str]:
    name = key.split(".")[1]
    code = user_error(body, name) or next(iter(error_codes(body)), None)
    if case.expect is None:
        return []
    if code is None:
        return [f"{where}: succeeded: {json.dumps(body)[:300]}"]
    if role != "admin" and code in REFUSED:
        return []  # refused before looking: the roles walk checks which refusal
    if code not in case.expect:
        return [f"{where}: answered {code}, expected one of {sorted(case.expect)}"]
    return []


# -- subscriptions over a real websocket -------------------------------------------------------
async def _socket(s: Served, w: World, role: str) -> Any:
    params = {"X-Storefront-Key": w.tenant.storefront_key}
    if role != "anonymous":
        params["Authorization"] = f"Bearer {w.caller(role)['token']}"
    ws = await websockets.connect(
        s.url.replace("http", "ws") + "/graphql",
        subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
    )
    await ws.send(json.dumps({"type": "connection_init", "payload": params}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
    return ws


async def _subscribe(ws: Any, sid: str, key: str, args: dict[str, Any]) -> None:
    await ws.send(
        json.dumps(
            {
                "id": sid,
                "type": "subscribe",
                "payload": {"query": document(key, args, depth=2), "variables": args},
            }
        )
    )


async def _drain(ws: Any, wait: float) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    try:
        while True:
            got.append(json.loads(await asyncio.wait_for(ws.recv(), wait)))
    except TimeoutError:
        return got


async def test_b_subscribed_to_a_s_threads_and_runs_receives_nothing_of_a(
    served: Served, worlds: Worlds
) -> None:
    a, b = worlds.a, worlds.b
    subs = [k for k in CASES if kind(k) == "RootSubscription"]
    assert len(subs) == 3
    # A's own follower of the thread: the moment it sees A's reply, B would have seen it too.
    control = await _socket(served, a, "developer")
    await _subscribe(control, "c", "RootSubscription.threadActivity", {"threadId": a.thread})
    sockets = {role: await _socket(served, b, role) for role in CALLERS}
    try:
        for ws in sockets.values():
            for key in subs:
                if key == "RootSubscription.playgroundRunEvents":
                    continue  # below, against a run A starts while B listens
                for i, args in enumerate(CASES[key].args(a, b)):
                    await _subscribe(ws, f"{key}-{i}", key, args)
        # A acts: a reply in the thread, and a run of A's operation (slow, so B can join it).
        started = await served.api.data(
            """mutation($i: TryOperationInput!) { startPlaygroundRun(input: $i) { __typename
                 ... on PlaygroundRunStarted { runId } ... on UserError { code message } } }""",
            {
                "i": {
                    "operationId": a.slow_operation,
                    "keyId": a.key,
                    "query": [{"name": "s", "value": "1"}],
                }
            },
            token=a.dev,
        )
        run_id = started["startPlaygroundRun"]["runId"]
        for ws in sockets.values():
            await _subscribe(ws, "run", "RootSubscription.playgroundRunEvents", {"runId": run_id})
        for _ in range(20):  # until A's own follower sees A's reply: the bus carried it
            await served.api.data(
                """mutation($t: ID!) { reply(threadId: $t, body: "live alphamark") {
                     __typename } }""",
                {"t": a.thread},
                token=a.mod,
            )
            seen = [m for m in await _drain(control, 0.5) if m["type"] == "next"]
            if seen:
                break
        assert seen, "A's follower never saw A's replies"
        secrets = [*a.secrets(), run_id, "live alphamark"]
        drained = await asyncio.gather(*(_drain(ws, 1.0) for ws in sockets.values()))
        for role, messages in zip(sockets, drained, strict=True):
            for msg in messages:
                assert not leaks(msg, secrets), (role, msg)
                errors = msg["payload"] if msg["type"] == "error" else []
                if msg["type"] == "next":
                    data = msg["payload"].get("data") or {}
                    errors = msg["payload"].get("errors") or []
                    event = data.pop("playgroundRun", None)
                    assert not any(data.values()), (role, msg)
                    if event is not None:  # a run refused up front reports an ERROR event
                        assert (event["phase"], event["runId"]) == ("ERROR", None), (role, msg)
                        assert event["error"]["code"] in {"NOT_FOUND", *REFUSED}, (role, msg)
                codes = {(e.get("extensions") or {}).get("code") for e in errors}
                assert codes <= {"NOT_FOUND", *REFUSED}, (role, msg)
    finally:
        for ws in (control, *sockets.values()):
            await ws.close()
