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

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Mapping
from functools import lru_cache
from inspect import isawaitable as inspect_isawaitable
from types import GeneratorType
from typing import Any, ClassVar, NamedTuple

from graphql import (
    FieldNode,
    GraphQLAbstractType,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLError,
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
    located_error,
    parse,
    validate,
)
from graphql.execution.collect_fields import (
    FieldDetails,
    collect_fields,
    collect_subfields,
)
from graphql.execution.values import get_argument_values
from graphql.language import (
    DirectiveNode,
    DocumentNode,
    OperationDefinitionNode,
    VariableNode,
    Visitor,
    visit,
)
from graphql.pyutils import Path, Undefined, inspect, is_iterable
from graphql.validation import ASTValidationRule
from strawberry.exceptions import PermissionReturnedNonBooleanError
from strawberry.extensions import SchemaExtension
from strawberry.permission import PermissionExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.arguments import convert_arguments
from strawberry.types.field import StrawberryField
from strawberry.types.info import Info

__all__ = ["PlanExecutor", "plan_cache_info"]

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


# -- running a plan ---------------------------------------------------------------------------
class _Null(Exception):
    """A non-null position completed to null or failed: the error travels up to the nearest
    nullable position (the located error rides along)."""

    def __init__(self, error: GraphQLError) -> None:
        super().__init__(error.message)
        self.error = error


# A position in the response, kept for async work that fails after its parents were built:
# (slot of the enclosing object, container, key, non-null, path). None stands for ``data``.
Slot = tuple[Any, Any, Any, bool, Path] | None


