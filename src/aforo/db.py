"""Engines, sessions and the declarative base.

Every transaction of a session whose ``info["tenant_id"]`` is set begins by binding the tenant
with ``set_config('app.tenant_id', …, true)``: row-level security policies read it, and because
it is transaction-local it never leaks to the next user of a pooled connection. ``SET LOCAL``
cannot take bind parameters under asyncpg, hence ``set_config``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import asyncpg
from sqlalchemy import ClauseElement, DateTime, MetaData, Select, bindparam, event, select, text
from sqlalchemy.dialects import registry
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Session, SessionTransaction
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util.concurrency import await_

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


M = TypeVar("M", bound=Base)
R = TypeVar("R")


class UTCDateTime(TypeDecorator[datetime]):
    """A ``timestamptz`` that always comes back timezone-aware in UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a timestamptz column")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        # asyncpg decodes timestamptz to aware datetimes in UTC already: no call per value.
        if dialect.driver == "asyncpg":
            return self.impl_instance.result_processor(dialect, coltype)
        return super().result_processor(dialect, coltype)


def utcnow() -> datetime:
    return datetime.now(UTC)


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        # Statement parameters hold passwords' hashes, emails and message bodies: never in a
        # log line or an exception's text.
        hide_parameters=True,
        connect_args={"server_settings": {"application_name": "aforo"}},
    )
    if engine.dialect.driver == "asyncpg":
        engine.dialect.do_ping = _ping  # type: ignore[method-assign]
        event.listen(engine.sync_engine, "checkin", _checked_in)
        event.listen(engine.sync_engine, "close", _closed)
    return engine


PING_IDLE_S = 5.0
# When each pooled connection was last given back, by the id of its DB-API connection (which
# cannot carry attributes); entries leave when the connection closes.
_returned: dict[int, float] = {}


def _checked_in(dbapi_connection: Any, record: Any) -> None:
    if dbapi_connection is not None:
        if len(_returned) >= 10_000:
            _returned.clear()  # never grows past the pools' sizes in practice; bounded anyway
        _returned[id(dbapi_connection)] = time.monotonic()


def _closed(dbapi_connection: Any, record: Any) -> None:
    _returned.pop(id(dbapi_connection), None)


def _ping(dbapi_connection: Any) -> bool:
    """The pool's check of a connection before lending it. A connection the server closed
    (a restart, a terminated backend) is known to asyncpg without asking: False, and the pool
    replaces it and every connection older than it. One given back less than ``PING_IDLE_S``
    ago is lent as it is: a busy service pays no round trip per transaction, and a failure
    that could not be seen yet is the statement's, answered as unavailable (retryable) like
    any outage. Otherwise ``select 1`` on the simple query protocol, one round trip
    (SQLAlchemy's own asyncpg ping takes three: a prepared ``;`` in a transaction)."""
    conn = dbapi_connection._connection
    if conn.is_closed():
        return False
    if time.monotonic() - _returned.get(id(dbapi_connection), -PING_IDLE_S) < PING_IDLE_S:
        return True
    try:
        await_(conn.execute("select 1"))
    except Exception as error:
        dbapi_connection._handle_exception(error)  # as SQLAlchemy's: a disconnect is seen
    return True


