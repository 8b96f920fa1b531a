"""The plan executor answers exactly as graphql-core does.

Every query below runs twice on one strawberry schema - once through ``PlanExecutor`` (the
compiled plan), once through strawberry's own graphql-core executor - and the two answers
must be the same: data, and every error's message, path, locations and extensions (masked
ones masked). The schema exercises what the plan handles itself (plain attributes, scalar and
enum coercion, lists, non-null propagation, permissions checked once per field and request,
dataloader lookups shared per key, async resolvers, arguments and input objects, unions,
fragments, aliases, @skip/@include, mutations in order) and what it leaves to graphql-core
(introspection). The app's own schema is covered the same way on its busiest list.
"""

from __future__ import annotations

import asyncio
import enum
import gc
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import pytest
import strawberry
from fastapi import FastAPI
from graphql import GraphQLError
from strawberry.dataloader import DataLoader
from strawberry.extensions import MaskErrors
from strawberry.permission import BasePermission
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from aforo.graphql_exec import (
    DocumentCache,
    Lookup,
    PreparedDocuments,
    for_schema,
    lookup_resolver,
    plan_cache_info,
)
from tests.gateway import statements
from tests.support import Api
from tests.test_forum_support import make_forum


class Kind(enum.Enum):
    PLAIN = "plain"
    FANCY = "fancy"


class Ctx:
    """A request's context: who may see secrets, loaders counting their batches."""

    def __init__(self, allowed: bool) -> None:
        self.allowed = allowed
        self.batches: list[list[int]] = []
        self.order: list[str] = []

        async def people(keys: list[int]) -> list[Person | None]:
            self.batches.append(sorted(keys))
            return [PEOPLE.get(k) for k in keys]

        self.people = DataLoader(people)


class Allowed(BasePermission):
    message = "not for you"
    error_extensions = {"code": "FORBIDDEN"}
    per_request = True  # decides on the context alone: checked once per field and request

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return bool(info.context.allowed)


@strawberry.type
class Person:
    id: int
    name: str
    nickname: str | None = None


PEOPLE = {i: Person(id=i, name=f"P{i}", nickname=None if i % 2 else f"n{i}") for i in range(5)}


@strawberry.input
class Filter:
    minimum: int = 0
    kinds: list[Kind] = strawberry.field(default_factory=list)


def _owner_view(_: Any, p: Person | None) -> Person | None:
    return p


@strawberry.type
class Item:
    id: strawberry.ID
    name: str
    score: int
    ratio: float
    flag: bool
    kind: Kind
    at: datetime
    tags: list[str]
    maybe: str | None
    owner: Person | None = strawberry.field(
        resolver=lookup_resolver(Lookup(lambda c: c.people, lambda i: i._owner, _owner_view))
    )
    owner_required: Person = strawberry.field(
        resolver=lookup_resolver(Lookup(lambda c: c.people, lambda i: i._owner, _owner_view))
    )
    _owner: strawberry.Private[int | None] = None

    @strawberry.field
    async def later(self) -> str:
        await asyncio.sleep(0)
        return f"later {self.id}"

    @strawberry.field
    def fails(self) -> str | None:
        raise ValueError("an unexpected failure")  # masked

    @strawberry.field
    def refuses(self) -> str:
        raise GraphQLError("a refusal", extensions={"code": "REFUSED"})  # non-null: propagates

    @strawberry.field(permission_classes=[Allowed])
    def secret(self) -> str:
        return f"secret {self.id}"

    @strawberry.field(permission_classes=[Allowed])
    def note(self) -> str | None:
        return f"note {self.id}"

    @strawberry.field
    def plus(self, by: int, filter: Filter | None = None) -> int:
        return self.score + by + (filter.minimum if filter else 0)

    @strawberry.field
    def too_big(self) -> int:
        return 2**40  # not a 32-bit Int: a field error


