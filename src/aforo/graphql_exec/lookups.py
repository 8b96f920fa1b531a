"""Lookup fields at run time: one load, one view and (when clean) one completion per distinct
key and request, shared by every place the key appears."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError, located_error
from graphql.pyutils import Path

if TYPE_CHECKING:
    from aforo.graphql_exec.plan import FieldPlan
    from aforo.graphql_exec.run import _Run


class _Null(Exception):
    """A non-null position completed to null or failed: the error travels up to the nearest
    nullable position (the located error rides along)."""

    def __init__(self, error: GraphQLError) -> None:
        super().__init__(error.message)
        self.error = error


# A position in the response, kept for async work that fails after its parents were built:
# (slot of the enclosing object, container, key, non-null, path). None stands for ``data``.
Slot = tuple[Any, Any, Any, bool, Path] | None


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
