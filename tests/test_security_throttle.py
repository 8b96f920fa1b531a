"""Throttling: the assessment's unthrottled attacks, each answered 429 with Retry-After now.

The password-failure limit runs with its shipped tiers; the others with small limits set
through ``AFORO_RATE_LIMITS`` (``Settings.rate_limits``), as an operator would."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from limits import parse_many
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from aforo.config import Settings
from aforo.runtime.throttle import LocalWindows
from tests.conftest import with_settings
from tests.gateway import create_key, make_key_world, serving, verify
from tests.services import RedisServer
from tests.support import Api, make_tenant
from tests.test_forum_support import CREATE_THREAD, REPLY, SAVE_CATEGORY

LOG_IN = """mutation($i: LogInInput!) { logIn(input: $i) { __typename
  ... on AuthPayload { accessToken } ... on UserError { code } } }"""
SMALL = (
    ("signup.ip", "2/hour"),
    ("refresh.ip", "2/minute"),
    ("oauth.client", "2/minute"),
    ("verify.miss", "3/minute"),
    ("forum.write", "2/minute"),
    ("forum.report", "1/hour"),
    ("spec.import", "1/hour"),
)


def throttled(r: httpx.Response) -> int:
    """The Retry-After of a 429 in the GraphQL shape (asserting its code)."""
    assert r.status_code == 429, r.text
    assert r.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    retry = int(r.headers["retry-after"])
    assert r.json()["errors"][0]["extensions"]["retryAfter"] == retry and retry >= 1
    return retry


async def _attempt(api: Api, storefront: str, email: str, password: str) -> tuple[int, str]:
    r = await api.raw(LOG_IN, {"i": {"email": email, "password": password}}, storefront=storefront)
    body = r.json()
    if r.status_code != 200:
        return r.status_code, body["errors"][0]["extensions"]["code"]
    return 200, body["data"]["logIn"].get("code") or body["data"]["logIn"]["__typename"]


@pytest.fixture
def still_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The limiter's clock stands still: its sliding windows cannot roll over mid-test (an
    edge lets one more attempt through, by design of the approximation)."""
    import time as real

    from limits.aio.storage import memory

    frozen = real.time()

    class Clock:
        @staticmethod
        def time() -> float:
            return frozen

    monkeypatch.setattr(memory, "time", Clock)


async def test_password_guessing_slows_down_without_telling_who_exists(
    strict: tuple[object, Api], still_clock: None
) -> None:
    _, api = strict  # the shipped limits
    t = await make_tenant(api.settings)
    await api.sign_up(t, "dev@example.com")
    sf = t.storefront_key
    known = [await _attempt(api, sf, "dev@example.com", f"wrong guess {i}") for i in range(7)]
    unknown = [await _attempt(api, sf, "nobody@example.com", f"wrong guess {i}") for i in range(7)]
    # Five failures a minute per account asked for, known or not: the same answers for both.
    expected = [(200, "INVALID_CREDENTIALS")] * 5 + [(429, "RATE_LIMITED")] * 2
    assert known == expected and unknown == expected
    # The right password waits too; the account's NFKC / case variants are the same account.
    assert await _attempt(api, sf, "dev@example.com", "correct horse battery") == (
        429,
        "RATE_LIMITED",
    )
    assert await _attempt(api, sf, "DEV@Example.com", "correct horse battery") == (
        429,
        "RATE_LIMITED",
    )
    r = await api.raw(
        LOG_IN, {"i": {"email": "dev@example.com", "password": "x" * 12}}, storefront=sf
    )
    throttled(r)
    # Another account is not held up.
    await api.sign_up(t, "ada@example.com")
    assert await _attempt(api, sf, "ada@example.com", "correct horse battery") == (
        200,
        "AuthPayload",
    )


@pytest.fixture
def small(settings: Settings) -> Settings:
    return with_settings(settings, rate_limits=SMALL)


@pytest.fixture
async def small_api(small: Settings) -> AsyncIterator[Api]:
    async with serving(small) as api:
        yield api


async def test_sign_up_refresh_forum_reports_and_spec_imports_are_throttled(
    small_api: Api,
) -> None:
    api = small_api
    w = await make_key_world(api)  # one sign-up
    sf = w.tenant.storefront_key
    second = await api.sign_up(w.tenant, "ada@example.com")
    r = await api.raw(
        """mutation($i: SignUpInput!) { signUp(input: $i) { __typename } }""",
        {"i": {"email": "eve@example.com", "password": "correct horse battery", "name": "E"}},
        storefront=sf,
    )
    throttled(r)
    refresh = "mutation($t: String!) { refreshToken(token: $t) { __typename } }"
    for _ in range(2):
        r = await api.raw(refresh, {"t": "rt_nope"}, storefront=sf)
        assert r.status_code == 200
    throttled(await api.raw(refresh, {"t": second["refreshToken"]}, storefront=sf))

    cat = (await api.data(SAVE_CATEGORY, {"i": {"name": "Help"}}, token=w.admin))["saveCategory"]
    thread = (
        await api.data(
            CREATE_THREAD,
            {"i": {"categoryId": cat["id"], "title": "Spam thread one", "body": "b", "tags": []}},
            token=second["accessToken"],
        )
    )["createThread"]
    reply = {"t": thread["id"], "p": None, "b": "spam"}
    assert (await api.data(REPLY, reply, token=second["accessToken"]))["reply"][
        "__typename"
    ] == "Reply"
    throttled(await api.raw(REPLY, reply, token=second["accessToken"]))
    # Per account: the thread's author is not held up by another member's posting.
    assert (await api.data(REPLY, reply, token=w.dev))["reply"]["__typename"] == "Reply"
    report = """mutation($id: ID!) { report(targetType: THREAD, targetId: $id, reason: SPAM) {
        __typename } }"""
    assert (await api.data(report, {"id": thread["id"]}, token=w.dev))["report"]
    throttled(await api.raw(report, {"id": thread["id"]}, token=w.dev))

    spec = '{"openapi": "3.0.3", "info": {"title": "T", "version": "1"}, "paths": {}}'
    imp = """mutation($i: ImportSpecInput!) { importSpec(input: $i) { __typename } }"""
    i = {"productId": w.product_id, "format": "OPENAPI_3", "content": spec}
    assert (await api.data(imp, {"i": i}, token=w.admin))["importSpec"]["__typename"]
    throttled(await api.raw(imp, {"i": i}, token=w.admin))
    r = await api.client.post(
        "/api/v1/docs/api-specs",
        json={"productId": w.product_id, "specFormat": "OPENAPI_3", "sourceUrl": "http://x.io/s"},
        headers={"Authorization": f"Bearer {w.admin}"},
    )
    assert r.status_code == 429 and r.json()["error"]["code"] == "RATE_LIMITED"
    assert int(r.headers["retry-after"]) >= 1


