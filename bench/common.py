"""Set-up shared by the benchmark scripts: a private, migrated PostgreSQL cluster in a temp dir,
the service's settings (in-process) or environment (uvicorn subprocess) against it, an owner
connection, the bench tenant, a forum's users and categories, and the percentile they report.

The scripts run as ``python bench/<name>.py``, which puts ``bench/`` on the import path: they
``from common import ...``.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg

from aforo import migrate
from aforo.config import Settings
from aforo.db import create_engine, sessionmaker
from aforo.runtime.postgres import APP_ROLE, OWNER_ROLE, EmbeddedPostgres
from aforo.services import tenants


def workdir(prefix: str = "aforo-bench-") -> Path:
    """A new temp dir the postgres OS user can reach (the cluster lives under it)."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    work.chmod(0o755)
    return work


@contextmanager
def private_postgres(
    prefix: str = "aforo-bench-", *, fast_unsafe: bool = False
) -> Iterator[tuple[EmbeddedPostgres, Path]]:
    """A started, migrated cluster in ``<workdir>/pg``, with the workdir; on exit the cluster
    is stopped and the workdir removed."""
    work = workdir(prefix)
    pg = EmbeddedPostgres(work / "pg", fast_unsafe=fast_unsafe)
    try:
        pg.start()
        migrate.upgrade(pg.url(OWNER_ROLE, "aforo"))
        yield pg, work
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


def app_settings(pg: EmbeddedPostgres, work: Path, **overrides: Any) -> Settings:
    """Settings for the app in-process: embedded defaults (no redis, no Kafka)."""
    return Settings(
        home=work / "home",
        database_url=pg.url(APP_ROLE, "aforo"),
        migration_database_url=pg.url(OWNER_ROLE, "aforo"),
        redis_url=None,
        kafka_bootstrap=None,
        jwt_keys_dir=work / "jwt",
        # Upstreams on loopback (the operator layer opens it), and limits no load test meets.
        **{
            "outbound_allow": ("127.0.0.0/8", "::1/128"),
            "rate_limits": (("*", "1000000/second"),),
            **overrides,
        },
    )


def server_env(pg: EmbeddedPostgres, home: Path) -> dict[str, str]:
    """The environment a uvicorn subprocess of the service needs on top of ``os.environ``."""
    return {
        "AFORO_DATABASE_URL": pg.url(APP_ROLE, "aforo"),
        "AFORO_MIGRATION_DATABASE_URL": pg.url(OWNER_ROLE, "aforo"),
        "AFORO_HOME": str(home),
        "AFORO_LOG_LEVEL": "warning",
        "AFORO_OUTBOUND_ALLOW": "127.0.0.0/8,::1/128",
        "AFORO_RATE_LIMITS": "*=1000000/second",
    }


async def owner_connection(pg: EmbeddedPostgres) -> asyncpg.Connection:
    """A bare asyncpg connection as the owner role (bulk loads, DDL)."""
    creds = pg.credentials()
    return await asyncpg.connect(
        host="127.0.0.1",
        port=pg.port,
        user=OWNER_ROLE,
        password=creds[OWNER_ROLE],
        database="aforo",
    )


async def provision(
    pg: EmbeddedPostgres, name: str = "Bench", *, slug: str | None = None
) -> tenants.ProvisionedTenant:
    """A tenant with its storefront key and admin, over a short-lived owner engine."""
    engine = create_engine(pg.url(OWNER_ROLE, "aforo"), pool_size=1)
    try:
        async with sessionmaker(engine)() as s, s.begin():
            return await tenants.provision_tenant(s, name, slug=slug)
    finally:
        await engine.dispose()


async def seed_people(
    conn: asyncpg.Connection,
    tenant_id: uuid.UUID,
    n_users: int,
    n_categories: int,
    user_name: str = "User",
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """COPY ``n_users`` users (``<user_name> <i>``) and ``n_categories`` forum categories;
    returns their ids."""
    users = [uuid.uuid4() for _ in range(n_users)]
    await conn.copy_records_to_table(
        "users",
        records=[
            (tenant_id, u, f"u{i}@bench.example", f"{user_name} {i}", "x")
            for i, u in enumerate(users)
        ],
        columns=["tenant_id", "id", "email", "name", "password_hash"],
    )
    cats = [uuid.uuid4() for _ in range(n_categories)]
    await conn.copy_records_to_table(
        "community_categories",
        records=[(tenant_id, c, f"Category {i}", f"category-{i}", i) for i, c in enumerate(cats)],
        columns=["tenant_id", "id", "name", "slug", "position"],
    )
    return users, cats


def pct(samples: list[float], p: float) -> float:
    """The sample at rank ``int(n * p)`` of the sorted samples (``0 <= p < 1``)."""
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * p))]