class _Run:
    """One execution of a plan: per-request state (permission verdicts, converted arguments)
    and the async work in flight."""

    __slots__ = (
        "args",
        "data",
        "errors",
        "ex",
        "fatal",
        "lookups",
        "outstanding",
        "perm",
        "tasks",
        "waiter",
    )

    def __init__(self, ex: PlanExecutor) -> None:
        self.ex = ex
        self.errors = ex.collected_errors
        self.perm: dict[FieldPlan, Any] = {}
        self.args: dict[FieldPlan, dict[str, Any]] = {}
        self.outstanding = 0
        self.tasks: set[asyncio.Task[Any]] = set()
        self.waiter: asyncio.Future[None] | None = None
        self.fatal: BaseException | None = None
        self.data: dict[str, Any] | None = {}
        self.lookups: dict[FieldPlan, _Keyed] = {}

    # -- entry -----------------------------------------------------------------------------
    def execute(self, plan: Plan, serially: bool) -> Any:
        if serially:
            return self._serially(plan.root)
        try:
            self._fields(plan.root, self.ex.root_value, None, None, self.data)  # type: ignore[arg-type]
        except _Null as e:
            self.errors.add(e.error, None)
            self.data = None
        if self.outstanding:
            return self._finish_async()
        return self.ex.build_response(self.data)

    async def _serially(self, root: ObjectPlan) -> Any:
        """Mutations: each root field resolved and completed before the next starts."""
        data = self.data
        assert data is not None
        try:
            for f in root.fields:
                if f.kind == _TYPENAME:
                    data[f.key] = root.type.name
                    continue
                self._field(f, root.type, self.ex.root_value, None, None, data)
                if self.outstanding:
                    await self._drain()
                if self.data is None:
                    break
        except _Null as e:
            self.errors.add(e.error, None)
            self.data = None
        return self.ex.build_response(self.data)

    async def _finish_async(self) -> Any:
        await self._drain()
        return self.ex.build_response(self.data)

    async def _drain(self) -> None:
        waiter = self.waiter = asyncio.get_running_loop().create_future()
        try:
            await waiter
        except asyncio.CancelledError:
            for t in list(self.tasks):
                t.cancel()
            raise
        finally:
            self.waiter = None
        if self.fatal is not None:
            fatal, self.fatal = self.fatal, None
            raise fatal

    # -- objects and fields ----------------------------------------------------------------
    def _fields(
        self, op: ObjectPlan, source: Any, path: Path | None, slot: Slot, out: dict[str, Any]
    ) -> dict[str, Any]:
        """The object's fields into ``out``; ``slot`` is where the object itself sits."""
        type_name = op.type.name
        for f in op.fields:
            kind = f.kind
            if kind == _ATTR:
                key = f.key
                try:
                    v = getattr(source, f.attr)
                    shape = f.shape
                    leaf = shape.leaf
                    if v is None:
                        if f.non_null:
                            raise TypeError(
                                f"Cannot return null for non-nullable field {type_name}.{f.name}."
                            )
                        out[key] = None
                    elif (
                        (leaf == _STR and type(v) is str)
                        or (leaf == _INT and type(v) is int and _MIN_INT <= v <= _MAX_INT)
                        or (leaf == _BOOL and type(v) is bool)
                    ):
                        out[key] = v
                    elif leaf == _OTHER and not isinstance(v, Exception):
                        c = shape.coerce(v)
                        out[key] = (
                            c if c is not None and c is not Undefined else _checked(c, shape, v)
                        )
                    elif shape.str_list and type(v) is list and all(type(i) is str for i in v):
                        out[key] = v[:]  # a list of strings: what completing it would build
                    else:
                        fpath = Path(path, key, type_name)
                        out[key] = self._complete(
                            f, f.shape, v, fpath, (slot, out, key, f.non_null, fpath)
                        )
                except _Null as e:
                    self._failed(e.error, f, path, out)
                except Exception as raw:
                    fpath = Path(path, key, type_name)
                    self._failed(located_error(raw, f.nodes, fpath.as_list()), f, path, out)
            elif kind == _TYPENAME:
                out[f.key] = type_name
            elif kind == _LOOKUP:
                self._lookup(f, op.type, source, path, slot, out)
            else:
                self._field(f, op.type, source, path, slot, out)
        return out

    def _failed(
        self, error: GraphQLError, f: FieldPlan, path: Path | None, out: dict[str, Any]
    ) -> None:
        """A field failed while its object was being built: null it, or its parent."""
        if f.non_null:
            raise _Null(error)
        out[f.key] = None
        self.errors.add(error, Path(path, f.key, f.parent_type.name))

    def _field(
        self,
        f: FieldPlan,
        parent_type: GraphQLObjectType,
        source: Any,
        path: Path | None,
        slot: Slot,
        out: dict[str, Any],
    ) -> None:
        key = f.key
        fpath = Path(path, key, parent_type.name)
        here: Slot = (slot, out, key, f.non_null, fpath)
        try:
            result = self._resolve(f, parent_type, source, fpath)
            if _awaitable(result):
                out[key] = None
                self._later(result, f, f.shape, fpath, here)
                return
            out[key] = self._complete(f, f.shape, result, fpath, here)
        except _Null as e:
            self._failed(e.error, f, path, out)
        except Exception as raw:
            self._failed(located_error(raw, f.nodes, fpath.as_list()), f, path, out)

    def _lookup(
        self,
        f: FieldPlan,
        parent_type: GraphQLObjectType,
        source: Any,
        path: Path | None,
        slot: Slot,
        out: dict[str, Any],
    ) -> None:
        """A field declared as a dataloader lookup and a view of what it loads: one load, one
        view and (when it completes cleanly) one completion per distinct key and request,
        shared by every place the key appears; no coroutine, task or resolve info per value."""
        key = f.key
        fpath = Path(path, key, parent_type.name)
        here: Slot = (slot, out, key, f.non_null, fpath)
        try:
            keyed = self.lookups.get(f)
            if keyed is None:
                assert f.lookup is not None
                keyed = self.lookups[f] = _Keyed(self, f, f.lookup.loader(self.ex.context_value))
            k = f.lookup.key(source)  # type: ignore[union-attr]
            entry = keyed.get(k)
            if entry is None:
                entry = keyed[k] = _Lookup(keyed, k)
                entry.start()
            entry.place(fpath, here)
        except _Null as e:
            self._failed(e.error, f, path, out)
        except _Failed as e:
            self._failed(e.error, f, path, out)
        except Exception as raw:
            self._failed(located_error(raw, f.nodes, fpath.as_list()), f, path, out)

    def _settle(self) -> None:
        self.outstanding -= 1
        if self.outstanding == 0 and self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def _resolve(
        self, f: FieldPlan, parent_type: GraphQLObjectType, source: Any, path: Path
    ) -> Any:
        ex = self.ex
        fd = f.field_def
        assert fd is not None
        raw_info = ex.build_resolve_info(fd, f.nodes, parent_type, path)
        if f.kind == _GENERIC:
            args = self._coerced_args(f) if f.has_args else {}
            resolve = fd.resolve or ex.field_resolver
            return resolve(source, raw_info, **args)
        sf = f.definition
        call = f.call
        assert sf is not None and call is not None
        info = ex.info_class(_raw_info=raw_info, _field=sf)
        if f.perm_ext is not None:
            verdict = self.perm.get(f, Undefined)
            if verdict is Undefined:
                verdict = self.perm[f] = _check_permissions(f, source, info)
            if verdict is not None:
                return f.perm_ext._on_unauthorized(verdict)
        kwargs = self._converted_args(f, info) if f.has_args else {}
        if f.wants_info:
            kwargs[f.wants_info] = info
        if f.wants_parent:
            kwargs[f.wants_parent] = source
        if f.wants_root:
            kwargs[f.wants_root] = source
        if f.wants_self:
            return call(source, **kwargs)
        return call(**kwargs)

    def _coerced_args(self, f: FieldPlan) -> dict[str, Any]:
        if f.args_static is not None:
            return f.args_static
        fd = f.field_def
        assert fd is not None
        args = get_argument_values(
            fd, f.nodes[0], self.ex.variable_values, None, self.ex.hide_suggestions
        )
        if not f.args_dynamic:
            f.args_static = args  # literals only: the same for every request
        return args

    def _converted_args(self, f: FieldPlan, info: Any) -> dict[str, Any]:
        """The resolver's keyword arguments, converted once per (field, request); a copy
        per call, so no call sees another's additions."""
        found = self.args.get(f)
        if found is None:
            sf = f.definition
            assert sf is not None
            found = self._coerced_args(f)
            if sf.arguments:
                schema = self.ex.strawberry_schema
                found = convert_arguments(
                    found,
                    sf.arguments,
                    scalar_registry=schema.schema_converter.scalar_registry,
                    config=schema.config,
                    info=info,
                )
            for extension in sf.extensions:
                found = extension.map_arguments(found)
            self.args[f] = found
        return dict(found)

    # -- completion ------------------------------------------------------------------------
    def _complete(self, f: FieldPlan, shape: Shape, value: Any, path: Path, slot: Slot) -> Any:
        """``value`` completed to the type ``shape`` describes (graphql-core's
        complete_value); ``slot`` is the position it goes to."""
        if value is None or value is Undefined:
            if shape.non_null:
                raise TypeError(
                    f"Cannot return null for non-nullable field {f.parent_type.name}.{f.name}."
                )
            return None
        if isinstance(value, Exception):
            raise value
        kind = shape.kind
        if kind == _LEAF:
            leaf = shape.leaf
            if (
                (leaf == _STR and type(value) is str)
                or (leaf == _INT and type(value) is int and _MIN_INT <= value <= _MAX_INT)
                or (leaf == _BOOL and type(value) is bool)
            ):
                return value
            c = shape.coerce(value)
            return c if c is not None and c is not Undefined else _checked(c, shape, value)
        if kind == _LIST:
            return self._complete_list(f, shape, value, path, slot)
        rtype = shape.type if kind == _OBJECT else self._runtime_type(f, shape.type, value, path)
        op = f.object_plan(self.ex, rtype)
        if op.is_type_of is not None:
            fd = f.field_def
            assert fd is not None
            info = self.ex.build_resolve_info(fd, f.nodes, f.parent_type, path)
            is_type = op.is_type_of(value, info)
            if _awaitable(is_type):
                raise TypeError(f"{rtype.name}.is_type_of must not be async here")
            if not is_type:
                raise GraphQLError(
                    f"Expected value of type '{rtype.name}' but got: {inspect(value)}.", f.nodes
                )
        return self._fields(op, value, path, slot, {})

    def _complete_list(
        self, f: FieldPlan, shape: Shape, value: Any, path: Path, slot: Slot
    ) -> list[Any]:
        if type(value) is not list and not is_iterable(value):
            raise GraphQLError(
                "Expected Iterable, but did not find one for field"
                f" '{f.parent_type.name}.{f.name}'."
            )
        item = shape.of
        assert item is not None
        out: list[Any] = []
        if item.kind == _LEAF and item.leaf == _STR:
            for v in value:
                if type(v) is not str:
                    break
                out.append(v)
            else:
                return out
            out = []
        item_non_null = item.non_null
        for index, v in enumerate(value):
            item_path = path.add_key(index)
            here: Slot = (slot, out, index, item_non_null, item_path)
            if _awaitable(v):
                out.append(None)
                self._later(v, f, item, item_path, here)
                continue
            try:
                out.append(self._complete(f, item, v, item_path, here))
            except _Null as e:
                if item_non_null:
                    raise
                out.append(None)
                self.errors.add(e.error, item_path)
            except Exception as raw:
                error = located_error(raw, f.nodes, item_path.as_list())
                if item_non_null:
                    raise _Null(error) from None
                out.append(None)
                self.errors.add(error, item_path)
        return out

    def _runtime_type(
        self, f: FieldPlan, rtype: GraphQLAbstractType, value: Any, path: Path
    ) -> GraphQLObjectType:
        ex = self.ex
        fd = f.field_def
        assert fd is not None
        info = ex.build_resolve_info(fd, f.nodes, f.parent_type, path)
        resolve_type = rtype.resolve_type or ex.type_resolver
        name = resolve_type(value, info, rtype)
        if _awaitable(name):
            raise TypeError(f"{rtype.name}.resolve_type must not be async here")
        found: GraphQLObjectType = ex.ensure_valid_runtime_type(name, rtype, f.details, info, value)
        return found

    # -- async work ------------------------------------------------------------------------
    def _later(self, awaitable: Any, f: FieldPlan, shape: Shape, path: Path, slot: Slot) -> None:
        """Await ``awaitable`` in a task of its own (as graphql-core's gather does: the other
        values of the level start meanwhile, so their dataloader calls batch), then complete
        it into its slot."""
        task = asyncio.ensure_future(awaitable)
        self.tasks.add(task)
        self.outstanding += 1

        def settled(t: asyncio.Task[Any]) -> None:
            self.tasks.discard(t)
            try:
                if t.cancelled():
                    self.fatal = self.fatal or asyncio.CancelledError()
                    return
                exc = t.exception()
                if exc is not None and not isinstance(exc, Exception):
                    self.fatal = self.fatal or exc
                    return
                assert slot is not None
                try:
                    if exc is not None:
                        raise exc
                    slot[1][slot[2]] = self._complete(f, shape, t.result(), path, slot)
                except _Null as e:
                    self._propagate(e.error, slot)
                except Exception as raw:
                    self._propagate(located_error(raw, f.nodes, path.as_list()), slot)
            finally:
                self._settle()

        task.add_done_callback(settled)

    def _propagate(self, error: GraphQLError, slot: Slot) -> None:
        """An error after the fact: null the nearest nullable position up the chain."""
        while slot is not None:
            parent, container, key, non_null, path = slot
            if not non_null:
                container[key] = None
                self.errors.add(error, path)
                return
            slot = parent
        self.errors.add(error, None)
        self.data = None