def item(i: int, **over: Any) -> Item:
    values: dict[str, Any] = {
        "id": strawberry.ID(str(i)),
        "name": f"item {i}",
        "score": i * 10,
        "ratio": i / 4,
        "flag": i % 2 == 0,
        "kind": Kind.FANCY if i % 3 else Kind.PLAIN,
        "at": datetime(2026, 1, 1 + i, tzinfo=UTC),
        "tags": [f"t{i}", "common"],
        "maybe": None if i % 2 else f"m{i}",
        "_owner": i % 4 if i != 3 else 9,  # 9: nobody
    }
    values.update(over)
    return Item(**values)


@strawberry.type
class Thing:
    label: str


Found = Annotated[Item | Thing, strawberry.union("Found")]


@strawberry.type
class Query:
    @strawberry.field
    def items(self, first: int = 5) -> list[Item]:
        return [item(i) for i in range(first)]

    @strawberry.field
    def sparse(self) -> list[Item | None]:
        return [item(0), None, item(2, name=None)]  # type: ignore[arg-type]  # name: non-null

    @strawberry.field
    async def found(self, which: int) -> Found:
        await asyncio.sleep(0)
        return item(which) if which % 2 == 0 else Thing(label=f"thing {which}")

    @strawberry.field(permission_classes=[Allowed])
    def guarded(self) -> list[Item]:
        return [item(1)]


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def first(self, info: strawberry.Info) -> str:
        await asyncio.sleep(0.01)
        info.context.order.append("first")
        return "first"

    @strawberry.mutation
    def second(self, info: strawberry.Info) -> str:
        info.context.order.append("second")
        return "second"


def _schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    def masked() -> MaskErrors:
        return MaskErrors(
            should_mask_error=lambda e: (
                e.original_error is not None and not isinstance(e.original_error, GraphQLError)
            )
        )

    documents = DocumentCache(max_tokens=5000, rules=())  # as the app: parsed once per text

    def prepared() -> PreparedDocuments:
        return PreparedDocuments(documents)

    plan = strawberry.Schema(query=Query, mutation=Mutation, extensions=[prepared, masked])
    plan.execution_context_class = for_schema(plan)
    core = strawberry.Schema(
        query=Query,
        mutation=Mutation,
        extensions=[prepared, masked],
        execution_context_class=StrawberryGraphQLCoreExecutionContext,
    )
    return plan, core


PLAN, CORE = _schemas()


def _answer(result: Any) -> tuple[Any, list[dict[str, Any]]]:
    errors = [e.formatted for e in result.errors or ()]
    # The order errors are listed in is the order their fields settled; compare by place.
    return result.data, sorted(errors, key=lambda e: (str(e.get("path")), e["message"]))


async def both(
    query: str, variables: dict[str, Any] | None = None, *, allowed: bool = True
) -> tuple[Any, Ctx]:
    plan_ctx, core_ctx = Ctx(allowed), Ctx(allowed)
    runs = plan_cache_info()["runs"]
    planned = await PLAN.execute(query, variables, context_value=plan_ctx)
    # Run by its plan, introspection excepted (graphql-core's own).
    assert plan_cache_info()["runs"] == runs + ("__schema" not in query)
    reference = await CORE.execute(query, variables, context_value=core_ctx)
    assert _answer(planned) == _answer(reference)
    if not reference.errors:  # (an aborted execution may or may not have started a load)
        assert plan_ctx.batches == core_ctx.batches  # the same loads, batched alike
    return _answer(planned), plan_ctx


