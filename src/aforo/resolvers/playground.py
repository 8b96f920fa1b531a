"""Try-it playground resolvers.

The mutations do not use the request session (``guarded``): a run holds no database connection
while it waits on the tenant's API; it prepares and records in short reads and transactions of
its own (``services.playground_runs``), so a ``UserError`` here never undoes a recorded run.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.errors import DomainError
from aforo.schema.base import (
    AppInfo,
    IsAuthenticated,
    UserError,
    graphql_error,
    page_size,
    parse_id,
    read,
)
from aforo.schema.playground import (
    PlaygroundEvent,
    PlaygroundResponse,
    PlaygroundRun,
    PlaygroundRunStarted,
    StartPlaygroundRunResult,
    TryOperationInput,
    TryOperationResult,
)
from aforo.services import playground, playground_runs
from aforo.tenancy.context import Role


@strawberry.type
class Query:
    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Your latest try-it runs, newest first (an admin sees the whole tenant's).",
    )
    async def playground_runs(self, info: AppInfo, first: int | None = None) -> list[PlaygroundRun]:
        n = page_size(first)
        tenant = info.context.require_tenant()
        user_id = info.context.require_user()
        # Runs are recorded off the caller's path: wait for this instance's to land.
        await playground_runs.flush(info.context.runtime)

        async def go(s: AsyncSession) -> list[PlaygroundRun]:
            rows = await playground.list_runs(
                s, user_id=user_id, everyone=tenant.has(Role.ADMIN), first=n
            )
            return [PlaygroundRun.of(r) for r in rows]

        return await read(info, go)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Call an operation of an imported spec with one of your keys and wait for "
        "the answer (status, headers, body, timing). The server injects the credential.",
    )
    async def try_operation(self, info: AppInfo, input: TryOperationInput) -> TryOperationResult:
        ctx = info.context
        try:
            out = await playground_runs.try_operation(
                ctx.runtime, ctx.require_tenant(), input.to_service()
            )
        except DomainError as e:
            return UserError.of(e)
        if out.result is None:
            assert out.error is not None
            return UserError.of(out.error)
        return PlaygroundResponse.of(out.result)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Start a try-it run and return its id at once; follow it with the "
        "playgroundRunEvents subscription (on any instance).",
    )
    async def start_playground_run(
        self, info: AppInfo, input: TryOperationInput
    ) -> StartPlaygroundRunResult:
        ctx = info.context
        try:
            run_id = await playground_runs.start(
                ctx.runtime, ctx.require_tenant(), input.to_service()
            )
        except DomainError as e:
            return UserError.of(e)
        return PlaygroundRunStarted(run_id=strawberry.ID(str(run_id)))


@strawberry.type
class Subscription:
    @strawberry.subscription(
        permission_classes=[IsAuthenticated],
        description="Run a try-it request and stream its phases as they happen: DNS_RESOLVED, "
        "CONNECTED, TLS_DONE (https), FIRST_BYTE, then COMPLETED with the answer, or ERROR.",
    )
    async def playground_run(
        self, info: AppInfo, input: TryOperationInput
    ) -> AsyncGenerator[PlaygroundEvent, None]:
        # Never the request session (ctx.db()): runs use short transactions of their own.
        ctx = info.context
        tenant = ctx.require_tenant()
        try:
            run_id = await playground_runs.start(ctx.runtime, tenant, input.to_service())
        except DomainError as e:
            yield PlaygroundEvent.from_dict(
                {"runId": None, "seq": 1, **playground_runs.error_payload(e)}
            )
            return
        async for event in _follow(info, run_id):
            yield event

    @strawberry.subscription(
        permission_classes=[IsAuthenticated],
        description="The events of a run started with startPlaygroundRun, from its first.",
    )
    async def playground_run_events(
        self, info: AppInfo, run_id: strawberry.ID
    ) -> AsyncGenerator[PlaygroundEvent, None]:
        try:
            rid = parse_id(run_id, "runId")
        except DomainError as e:
            raise graphql_error(e) from e
        async for event in _follow(info, rid):
            yield event


async def _follow(info: AppInfo, run_id: uuid.UUID) -> AsyncGenerator[PlaygroundEvent, None]:
    ctx = info.context
    try:
        async for d in playground_runs.follow(ctx.runtime, ctx.require_tenant(), run_id):
            yield PlaygroundEvent.from_dict(d)
    except DomainError as e:
        raise graphql_error(e) from e