class Lookup(NamedTuple):
    """A field that is one dataloader lookup and a view of what it loads:
    ``loader(context)`` is the request's dataloader, ``key(parent)`` what to load (None: no
    load, the view gets None), ``view(context, loaded)`` the field's value, synchronously."""

    loader: Callable[[Any], Any]
    key: Callable[[Any], Any]
    view: Callable[[Any, Any], Any]


class _Keyed(dict[Any, "_Lookup"]):
    """One lookup field's loads in one request, by key."""

    def __init__(self, run: _Run, f: FieldPlan, loader: Any) -> None:
        super().__init__()
        assert f.lookup is not None
        self.run, self.f, self.lookup, self.loader = run, f, f.lookup, loader


_NOT_SHARED = object()


class _Lookup:
    """One key of a lookup field: loaded once, viewed once, completed once when that is
    clean (no error, no async work under it) and then shared by every place it appears;
    otherwise completed per place, as graphql-core would."""

    __slots__ = ("key", "keyed", "loaded", "places", "shared", "state")

    PENDING, LOADED, FAILED = range(3)

    def __init__(self, keyed: _Keyed, key: Any) -> None:
        self.keyed, self.key = keyed, key
        self.state = self.PENDING
        self.places: list[tuple[Path, Slot]] = []
        self.loaded: Any = None  # the view, or what loading or viewing raised
        self.shared: Any = _NOT_SHARED

    def start(self) -> None:
        if self.key is None:
            self._loaded(None)
            return
        fut = self.keyed.loader.load(self.key)
        if not isinstance(fut, asyncio.Future):
            raise TypeError(f"{self.keyed.f.name}: the lookup's loader returned no future")
        if fut.done():
            self._resolved(fut)
        else:
            self.keyed.run.outstanding += 1
            fut.add_done_callback(self._settled)

    def _settled(self, fut: asyncio.Future[Any]) -> None:
        run = self.keyed.run
        try:
            if fut.cancelled():
                run.fatal = run.fatal or asyncio.CancelledError()
                return
            self._resolved(fut)
            places, self.places = self.places, []
            for path, slot in places:
                self._complete(path, slot, deferred=True)
        finally:
            run._settle()

    def _resolved(self, fut: asyncio.Future[Any]) -> None:
        exc = fut.exception()
        if exc is not None:
            self.state, self.loaded = self.FAILED, exc
            return
        self._loaded(fut.result())

    def _loaded(self, value: Any) -> None:
        try:
            self.loaded = self.keyed.lookup.view(self.keyed.run.ex.context_value, value)
            self.state = self.LOADED
        except Exception as e:
            self.state, self.loaded = self.FAILED, e

    def place(self, path: Path, slot: Slot) -> None:
        """A place the value goes: filled now when loaded, else when the load settles."""
        assert slot is not None
        if self.state == self.PENDING:
            slot[1][slot[2]] = None
            self.places.append((path, slot))
        else:
            self._complete(path, slot, deferred=False)

    def _complete(self, path: Path, slot: Slot, *, deferred: bool) -> None:
        run, f = self.keyed.run, self.keyed.f
        assert slot is not None
        if self.shared is not _NOT_SHARED:
            slot[1][slot[2]] = self.shared
            return
        errors, busy = len(run.errors.errors), run.outstanding
        try:
            if self.state == self.FAILED:
                raise self.loaded
            value = run._complete(f, f.shape, self.loaded, path, slot)
        except _Null as e:
            if not deferred:
                raise
            run._propagate(e.error, slot)
            return
        except Exception as raw:
            error = located_error(raw, f.nodes, path.as_list())
            if not deferred:
                raise _Null(error) if f.non_null else _Failed(error) from None
            run._propagate(error, slot)
            return
        slot[1][slot[2]] = value
        if len(run.errors.errors) == errors and run.outstanding == busy:
            self.shared = value  # clean and whole: the same for every other place