def asyncpg_dsn(engine: AsyncEngine) -> str:
    """The engine's database as a plain libpq URL, for bare asyncpg connections."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(frozen=True)
class RawStatement:
    """A SQLAlchemy statement compiled once for bare asyncpg (``LookupPool``): the statement
    stays the one definition (ORM names, shared conditions such as ``ownership.visible``).
    Its bind parameters without a value (``bindparam(name, type_=..., required=False)``) are
    given per call; the literal values the statement carries are kept in order with them."""

    sql: str
    names: tuple[str, ...]
    fixed: dict[str, Any]

    @classmethod
    def of(cls, statement: ClauseElement) -> RawStatement:
        compiled = cast(
            SQLCompiler,
            statement.compile(dialect=_ASYNCPG, compile_kwargs={"render_postcompile": True}),
        )
        return cls(str(compiled), tuple(compiled.positiontup or ()), dict(compiled.params))

    def args(self, **given: Any) -> list[Any]:
        return [given[n] if n in given else self.fixed[n] for n in self.names]


_ASYNCPG = registry.load("postgresql.asyncpg")()


def _close(conn: asyncpg.Connection) -> None:
    if not conn.is_closed():
        conn.terminate()


# A UUID's text needs no quoting; on the simple query protocol, one round trip for both.
_BIND = (
    "select set_config('app.tenant_id', '{}', false),"
    " set_config('default_transaction_read_only', 'on', false)"
)
_UNBIND = (
    "select set_config('app.tenant_id', '', false),"
    " set_config('default_transaction_read_only', 'off', false)"
)


class LookupPool:
    """Bare asyncpg connections beside the engine's pool, for hot one-statement reads (a
    verify cache miss, a try-it target): one round trip, where the engine's checkout adds a
    ping and SQLAlchemy's own work, and asyncpg's pool a reset query after each use.

    The idle connections are a stack: a lookup takes the one used last (its prepared
    statements and its backend's caches are warm), so a quiet service keeps reusing one
    connection; each prepares a statement once (asyncpg's per-connection statement cache).
    Without a ping, connections that died with a database restart are found by the call
    that uses one: all idle ones are then dropped and the call runs once more on a new one.
    Connections open on demand, so a database that is down at start-up does not stop the
    service.

    Tenant-scoped reads (``read_as``) bind their connection to the tenant for the session
    rather than for one transaction: a connection remembers its binding, a read takes one
    already bound as it needs when there is one, and binds (or unbinds, for ``fetch``) it
    otherwise - so the usual read is one round trip, not three (begin and bind, the read,
    commit). A bound connection is read-only. A statement always runs with exactly the
    binding its call asked for: a connection whose binding is in doubt (a call cancelled or
    broken mid-way) is closed, never lent on.
    """

    RETRY = (asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError, ConnectionResetError)

    def __init__(self, dsn: str, size: int) -> None:
        self.dsn = dsn
        self.size = size
        # Told every statement before it runs (instrumentation: the engine's statements can be
        # watched through SQLAlchemy's events, these cannot).
        self.observers: list[Callable[[str], None]] = []
        self._idle: list[asyncpg.Connection] = []
        self._bound: dict[asyncpg.Connection, uuid.UUID] = {}  # absent: no tenant
        self._open = 0  # connections open or opening
        self._waiting: collections.deque[asyncio.Future[asyncpg.Connection]] = collections.deque()
        self._closed = False

    async def _take(self, tenant_id: uuid.UUID | None) -> asyncpg.Connection:
        if self._idle:
            for i in range(len(self._idle) - 1, -1, -1):  # the latest bound as we need
                if self._bound.get(self._idle[i]) == tenant_id:
                    return self._idle.pop(i)
            return self._idle.pop()
        if self._open < self.size:
            self._open += 1
            try:
                return await asyncpg.connect(
                    self.dsn, server_settings={"application_name": "aforo"}
                )
            except BaseException:
                self._open -= 1
                raise
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed over as we were cancelled
                self._give(waiter.result())
            raise

    def _give(self, conn: asyncpg.Connection) -> None:
        if conn.is_closed() or self._closed:
            self._open -= 1
            self._bound.pop(conn, None)
            if not conn.is_closed():
                conn.terminate()
            return
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle.append(conn)

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        """``sql`` with no tenant bound (row-level security shows it no tenant's rows)."""
        return await self._run(None, sql, args)

    async def read_as(self, tenant_id: uuid.UUID, sql: str, *args: Any) -> list[Any]:
        """``sql``, read-only, as ``tenant_id`` (row-level security applies as in a
        ``tenant_session``)."""
        return await self._run(uuid.UUID(str(tenant_id)), sql, args)

    async def _run(self, tenant_id: uuid.UUID | None, sql: str, args: tuple[Any, ...]) -> list[Any]:
        for observe in self.observers:
            observe(sql)
        for attempt in range(2):
            conn = await self._take(tenant_id)
            try:
                if self._bound.get(conn) != tenant_id:
                    await self._bind(conn, tenant_id)
                rows: list[Any] = await conn.fetch(sql, *args)
                return rows
            except self.RETRY:
                _close(conn)
                self._drop_idle()
                if attempt:
                    raise
            except asyncpg.PostgresError:
                raise  # the statement's own error: the connection and its binding are sound
            except BaseException:
                _close(conn)  # cancelled or broken mid-way: its binding is in doubt
                raise
            finally:
                self._give(conn)
        raise AssertionError("unreachable")

    async def _bind(self, conn: asyncpg.Connection, tenant_id: uuid.UUID | None) -> None:
        self._bound.pop(conn, None)
        try:
            await conn.execute(_UNBIND if tenant_id is None else _BIND.format(tenant_id))
        except BaseException:
            _close(conn)  # whatever failed, the binding is in doubt
            raise
        if tenant_id is not None:
            self._bound[conn] = tenant_id

    def _drop_idle(self) -> None:
        """After a connection died: the idle ones died with the same server."""
        for idle in self._idle:
            idle.terminate()
            self._bound.pop(idle, None)
        self._open -= len(self._idle)
        self._idle.clear()

    async def close(self) -> None:
        self._closed = True
        self._bound.clear()
        idle, self._idle = self._idle, []
        for conn in idle:
            self._open -= 1
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)


@functools.cache
def _by_ids(model: type[Base]) -> Select[Any]:
    return select(model).where(model.id.in_(bindparam("ids", expanding=True)))  # type: ignore[attr-defined]


async def rows_by_ids(
    session: AsyncSession, model: type[M], ids: Sequence[uuid.UUID]
) -> list[M | None]:
    """The ``model`` rows with these ids, in key order (None where missing): a dataloader's
    batch, in one statement built once per model."""
    found = {r.id: r for r in await session.scalars(_by_ids(model), {"ids": list(ids)})}
    return [found.get(i) for i in ids]


@functools.cache
def _columns_by_ids(table: Any) -> Select[Any]:
    return select(*table.columns).where(table.c.id.in_(bindparam("ids", expanding=True)))


async def records_by_ids(
    session: AsyncSession,
    table: Any,
    record: Callable[[Iterable[Any]], R],
    ids: Sequence[uuid.UUID],
) -> list[R | None]:
    """As ``rows_by_ids``, as plain records of the table's columns (``record``: a named
    tuple's ``_make``) for reads that only show them: a fraction of ORM instances' cost."""
    result = await session.execute(_columns_by_ids(table), {"ids": list(ids)})
    found = {r.id: r for r in map(record, result)}  # type: ignore[attr-defined]
    return [found.get(i) for i in ids]


def sessionmaker(
    engine: AsyncEngine, info: dict[str, Any] | None = None
) -> async_sessionmaker[AsyncSession]:
    """``info``: entries every session starts with in ``Session.info`` (the app's outbound
    policy)."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False, info=info)


@event.listens_for(Session, "after_begin")
def _bind_tenant(session: Session, transaction: SessionTransaction, connection: Any) -> None:
    tenant_id = session.info.get("tenant_id")
    # Bind even when empty: a pooled connection must never carry a previous tenant.
    connection.execute(
        text("select set_config('app.tenant_id', :t, true)"),
        {"t": str(tenant_id) if tenant_id else ""},
    )


@asynccontextmanager
async def tenant_session(
    maker: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID | None
) -> AsyncIterator[AsyncSession]:
    """One transaction bound to one tenant; commits on success, rolls back on error."""
    async with maker() as session:
        session.info["tenant_id"] = tenant_id
        async with session.begin():
            yield session


async def bind_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Switch an open transaction (and the session's later ones) to another tenant."""
    session.info["tenant_id"] = tenant_id
    await session.execute(
        text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id)}
    )


def is_unavailable(exc: BaseException | None) -> bool:
    """True when ``exc`` means the database is unreachable or restarting (retryable), as
    opposed to a bug or a constraint violation."""
    from sqlalchemy import exc as sa_exc

    while exc is not None:
        if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
            return True
        if isinstance(exc, sa_exc.TimeoutError | sa_exc.InterfaceError | ConnectionError | OSError):
            return True
        if isinstance(
            exc,
            asyncpg.CannotConnectNowError
            | asyncpg.ConnectionDoesNotExistError
            | asyncpg.TooManyConnectionsError
            | asyncpg.AdminShutdownError
            | asyncpg.exceptions.ConnectionFailureError
            | asyncpg.InterfaceError,
        ):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def is_unstorable_text(exc: BaseException | None) -> bool:
    """True when PostgreSQL refused a text value it cannot store (a NUL character, a lone
    surrogate): the input's fault, not the server's."""
    while exc is not None:
        if isinstance(
            exc,
            asyncpg.exceptions.CharacterNotInRepertoireError
            | asyncpg.exceptions.UntranslatableCharacterError,
        ):
            return True
        exc = exc.__cause__ or exc.__context__
    return False
