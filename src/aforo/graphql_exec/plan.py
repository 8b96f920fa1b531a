"""The plan: per selection set, the fields to produce and how to get and complete each;
compiled once per (operation, values of the @skip/@include variables) and cached."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from graphql import (
    FieldNode,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLField,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
    OperationType,
)
from graphql.execution.collect_fields import (
    FieldDetails,
    collect_fields,
    collect_subfields,
)
from graphql.language import (
    DirectiveNode,
    OperationDefinitionNode,
    VariableNode,
    Visitor,
    visit,
)
from strawberry.permission import PermissionExtension
from strawberry.types.field import StrawberryField
from strawberry.types.info import Info

if TYPE_CHECKING:
    from aforo.graphql_exec import PlanExecutor

_MAX_PLANS = 1000
_MIN_INT, _MAX_INT = -(2**31), 2**31 - 1

# How a field gets its value.
_TYPENAME, _ATTR, _LOOKUP, _RESOLVER, _GENERIC = range(5)
# How a leaf is coerced: the common scalars inline, the rest by their type.
_STR, _INT, _BOOL, _OTHER = range(4)


class _Unsupported(Exception):
    """The operation uses something the plan does not cover: graphql-core runs it."""


# -- the plan ---------------------------------------------------------------------------------
# How a value completes: a leaf, a list, an object, or an abstract type's object.
_LEAF, _LIST, _OBJECT, _ABSTRACT = range(4)


class Shape:
    """One level of an output type, unwrapped once: whether it is non-null, what it is, its
    coercion (leaves) or item shape (lists)."""

    __slots__ = ("coerce", "kind", "leaf", "non_null", "of", "str_list", "type")

    def __init__(self, t: GraphQLOutputType) -> None:
        self.non_null = isinstance(t, GraphQLNonNull)
        named: Any = t.of_type if isinstance(t, GraphQLNonNull) else t
        self.type = named
        self.of: Shape | None = None
        self.leaf = _leaf_kind(named)
        self.coerce: Callable[[Any], Any] = _identity
        self.str_list = False  # a list of String / ID (nullable items or not)
        if isinstance(named, GraphQLList):
            self.kind = _LIST
            self.of = Shape(named.of_type)
            self.str_list = self.of.leaf == _STR
        elif self.leaf is not None:
            self.kind = _LEAF
            self.coerce = _coercer(named)
        elif isinstance(named, GraphQLObjectType):
            self.kind = _OBJECT
        else:
            self.kind = _ABSTRACT


def _identity(value: Any) -> Any:
    return value


class FieldPlan:
    """One response key of a selection set: the field, its nodes, how to get its value."""

    __slots__ = (
        "args_dynamic",
        "args_static",
        "attr",
        "call",
        "definition",
        "details",
        "field_def",
        "has_args",
        "key",
        "kind",
        "lookup",
        "name",
        "nodes",
        "non_null",
        "parent_type",
        "perm_ext",
        "perms",
        "shape",
        "sub",
        "wants_info",
        "wants_parent",
        "wants_root",
        "wants_self",
    )

    def __init__(
        self,
        parent_type: GraphQLObjectType,
        key: str,
        details: list[FieldDetails],
        field_def: GraphQLField | None,
    ) -> None:
        self.parent_type = parent_type
        self.key = key
        self.details = details
        self.nodes: list[FieldNode] = [d.node for d in details]
        self.name = self.nodes[0].name.value
        self.field_def = field_def
        self.sub: dict[GraphQLObjectType, ObjectPlan] = {}
        self.kind = _GENERIC
        self.attr = ""
        self.call: Callable[..., Any] | None = None
        self.definition: StrawberryField | None = None
        self.perm_ext: PermissionExtension | None = None
        self.perms: tuple[Any, ...] = ()
        self.args_static: dict[str, Any] | None = None
        self.args_dynamic = False
        self.has_args = False
        self.wants_self = False
        self.wants_info = self.wants_parent = self.wants_root = ""
        if field_def is None:  # __typename
            self.kind = _TYPENAME
            self.shape = Shape(GraphQLNonNull(GraphQLString))
        else:
            self.shape = Shape(field_def.type)
            self.has_args = bool(field_def.args or self.nodes[0].arguments)
            self.args_dynamic = self.has_args and _refers_to_variables(self.nodes[0])
        self.non_null = self.shape.non_null
        self.lookup: Lookup | None = None
        if field_def is not None:
            self._classify(field_def)

    def _classify(self, field_def: GraphQLField) -> None:
        sf = field_def.extensions.get("strawberry-definition")
        if not isinstance(sf, StrawberryField):
            return  # not strawberry's: graphql-core's way, with its own resolver
        if sf.base_resolver is None:
            if (
                not sf.extensions
                and getattr(field_def.resolve, "_is_default", False)
                and sf.default_resolver is getattr
                and not self.has_args
            ):
                self.kind, self.attr = _ATTR, sf.python_name
            return
        exts = list(sf.extensions)
        perm_ext = exts[0] if len(exts) == 1 else None
        if exts and not (
            isinstance(perm_ext, PermissionExtension)
            and not perm_ext.fail_silently
            and all(getattr(p, "per_request", False) for p in perm_ext.permissions)
        ):
            return
        r = sf.base_resolver
        if not callable(r.wrapped_func):
            return
        lookup = getattr(r.wrapped_func, LOOKUP, None)
        if lookup is not None and not exts and not self.has_args:
            self.kind, self.lookup = _LOOKUP, lookup
            return
        self.kind = _RESOLVER
        self.definition = sf
        self.call = r.wrapped_func
        self.perm_ext = perm_ext if isinstance(perm_ext, PermissionExtension) else None
        self.perms = tuple(self.perm_ext.permissions) if self.perm_ext else ()
        self.wants_self = r.self_parameter is not None
        self.wants_info = r.info_parameter.name if r.info_parameter else ""
        self.wants_parent = r.parent_parameter.name if r.parent_parameter else ""
        self.wants_root = r.root_parameter.name if r.root_parameter else ""

    def object_plan(self, ex: PlanExecutor, object_type: GraphQLObjectType) -> ObjectPlan:
        """The sub-selection for values of ``object_type``, collected on first use."""
        found = self.sub.get(object_type)
        if found is None:
            grouped = collect_subfields(
                ex.schema,
                ex.fragments,
                ex.variable_values,
                ex.operation,
                object_type,
                self.details,
                ex.hide_suggestions,
            ).grouped_field_set
            found = self.sub[object_type] = ObjectPlan(ex.schema, object_type, grouped)
        return found


class ObjectPlan:
    """A selection set collected for one object type."""

    __slots__ = ("fields", "is_type_of", "type")

    def __init__(
        self,
        schema: GraphQLSchema,
        object_type: GraphQLObjectType,
        grouped: Mapping[str, list[FieldDetails]],
    ) -> None:
        self.type = object_type
        self.is_type_of = object_type.is_type_of
        fields = []
        for key, details in grouped.items():
            name = details[0].node.name.value
            if name in ("__schema", "__type"):
                raise _Unsupported(name)
            if any(d.fragment_variable_values or d.defer_usage for d in details):
                raise _Unsupported("fragment arguments or incremental delivery")
            if name == "__typename":
                fields.append(FieldPlan(object_type, key, details, None))
                continue
            fd = schema.get_field(object_type, name)
            if fd is not None:  # graphql-core skips a field unknown to the type
                fields.append(FieldPlan(object_type, key, details, fd))
        self.fields: tuple[FieldPlan, ...] = tuple(fields)


class Plan:
    __slots__ = ("root",)

    def __init__(self, root: ObjectPlan) -> None:
        self.root = root


def _leaf_kind(t: Any) -> int | None:
    if t is GraphQLString or t is GraphQLID:
        return _STR
    if t is GraphQLInt:
        return _INT
    if t is GraphQLBoolean:
        return _BOOL
    if isinstance(t, GraphQLScalarType | GraphQLEnumType):
        return _OTHER
    return None


def _coercer(t: Any) -> Callable[[Any], Any]:
    """The output coercion of a custom scalar or enum. Enum coercion (strawberry scans the
    values) is memoised per value: it is a pure function of it."""
    coerce: Callable[[Any], Any] = t.coerce_output_value
    if not isinstance(t, GraphQLEnumType):
        return coerce
    memo: dict[tuple[type, Any], Any] = {}

    def coerce_enum(value: Any) -> Any:
        try:
            return memo[(type(value), value)]
        except KeyError:
            out = memo[(type(value), value)] = coerce(value)
            return out
        except TypeError:  # unhashable
            return coerce(value)

    return coerce_enum


class _Variables(Visitor):
    """Finds variables, and which ``@skip`` / ``@include`` read."""

    def __init__(self) -> None:
        super().__init__()
        self.any = False
        self.in_directives: set[str] = set()

    def enter_variable(self, *_: Any) -> None:
        self.any = True

    def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
        if node.name.value in ("skip", "include"):
            for arg in node.arguments or ():
                if isinstance(arg.value, VariableNode):
                    self.in_directives.add(arg.value.name.value)


def _refers_to_variables(node: FieldNode) -> bool:
    finder = _Variables()
    for arg in node.arguments or ():
        visit(arg, finder)
    return finder.any


class _PlanCache:
    """Plans by (operation identity, values of the variables ``@skip`` / ``@include`` read).
    The parser cache hands back the same document for the same query text, so one query text
    compiles once; each plan holds its operation node, so the identity stays unique."""

    def __init__(self, size: int) -> None:
        self.size = size
        # key -> (the operation node, its plan or None: graphql-core runs it)
        self.plans: OrderedDict[tuple[Any, ...], tuple[OperationDefinitionNode, Plan | None]] = (
            OrderedDict()
        )
        self.directive_vars: dict[int, tuple[OperationDefinitionNode, tuple[str, ...]]] = {}
        self.compiled = 0
        self.runs = 0  # executions by a plan (not handed to graphql-core)

    def _key(self, ex: PlanExecutor) -> tuple[Any, ...]:
        op = ex.operation
        entry = self.directive_vars.get(id(op))
        if entry is None or entry[0] is not op:
            finder = _Variables()
            visit(op, finder)
            for fragment in ex.fragment_definitions.values():
                visit(fragment, finder)
            if len(self.directive_vars) >= self.size:
                self.directive_vars.clear()
            entry = self.directive_vars[id(op)] = (op, tuple(sorted(finder.in_directives)))
        names = entry[1]
        if not names:
            return (id(op),)
        coerced = ex.variable_values.coerced
        return (id(op), *(bool(coerced.get(n)) for n in names))

    def get(self, ex: PlanExecutor) -> Plan | None:
        key = self._key(ex)
        plans = self.plans
        found = plans.get(key)
        if found is not None and found[0] is ex.operation:
            plans.move_to_end(key)
            return found[1]
        plan = _compile(ex)
        self.compiled += 1
        plans[key] = (ex.operation, plan)
        if len(plans) > self.size:
            plans.popitem(last=False)
        return plan


def _compile(ex: PlanExecutor) -> Plan | None:
    op = ex.operation
    if op.operation is OperationType.SUBSCRIPTION:
        return None
    if ex.middleware_manager is not None and ex.middleware_manager.middlewares:
        return None
    if ex.abort_signal is not None or any(f.variable_signatures for f in ex.fragments.values()):
        return None
    root_type = ex.schema.get_root_type(op.operation)
    if root_type is None:
        return None
    try:
        grouped = collect_fields(
            ex.schema, ex.fragments, ex.variable_values, root_type, op, ex.hide_suggestions
        ).grouped_field_set
        return Plan(ObjectPlan(ex.schema, root_type, grouped))
    except (_Unsupported, RecursionError):
        return None


_PLANS = _PlanCache(_MAX_PLANS)


def plan_cache_info() -> dict[str, int]:
    """How many plans are cached, were ever compiled and ran (tests, metrics)."""
    return {"cached": len(_PLANS.plans), "compiled": _PLANS.compiled, "runs": _PLANS.runs}


class Lookup(NamedTuple):
    """A field that is one dataloader lookup and a view of what it loads:
    ``loader(context)`` is the request's dataloader, ``key(parent)`` what to load (None: no
    load, the view gets None), ``view(context, loaded)`` the field's value, synchronously."""

    loader: Callable[[Any], Any]
    key: Callable[[Any], Any]
    view: Callable[[Any, Any], Any]


def lookup_resolver(lookup: Lookup) -> Callable[..., Awaitable[Any]]:
    """The resolver of a ``Lookup`` field: what strawberry (and graphql-core) call; the plan
    executor runs the lookup itself (``_Lookup``)."""

    async def resolve(self: Any, info: Info) -> Any:
        ctx = info.context
        key = lookup.key(self)
        loaded = None if key is None else await lookup.loader(ctx).load(key)
        return lookup.view(ctx, loaded)

    setattr(resolve, LOOKUP, lookup)
    return resolve


LOOKUP = "__aforo_lookup__"