class _Failed(Exception):
    """A nullable field failed while its object was being built (synchronously)."""

    def __init__(self, error: GraphQLError) -> None:
        super().__init__(error.message)
        self.error = error


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


def _check_permissions(f: FieldPlan, source: Any, info: Any) -> Any:
    """The first permission refusing, or None when all grant. ``per_request`` permissions
    decide on the request context alone, so one verdict serves every value of the field."""
    for p in f.perms:
        granted = p.has_permission(source, info)
        if not isinstance(granted, bool):
            raise PermissionReturnedNonBooleanError(p, granted)
        if not granted:
            return p
    return None


async def _coroutine() -> None:
    return None


_probe = _coroutine()
_CoroutineType = type(_probe)
_probe.close()


_AWAITABLE_TYPES: dict[type, bool] = {}


def _awaitable(value: Any) -> bool:
    t = type(value)
    if t is _CoroutineType:
        return True
    found = _AWAITABLE_TYPES.get(t)
    if found is None:  # once per type: the ABC check costs a microsecond
        if t is GeneratorType:  # awaitable or not per object (types.coroutine)
            return inspect_isawaitable(value)
        if len(_AWAITABLE_TYPES) > 10_000:
            _AWAITABLE_TYPES.clear()
        found = _AWAITABLE_TYPES[t] = issubclass(t, Awaitable)
    return found