async def test_client_credentials_and_verify_misses_are_throttled(small_api: Api) -> None:
    api = small_api
    w = await make_key_world(api)
    cc = await create_key(api, w.dev, w.subscription_id, fmt="CLIENT_CREDENTIALS")
    form = {"grant_type": "client_credentials", "client_id": cc["clientId"], "client_secret": "no"}
    for _ in range(2):
        r = await api.client.post("/oauth/token", data=form)
        assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    good = {**form, "client_secret": cc["secret"]}
    r = await api.client.post("/oauth/token", data=good)  # the right secret waits too
    assert r.status_code == 429 and r.json()["code"] == "RATE_LIMITED"
    assert int(r.headers["retry-after"]) >= 1
    # Guessing keys through a gateway: unknown keys past the limit are 429; a valid key
    # is still answered (it never touches the limiter).
    for i in range(3):
        status, body = await verify(api, w.gateway, f"sk_live_guess{i}")
        assert (status, body["code"]) == (403, "MALFORMED")
    r = await api.client.post(
        "/v1/keys/verify",
        json={"key": "sk_live_guess9"},
        headers={"Authorization": f"Bearer {w.gateway}"},
    )
    assert r.status_code == 429 and r.json()["error"]["code"] == "RATE_LIMITED"
    assert int(r.headers["retry-after"]) >= 1
    assert (await verify(api, w.gateway, w.key))[0] == 200


async def test_limits_are_shared_by_instances_through_redis(
    settings: Settings, redis_server: RedisServer
) -> None:
    await _two_instances_count_as_one(settings, redis_url=redis_server.url)


async def test_limits_are_shared_by_workers_through_postgres(settings: Settings) -> None:
    """Several workers without Redis (``aforo serve --workers N``) count in PostgreSQL, as one."""
    await _two_instances_count_as_one(settings, bus="postgres")


async def _two_instances_count_as_one(settings: Settings, **shared_by: object) -> None:
    shared = with_settings(settings, rate_limits=(("signup.ip", "2/11 minutes"),), **shared_by)
    async with serving(shared) as one, serving(shared) as two:
        t = await make_tenant(settings)
        await one.sign_up(t, "a@example.com")
        await two.sign_up(t, "b@example.com")
        r = await one.raw(
            """mutation($i: SignUpInput!) { signUp(input: $i) { __typename } }""",
            {"i": {"email": "c@example.com", "password": "correct horse battery", "name": "C"}},
            storefront=t.storefront_key,
        )
        throttled(r)


async def test_in_process_counting_answers_as_the_limits_library_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``LocalWindows`` replaces ``limits``' memory storage on the hot path; it must refuse,
    admit and report reset times exactly as the library's sliding-window counter would, across
    window boundaries, several tiers and clears, on the same clock."""
    clock = [1_700_000_000.25]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    reference = SlidingWindowCounterRateLimiter(MemoryStorage())
    ours = LocalWindows()
    items = parse_many("5/second;12/10 seconds;40/minute")
    rng = random.Random(7)
    outcomes: set[bool] = set()
    for step in range(3000):
        clock[0] += rng.choice([0.0, 0.01, 0.07, 0.3, 1.1, 9.7])
        item, who = rng.choice(items), rng.choice(["a", "b"])
        op = rng.choices(["hit", "test", "stats", "clear"], [70, 15, 14, 1])[0]
        if op == "hit":
            cost = rng.choice([1, 1, 1, 2, 6])
            theirs = await reference.hit(item, "n", who, cost=cost)
            assert await ours.hit(item, "n", who, cost=cost) is theirs, step
            outcomes.add(theirs)
        elif op == "test":
            assert await ours.test(item, "n", who) is await reference.test(item, "n", who), step
        elif op == "stats":
            mine, theirs_stats = (
                await ours.get_window_stats(item, "n", who),
                await reference.get_window_stats(item, "n", who),
            )
            assert mine.remaining == theirs_stats.remaining, step
            assert mine.reset_time == pytest.approx(theirs_stats.reset_time, abs=1e-6), step
        else:
            await reference.clear(item, "n", who)
            await ours.clear(item, "n", who)
    assert outcomes == {True, False}  # both admitted and refused along the way
    # Bounded: past SWEEP_AT entries, windows that no longer count are dropped.
    small = LocalWindows()
    small.SWEEP_AT = 3
    for who in "abcd":
        assert await small.hit(items[0], "n", who)
    clock[0] += 2.5  # two 1-second windows later: a..d count for nothing
    assert await small.hit(items[0], "n", "e")
    assert len(small._windows) == 1
