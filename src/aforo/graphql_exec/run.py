"""Running a plan: one request's values resolved and completed, errors located and
propagated as graphql-core does, dataloader lookups shared per key."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from inspect import isawaitable as inspect_isawaitable
from types import GeneratorType
from typing import TYPE_CHECKING, Any

from graphql import (
    GraphQLAbstractType,
    GraphQLError,
    GraphQLObjectType,
    located_error,
)
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path, Undefined, inspect, is_iterable
from strawberry.exceptions import PermissionReturnedNonBooleanError
from strawberry.types.arguments import convert_arguments

from aforo.graphql_exec.lookups import Slot, _Failed, _Keyed, _Lookup, _Null
from aforo.graphql_exec.plan import (
    _ATTR,
    _BOOL,
    _GENERIC,
    _INT,
    _LEAF,
    _LIST,
    _LOOKUP,
    _MAX_INT,
    _MIN_INT,
    _OBJECT,
    _OTHER,
    _STR,
    _TYPENAME,
    FieldPlan,
    ObjectPlan,
    Plan,
    Shape,
)

if TYPE_CHECKING:
    from aforo.graphql_exec import PlanExecutor


# -- running a plan ---------------------------------------------------------------------------
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
        return self._response()

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
        return self._response()

    async def _finish_async(self) -> Any:
        await self._drain()
        return self._response()

    def _response(self) -> Any:
        """The result; then the run's lookups let go of each other (a lookup and its field's
        map point at one another), so reference counting frees them now rather than the
        cycle collector later, in one pause over many requests' worth of objects."""
        response = self.ex.build_response(self.data)
        for keyed in self.lookups.values():
            keyed.clear()
        self.lookups.clear()
        return response

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
