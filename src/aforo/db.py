"""Engines, sessions and the declarative base.

Every transaction of a session whose ``info["tenant_id"]`` is set begins by binding the tenant
with ``set_config('app.tenant_id', …, true)``: row-level security policies read it, and because
it is transaction-local it never leaks to the next user of a pooled connection. ``SET LOCAL``
cannot take bind parameters under asyncpg, hence ``set_config``.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import DateTime, MetaData, Select, bindparam, event, select, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Session, SessionTransaction
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
        connect_args={"server_settings": {"application_name": "aforo"}},
    )
    if engine.dialect.driver == "asyncpg":
        engine.dialect.do_ping = _ping  # type: ignore[method-assign]
    return engine


def _ping(dbapi_connection: Any) -> bool:
    """The pool's check of a connection before lending it: ``select 1`` on the simple query
    protocol, one round trip. SQLAlchemy's own asyncpg ping wraps a prepared ``;`` in a
    transaction it rolls back: three round trips on every checkout, so on every request."""
    try:
        await_(dbapi_connection._connection.execute("select 1"))
    except Exception as error:
        dbapi_connection._handle_exception(error)  # as SQLAlchemy's: a disconnect is seen
    return True


async def _nothing_to_reset(_: asyncpg.Connection) -> None:
    return None


def asyncpg_dsn(engine: AsyncEngine) -> str:
    """The engine's database as a plain libpq URL, for bare asyncpg connections."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


class LookupPool:
    """A bare asyncpg pool beside the engine's, for the verify hot path's one cross-tenant read
    (no tenant to bind, no transaction): one round trip, where the engine's checkout adds a
    pre-ping and SQLAlchemy's own work (about 0.8 ms against 0.3 ms per lookup).

    Without a pre-ping, connections that died with a database restart are found by the call
    that uses one: the pool then replaces all of them and the call runs once more. Connections
    are opened on demand, so a database that is down at start-up does not stop the service.
    """

    RETRY = (asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError, ConnectionResetError)

    def __init__(self, dsn: str, size: int) -> None:
        self.dsn = dsn
        self.size = size
        # Told every statement before it runs (instrumentation: the engine's statements can be
        # watched through SQLAlchemy's events, these cannot).
        self.observers: list[Callable[[str], None]] = []
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    async def _opened(self) -> asyncpg.Pool:
        async with self._lock:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self.dsn,
                    min_size=0,
                    max_size=self.size,
                    server_settings={"application_name": "aforo"},
                    # asyncpg's default release runs RESET ALL, UNLISTEN, CLOSE ALL and an
                    # advisory unlock: a second round trip after every lookup. Single
                    # statements outside transactions leave no session state to reset.
                    reset=_nothing_to_reset,
                )
            return self._pool

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        for observe in self.observers:
            observe(sql)
        pool = self._pool or await self._opened()
        try:
            rows: list[Any] = await pool.fetch(sql, *args)
        except self.RETRY:
            await pool.expire_connections()
            rows = await pool.fetch(sql, *args)
        return rows

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()


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


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


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
