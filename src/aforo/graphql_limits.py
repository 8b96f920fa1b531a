"""Checks every GraphQL operation passes before it runs: clean text inputs and a static cost.

**Text inputs.** Every string an operation carries (inline in the document or in its
variables, at any depth of an input object or list) is checked against ``aforo.text``: a
control character, a lone surrogate or a noncharacter refuses the whole operation with
``INVALID_CHARACTERS`` and the offending argument's path in ``extensions.field``.

**Cost.** Every operation's cost is computed from its document before anything executes:
each field returning an object costs 1, and a list multiplies what it contains by its page
size: its ``first`` argument (a literal or a variable), the field's default when absent, or the
size declared for it in ``LIST_SIZES`` (lists that take no page size and are bounded by their
nature). A connection's ``first`` sizes its ``edges`` / ``nodes``. Introspection is free (its
own depth limit bounds it). Past the caller's budget (anonymous storefront, developer, admin:
``AFORO_COST_*``) the operation is refused with ``QUERY_TOO_COSTLY`` and the computed cost and
budget in ``extensions``. The walk of a document is compiled once and cached; only the
variables are read per request.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    BooleanValueNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_composite_type,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry.extensions import SchemaExtension

from aforo.schema.base import DEFAULT_PAGE, MAX_PAGE
from aforo.schema.context import Context
from aforo.tenancy.context import PrincipalKind, Role
from aforo.text import CODE as TEXT_CODE
from aforo.text import bad_character

# Lists without a page size, and what one is taken to hold. Two kinds: lists bounded by their
# nature (roles, plans of a product, the latest 50 events), priced at their bound; and lists
# read from a document a tenant imported or wrote (a spec's operations and parameters, a
# page's headings), resolved in memory from one loaded row and priced at a typical size; the
# response-size cap is what bounds an outsized document. Trees (docTree, DocPage.children)
# hold each page once, so their nesting is priced at an average fan-out. A new list field must
# be paginated (``first``) or named here: a test walks the schema.
LIST_SIZES: dict[str, int] = {
    "ApiKey.subscriptions": 5,
    "ApiKey.events": 50,  # the latest 50
    "CommunityProfile.badges": 10,
    "Product.plans": 10,
    "Query.storefrontKeys": 10,
    "Query.gatewayTokens": 10,
    "Query.categories": 30,
    "Query.similarThreads": 3,
    "Query.outboundAllowlist": 100,  # at most 100 entries
    "Thread.tags": 5,
    "User.roles": 3,
    "UsageSeries.buckets": 100,
    "UsageUpload.errors": 100,
    "PlaygroundResponse.headers": 20,
    "Query.docTree": 50,
    "DocPage.children": 3,
    "DocPage.toc": 10,
    "DocPage.breadcrumbs": 5,
    "Query.apiSpecs": 3,
    "SpecVersion.tags": 5,
    "ApiOperation.tags": 2,
    "ApiOperation.parameters": 5,
    "ApiOperation.responses": 3,
    "ApiOperation.codeSamples": 8,
    "ApiRequestBody.content": 1,
    "ApiResponse.content": 1,
    "SampleRequest.headers": 5,
    "SpecChange.details": 5,
    "SpecDiff.changes": 50,
    "SpecInvalid.problems": 50,
    # accounts and teams: a person's sessions and teams; a team's rosters (the resolvers return
    # the latest 200 at most; priced at a typical size, the response cap bounds the rest)
    "Query.sessions": 10,
    "Query.teams": 5,
    "Team.members": 20,
    "Team.invitations": 10,
    "Team.subscriptions": 10,
    "Team.apiKeys": 20,
    "RecoveryCodes.codes": 10,  # exactly ten
    # billing: a plan's charges and tiers, an invoice's lines and its audit trail
    "Plan.charges": 5,
    "PlanCharge.tiers": 5,
    "Invoice.lines": 10,
    "Invoice.events": 5,
    "InvoiceLine.tiers": 5,
    "UpcomingInvoice.lines": 10,
    "BillingRun.invoices": 50,
    # the Integration Guide: a fixed set of sections and snippets from the repository's templates
    "IntegrationGuide.plans": 10,
    "IntegrationGuide.gatewayTokens": 10,
    "IntegrationGuide.placeholders": 10,
    "IntegrationGuide.sections": 10,
    "IntegrationSection.snippets": 6,
    # the browser edge: a tenant's allowed origins, documents registered in one call
    "Query.allowedOrigins": 100,
    "TrustedDocumentsRegistered.documents": 100,
    # a spec's reference: small lists read from the imported document (see above)
    "SpecVersion.files": 10,
    "SpecVersion.conversions": 20,
    "SpecVersion.tagGroups": 5,
    "SpecVersion.serverList": 3,
    "SpecVersion.securitySchemeList": 3,
    "SpecTagGroup.tags": 5,
    "ApiServer.variables": 3,
    "ApiServerVariable.enum": 5,
    "ApiSecurityScheme.flows": 2,
    "ApiOAuthFlow.scopes": 10,
    "ApiParameter.examples": 2,
    "ApiMedia.examples": 2,
    "ApiResponse.headers": 3,
    "ApiResponse.links": 2,
    "ApiHeader.examples": 2,
    "GraphqlTypeDoc.fields": 20,
    "GraphqlTypeDoc.inputFields": 10,
    "GraphqlTypeDoc.enumValues": 10,
    "GraphqlTypeDoc.interfaces": 2,
    "GraphqlTypeDoc.possibleTypes": 5,
    "GraphqlField.args": 3,
    "SpecChange.checks": 3,
    # usage: a series by metric, and the saved mappings for uploads (a handful per tenant)
    "UsageSeries.byMetric": 5,
    "MetricUsage.buckets": 100,
    "UsageRejection.errors": 5,
    "Query.usageMappings": 20,
    "UsageMapping.fields": 10,
    "UsageMapping.constants": 5,
    "UsageMapping.units": 5,
}
_PAGED_CHILDREN = frozenset({"edges", "nodes"})  # a connection's list, sized by its `first`
_CACHE_SIZE = 1000


# -- one walk of the document, cached ------------------------------------------------------------
@dataclass
class _Field:
    """A selected field: what multiplies its contents, and what it contains."""

    weight: int  # 1 for an object, 0 for a leaf
    is_list: bool = False
    size: int | None = None  # a list's fixed multiplier (None: its connection's page)
    variable: str | None = None  # or the variable that sets `first`
    page: int | str | None = None  # a connection's page size, handed to its edges / nodes
    children: list[_Field] = field(default_factory=list)

    def cost(self, variables: Mapping[str, Any], page: int | None = None) -> int:
        mine = _page_value(self.page, variables)
        inner = self.weight + sum(c.cost(variables, mine) for c in self.children)
        if not self.is_list:
            return inner
        n = self.size
        if self.variable is not None:
            given = variables.get(self.variable)
            n = given if isinstance(given, int) and not isinstance(given, bool) else n
        if n is None:
            n = page if page is not None else DEFAULT_PAGE
        if not 0 < n <= MAX_PAGE:
            return 0  # the field refuses such a page itself (INVALID first) and returns nothing
        return n * inner


def _page_value(page: int | str | None, variables: Mapping[str, Any]) -> int | None:
    if isinstance(page, str):
        given = variables.get(page)
        page = given if isinstance(given, int) and not isinstance(given, bool) else DEFAULT_PAGE
    if page is not None and not 0 < page <= MAX_PAGE:
        return 0  # refused by the field itself, as above
    return page


@dataclass
class Plan:
    fields: list[_Field]
    text_problem: tuple[str, str] | None  # (path, why) of a bad literal string
    variable_paths: dict[str, str]  # variable name → the argument path it fills

    def cost(self, variables: Mapping[str, Any]) -> int:
        return sum(f.cost(variables) for f in self.fields)


def _unwrap(t: Any) -> tuple[bool, Any]:
    nullable = get_nullable_type(t)
    return isinstance(nullable, GraphQLList), get_named_type(t)


def _first_arg(node: FieldNode, definition: GraphQLField) -> tuple[int | None, str | None]:
    """The page size a field asks for: (literal, variable), or its default."""
    for arg in node.arguments or ():
        if arg.name.value == "first":
            if isinstance(arg.value, IntValueNode):
                return int(arg.value.value), None
            if isinstance(arg.value, VariableNode):
                return None, arg.value.name.value
            return None, None
    default = definition.args["first"].default_value if "first" in definition.args else None
    return (default if isinstance(default, int) else None), None


class _Compiler:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode) -> None:
        self.schema = schema
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.text_problem: tuple[str, str] | None = None
        self.variable_paths: dict[str, str] = {}

    def selections(
        self, parent: Any, selection_set: SelectionSetNode | None, seen: frozenset[str]
    ) -> Iterator[_Field]:
        if selection_set is None:
            return
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                built = self.field(parent, sel, seen)
                if built is not None:
                    yield built
            elif isinstance(sel, InlineFragmentNode):
                on = parent
                if sel.type_condition is not None:
                    on = self.schema.get_type(sel.type_condition.name.value) or parent
                yield from self.selections(on, sel.selection_set, seen)
            elif isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                frag = self.fragments.get(name)
                if frag is None or name in seen:  # validation refuses both anyway
                    continue
                on = self.schema.get_type(frag.type_condition.name.value) or parent
                yield from self.selections(on, frag.selection_set, seen | {name})

    def field(self, parent: Any, node: FieldNode, seen: frozenset[str]) -> _Field | None:
        name = node.name.value
        for arg in node.arguments or ():
            self.value(arg.name.value, arg.value)
        fields = getattr(parent, "fields", None)  # a union has none: it selects by fragments
        if name.startswith("__") or not fields or name not in fields:
            return None  # introspection is free; an unknown field fails validation
        definition: GraphQLField = fields[name]
        is_list, named = _unwrap(definition.type)
        composite = is_composite_type(named)
        built = _Field(weight=1 if composite else 0, is_list=is_list)
        literal, variable = _first_arg(node, definition)
        has_first = "first" in definition.args
        if is_list:
            key = f"{parent.name}.{name}"
            if has_first:
                built.size, built.variable = literal, variable
                if literal is None and variable is None:
                    built.size = DEFAULT_PAGE
            elif key in LIST_SIZES:
                built.size = LIST_SIZES[key]
            elif name not in _PAGED_CHILDREN:
                built.size = DEFAULT_PAGE
        elif has_first:
            built.page = variable if variable is not None else (literal or DEFAULT_PAGE)
        if composite:
            built.children = list(self.selections(named, node.selection_set, seen))
        return built

    def value(self, path: str, node: ValueNode) -> None:
        if isinstance(node, VariableNode):
            self.variable_paths.setdefault(node.name.value, path)
        elif isinstance(node, StringValueNode):
            why = bad_character(node.value)
            if why is not None and self.text_problem is None:
                self.text_problem = (path, why)
        elif isinstance(node, ObjectValueNode):
            for f in node.fields:
                self.value(f"{path}.{f.name.value}", f.value)
        elif isinstance(node, ListValueNode):
            for i, v in enumerate(node.values):
                self.value(f"{path}[{i}]", v)
        elif isinstance(node, BooleanValueNode | IntValueNode):
            return


def compile_plan(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
) -> Plan | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    op = next(
        (o for o in operations if o.name is not None and o.name.value == operation_name),
        operations[0] if len(operations) == 1 or operation_name is None else None,
    )
    if op is None:
        return None
    root = schema.get_root_type(op.operation)
    if root is None:
        return None
    c = _Compiler(schema, document)
    fields = list(c.selections(root, op.selection_set, frozenset()))
    return Plan(fields, c.text_problem, c.variable_paths)


class PlanCache:
    """Compiled plans by (query text, operation name), least recently used dropped first."""

    def __init__(self, size: int = _CACHE_SIZE) -> None:
        self._plans: OrderedDict[tuple[str, str | None], Plan | None] = OrderedDict()
        self._size = size

    def get(self, key: tuple[str, str | None], build: Callable[[], Plan | None]) -> Plan | None:
        if key in self._plans:
            self._plans.move_to_end(key)
            return self._plans[key]
        plan = build()
        self._plans[key] = plan
        if len(self._plans) > self._size:
            self._plans.popitem(last=False)
        return plan


_plans = PlanCache()


# -- the checks ----------------------------------------------------------------------------------
def _field_name(path: str) -> str:
    # Mutation inputs are named as the services name them: "input.email" → "email".
    return path.removeprefix("input.")


def _bad_variable(value: Any, path: str) -> tuple[str, str] | None:
    if isinstance(value, str):
        why = bad_character(value)
        return (path, why) if why is not None else None
    if isinstance(value, Mapping):
        for k, v in value.items():
            found = _bad_variable(v, f"{path}.{k}")
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _bad_variable(v, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def text_problem(plan: Plan, variables: Mapping[str, Any]) -> tuple[str, str] | None:
    if plan.text_problem is not None:
        return plan.text_problem
    for name, value in variables.items():
        found = _bad_variable(value, plan.variable_paths.get(name, name))
        if found is not None:
            return found
    return None


def budget(ctx: Any) -> int:
    settings = ctx.runtime.settings
    tenant = ctx.tenant if isinstance(ctx, Context) else None
    if tenant is None or tenant.kind is not PrincipalKind.USER:
        return int(settings.cost_anonymous)
    return int(settings.cost_admin if tenant.has(Role.ADMIN) else settings.cost_developer)


class OperationChecks(SchemaExtension):
    """Refuses, before execution, an operation with a bad text input or over its budget."""

    def on_execute(self) -> Iterator[None]:
        ec = self.execution_context
        document = ec.graphql_document
        if document is not None and ec.query is not None and isinstance(ec.context, Context):
            schema = ec.schema._schema
            plan = _plans.get(
                (ec.query, ec.operation_name),
                lambda: compile_plan(schema, document, ec.operation_name),
            )
            error = self._refusal(plan, ec.variables or {}, ec.context) if plan else None
            if error is not None:
                ec.result = GraphQLExecutionResult(data=None, errors=[error])
        yield

    @staticmethod
    def _refusal(plan: Plan, variables: Mapping[str, Any], ctx: Context) -> GraphQLError | None:
        bad = text_problem(plan, variables)
        if bad is not None:
            where = _field_name(bad[0])
            return GraphQLError(
                f"{where} contains {bad[1]}", extensions={"code": TEXT_CODE, "field": where}
            )
        cost, allowed = plan.cost(variables), budget(ctx)
        if cost > allowed:
            return GraphQLError(
                f"this operation costs {cost}, over the budget of {allowed}: ask for smaller "
                "pages (first) or fewer nested lists",
                extensions={"code": "QUERY_TOO_COSTLY", "cost": cost, "budget": allowed},
            )
        return None