def _checked(coerced: Any, shape: Shape, value: Any) -> Any:
    """A leaf coerced to null is an error (graphql-core's complete_leaf_value)."""
    if coerced is Undefined or coerced is None:
        raise TypeError(
            f"Expected `{inspect(shape.type)}.coerce_output_value({inspect(value)})`"
            f" to return non-nullable value, returned: {inspect(coerced)}"
        )
    return coerced


# -- documents: parsed and validated once ---------------------------------------------------
class DocumentCache:
    """Parsed documents by query text (with the token limit) and validation errors by
    document (with the schema's extra rules): one lookup each per request. The plan cache
    keys on the documents this hands back, so one query text is parsed, validated and
    compiled once."""

    def __init__(self, *, max_tokens: int, rules: tuple[type[ASTValidationRule], ...]) -> None:
        self.rules = rules
        self.max_tokens = max_tokens
        self._parse = lru_cache(maxsize=_MAX_PLANS)(self._parse_uncached)
        self._validated: OrderedDict[
            tuple[int, tuple[Any, ...]], tuple[DocumentNode, list[GraphQLError]]
        ] = OrderedDict()

    def _parse_uncached(self, query: str) -> DocumentNode:
        return parse(query, max_tokens=self.max_tokens)

    def parse(self, query: str) -> DocumentNode:
        return self._parse(query)

    def validate(
        self, schema: GraphQLSchema, document: DocumentNode, rules: tuple[Any, ...]
    ) -> list[GraphQLError]:
        key = (id(document), rules)
        found = self._validated.get(key)
        if found is not None and found[0] is document:
            self._validated.move_to_end(key)
            return found[1]
        errors = validate(schema, document, (*rules, *self.rules))
        self._validated[key] = (document, errors)  # holds the document: its id stays unique
        if len(self._validated) > _MAX_PLANS:
            self._validated.popitem(last=False)
        return errors


class PreparedDocuments(SchemaExtension):
    """The parse and validation steps of a request, through a ``DocumentCache`` (one
    extension where a parser cache, a validation cache, a token limiter and two rule adders
    ran their hooks on every request)."""

    def __init__(self, cache: DocumentCache) -> None:
        self.cache = cache

    def on_parse(self) -> Iterator[None]:
        ec = self.execution_context
        if ec.graphql_document is None and ec.query:
            ec.graphql_document = self.cache.parse(ec.query)
        yield

    def on_validate(self) -> Iterator[None]:
        ec = self.execution_context
        assert ec.graphql_document is not None
        ec.pre_execution_errors = self.cache.validate(
            ec.schema._schema, ec.graphql_document, tuple(ec.validation_rules)
        )
        yield


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
