"""A compiled execution plan per (document, operation): the GraphQL hot path.

graphql-core's executor pays its per-field machinery on every value it resolves: a resolve
info, an argument lookup, a resolver wrapper (strawberry's adds an ``Info``, argument
conversion and the permission extension), a completion walk over the type, and an awaitable
plus a task for every async resolver. A list of 100 items with 15 fields runs it 1,500 times.

``PlanExecutor`` keeps graphql-core's request set-up (operation selection, variable coercion,
fragments) and strawberry's pipeline around it (parser and validation caches, error masking,
extensions), and replaces the walk. For each validated operation it compiles, once, a plan:
per selection set the fields to produce, each with how to get and complete its value:

* ``__typename``: a constant;
* a plain attribute (a strawberry field without resolver nor extension, which strawberry
  itself would resolve with ``getattr``): read directly, scalars coerced inline;
* a strawberry resolver whose only extension is the permission extension with permissions
  that declare ``per_request = True`` (their verdict depends on the request context alone):
  the permissions run once per (field, request), the arguments are coerced and converted once
  per (field, request), then the resolver function is called directly;
* anything else: the field's own graphql-core resolver (strawberry's full wrapper), as
  graphql-core would call it.

Async resolvers of one level start together (each in its own task, as graphql-core's gather
does), so dataloaders still batch a whole level into one statement. Errors are located, masked,
propagated to the nearest nullable parent and collected exactly as graphql-core does. Anything
the plan does not cover (introspection, custom middleware, fragment arguments) runs on
graphql-core's own executor.
"""

from __future__ import annotations

from typing import Any, ClassVar

from graphql import OperationType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from aforo.graphql_exec.documents import DocumentCache, PreparedDocuments
from aforo.graphql_exec.plan import _PLANS, LOOKUP, Lookup, lookup_resolver, plan_cache_info
from aforo.graphql_exec.run import _Run

__all__ = [
    "LOOKUP",
    "DocumentCache",
    "Lookup",
    "PlanExecutor",
    "PreparedDocuments",
    "for_schema",
    "lookup_resolver",
    "plan_cache_info",
]


# -- the executor strawberry runs ---------------------------------------------------------
class PlanExecutor(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor whose ``execute_operation`` runs the operation's plan."""

    strawberry_schema: ClassVar[Any] = None  # set by ``for_schema``
    info_class: ClassVar[Any] = None

    def execute_operation(self, serially: bool | None = None) -> Any:
        plan = _PLANS.get(self)
        if plan is None:
            return super().execute_operation(serially)
        _PLANS.runs += 1
        if serially is None:
            serially = self.operation.operation is OperationType.MUTATION
        return _Run(self).execute(plan, serially)


def for_schema(schema: Any) -> type[PlanExecutor]:
    """A ``PlanExecutor`` for a strawberry ``Schema`` (its argument conversion and Info)."""
    return type(
        "PlanExecutor",
        (PlanExecutor,),
        {"strawberry_schema": schema, "info_class": schema.config.info_class},
    )
