"""Fixtures: real PostgreSQL (the project's launcher), Redis and a Kafka-protocol broker.

Each test gets a fresh database cloned from a migrated template, its own app and client.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import hypothesis
import pytest
from fastapi import FastAPI

from aforo import migrate
from aforo.app import create_app
from aforo.config import Settings
from aforo.runtime.postgres import OWNER_ROLE, EmbeddedPostgres
from tests.services import KafkaBroker, RedisServer
from tests.support import Api

_counter = itertools.count()

# CI replays the same examples every run, so a red CI means a regression in the change, not a
# new random draw; runs by hand (no CI variable) keep exploring new examples.
hypothesis.settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    hypothesis.settings.load_profile("ci")


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="aforo-tests-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def pg(workdir: Path) -> Iterator[EmbeddedPostgres]:
    cluster = EmbeddedPostgres(workdir / "pg", fast_unsafe=True)
    cluster.start()
    migrate.upgrade(cluster.url(OWNER_ROLE, "aforo"))
    yield cluster
    cluster.stop()


async def _owner_conn(pg: EmbeddedPostgres) -> asyncpg.Connection:
    creds = pg.credentials()
    return await asyncpg.connect(
        host="127.0.0.1",
        port=pg.port,
        user=OWNER_ROLE,
        password=creds[OWNER_ROLE],
        database="postgres",
    )


@pytest.fixture
async def database(pg: EmbeddedPostgres) -> AsyncIterator[str]:
    """A fresh database cloned from the migrated ``aforo`` one; dropped after the test."""
    name = f"t{next(_counter)}"
    conn = await _owner_conn(pg)
    try:
        await conn.execute(f"create database {name} template aforo strategy file_copy")
    finally:
        await conn.close()
    yield name
    conn = await _owner_conn(pg)
    try:
        await conn.execute(f"drop database if exists {name} with (force)")
    finally:
        await conn.close()


@pytest.fixture
def settings(pg: EmbeddedPostgres, database: str, workdir: Path) -> Settings:
    return Settings(
        home=workdir / "home",
        database_url=pg.url("aforo_app", database),
        migration_database_url=pg.url(OWNER_ROLE, database),
        redis_url=None,
        kafka_bootstrap=None,
        jwt_keys_dir=workdir / "jwt",
        outbox_poll_s=0.1,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as c:
        yield c


@pytest.fixture
def api(client: httpx.AsyncClient, settings: Settings) -> Api:
    return Api(client, settings)


@pytest.fixture(scope="session")
def ui_assets(workdir: Path) -> Path:
    """The UI pages' pinned npm packages, fetched once a session (npm's own cache keeps the
    tarballs), integrity-checked, as ``aforo assets fetch`` installs them."""
    from aforo.web import assets

    installed = Settings().ui_assets_dir  # `aforo assets fetch` (CI runs it first)
    if assets.installed(installed):
        return installed
    root = workdir / "ui-assets"
    assets.fetch(root)
    return root


@pytest.fixture(scope="session")
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    server = RedisServer(workdir / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def kafka() -> Iterator[KafkaBroker]:
    broker = KafkaBroker()
    broker.start()
    yield broker
    broker.stop()


def with_settings(settings: Settings, **changes: object) -> Settings:
    return dataclasses.replace(settings, **changes)  # type: ignore[arg-type]