ITEM_FIELDS = """id name score ratio flag kind at tags maybe later
  owner { id name nickname } tooBig"""


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (f"{{ items {{ {ITEM_FIELDS} }} }}", None),
        ("{ items(first: 3) { id fails } }", None),
        ("{ items(first: 3) { id refuses } }", None),  # non-null: the whole list's field nulls
        ("{ sparse { id name } }", None),  # a null item, an item whose non-null name is null
        ("{ items { ownerRequired { id } } }", None),  # one owner missing: non-null propagates
        ("query($b: Int!, $f: Filter) { items { plus(by: $b, filter: $f) } }", {"b": 1}),
        (
            "query($f: Filter) { items { a: plus(by: 2, filter: $f) b: plus(by: 3) } }",
            {"f": {"minimum": 5, "kinds": ["FANCY"]}},
        ),
        (
            """query($s: Boolean!, $i: Boolean!) { items(first: 2) {
                 id name @skip(if: $s) ... on Item { score @include(if: $i) } ...more } }
               fragment more on Item { flag __typename }""",
            {"s": True, "i": False},
        ),
        (
            """{ a: found(which: 2) { __typename ... on Item { id owner { name } } }
                 b: found(which: 3) { __typename ... on Thing { label } } }""",
            None,
        ),
        ("{ __typename items(first: 1) { __typename id } }", None),
        ("{ __schema { queryType { name } } }", None),  # introspection: graphql-core's
    ],
)
async def test_the_plan_answers_as_graphql_core(query: str, variables: dict[str, Any]) -> None:
    await both(query, variables)


async def test_permissions_refuse_every_value_and_are_checked_once_per_request() -> None:
    calls: list[int] = []
    original = Allowed.has_permission

    def counting(self: Allowed, source: Any, info: strawberry.Info, **kw: Any) -> bool:
        calls.append(1)
        return original(self, source, info, **kw)

    Allowed.has_permission = counting  # type: ignore[method-assign]
    try:
        (data, errors), _ = await both("{ items { id note } }", allowed=False)
        calls.clear()
        await PLAN.execute("{ items { id note } }", context_value=Ctx(False))
        plan_calls = len(calls)
    finally:
        Allowed.has_permission = original  # type: ignore[method-assign]
    assert [i["note"] for i in data["items"]] == [None] * 5
    assert [e["path"] for e in errors] == [["items", i, "note"] for i in range(5)]
    assert {e["extensions"]["code"] for e in errors} == {"FORBIDDEN"}
    assert plan_calls == 1  # graphql-core asks for each of the five items
    (data, errors), _ = await both("{ items { id secret } }", allowed=False)
    assert data is None  # secret is non-null: the refusal nulls the list, hence data
    (data, errors), _ = await both("{ guarded { id } items(first: 1) { id } }", allowed=False)
    assert data is None and errors[0]["message"] == "not for you"
    (data, errors), _ = await both("{ items(first: 2) { secret } }", allowed=True)
    assert data == {"items": [{"secret": "secret 0"}, {"secret": "secret 1"}]} and not errors


async def test_masked_errors_stay_masked() -> None:
    (data, errors), _ = await both("{ items(first: 2) { id fails } }")
    assert data == {"items": [{"id": "0", "fails": None}, {"id": "1", "fails": None}]}
    assert {e["message"] for e in errors} == {"Unexpected error."}


async def test_a_lookup_loads_once_per_key_and_shares_the_result() -> None:
    (data, _), ctx = await both("{ items(first: 8) { owner { id name } } }")
    assert ctx.batches == [[0, 1, 2, 3, 9]]  # one batch, each distinct key once
    owners = [i["owner"] for i in data["items"]]
    assert owners[3] is None and owners[0] == owners[4] == {"id": 0, "name": "P0"}


async def test_mutations_run_their_fields_in_order() -> None:
    ctx = Ctx(allowed=True)
    result = await PLAN.execute("mutation { first second }", context_value=ctx)
    assert result.data == {"first": "first", "second": "second"} and ctx.order == [
        "first",
        "second",
    ]


async def test_a_document_compiles_once_and_per_directive_values() -> None:
    query = "query($s: Boolean!) { items(first: 1) { id name @skip(if: $s) } }"
    before = plan_cache_info()["compiled"]
    for skip in (True, False, True, False):
        await both(query, {"s": skip})
    assert plan_cache_info()["compiled"] - before == 2  # one plan per value of $s


async def test_the_app_answers_its_busiest_list_as_graphql_core(api: Api, app: FastAPI) -> None:
    """The thread page with authors and categories: the same answer and the same statements
    through the plan as through graphql-core."""
    f = await make_forum(api, app)
    members = await f.members(3)
    cat = await f.category("Help")
    for i in range(6):
        await f.thread(members[i % 3], cat, f"Question number {i}")
    query = """{ threads(first: 6) { edges { cursor node { id title status tags createdAt
                 author { id name } category { id name } } } pageInfo { endCursor } } }"""
    gql = next(r for r in app.router.routes if getattr(r, "path", "") == "/graphql")
    schema = gql.app.schema  # type: ignore[attr-defined]
    answers, counts = [], []
    plan = schema.execution_context_class
    try:
        for executor in (plan, StrawberryGraphQLCoreExecutionContext):
            schema.execution_context_class = executor
            with statements(app) as seen:
                answers.append(await f.data(query, {}, members[0]))
            counts.append(len(seen))
    finally:
        schema.execution_context_class = plan
    assert answers[0] == answers[1]
    assert counts[0] == counts[1] == 4  # tenant binding, threads, their authors, categories
    assert uuid.UUID(answers[0]["threads"]["edges"][0]["node"]["author"]["id"])


async def test_search_hits_show_their_thread_and_reply_without_another_statement(
    api: Api, app: FastAPI
) -> None:
    f = await make_forum(api, app)
    members = await f.members(2)
    cat = await f.category("Help")
    for i in range(4):
        t = await f.thread(members[0], cat, f"Rotating webhook secrets {i}")
        await f.reply(members[1], t["id"], f"Webhook rotation answer {i}")
    query = """query($q: String!) { searchForum(query: $q, first: 20) {
                 titleHtml thread { id title author { name } } reply { id body } } }"""
    with statements(app) as seen:
        hits = (await f.data(query, {"q": "webhook"}))["searchForum"]
    assert len(hits) == 4 and all(h["thread"]["title"].startswith("Rotating") for h in hits)
    assert all(h["thread"]["author"]["name"] for h in hits)
    # What reads the forum and its members: the search (threads and replies in it) and the
    # authors, never one per hit. (The caller's own credential may be read too, when a busy
    # machine delayed the invalidation channel's heartbeat and the caches were purged.)
    reads = [s for s in seen if "community_" in s or "FROM users" in s]
    assert len(reads) == 2, seen


async def test_a_list_leaves_nothing_per_item_to_the_cycle_collector(
    api: Api, app: FastAPI
) -> None:
    """A request's loaders, lookups and loaded rows are freed by reference counting when it
    ends. Left in reference cycles (loaders holding the context that holds them; a lookup and
    its field's map), every item's objects waited for the cycle collector, whose pass over a
    few thousand of them stalled a request every ~17 list pages."""
    f = await make_forum(api, app)
    members = await f.members(3)
    cats = [await f.category(name) for name in ("Help", "Ideas", "News")]
    for i in range(24):
        await f.thread(members[i % 3], cats[i % 3], f"Question number {i}")
    query = """query($n: Int!) { threads(first: $n) { edges { node { id title
                 author { id name } category { id name } } } } }"""

    async def garbage(n: int) -> int:
        """Objects one request leaves in cycles (the fewest of three: a background task of
        the app may leave a few of its own meanwhile)."""
        counts = []
        for _ in range(3):
            gc.collect()
            gc.set_debug(gc.DEBUG_SAVEALL)
            try:
                edges = (await f.data(query, {"n": n}, members[0]))["threads"]["edges"]
                assert len(edges) == n
                gc.collect()
                counts.append(len(gc.garbage))
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
        return min(counts)

    await garbage(2)  # warm: first-use caches
    few, many = await garbage(2), await garbage(24)
    assert many <= few + 5, (few, many)
