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
from typing import Any

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


# The tests' operator policy and limits: upstreams and specs are served on loopback (opened by
# the operator layer, as an on-premises deployment would open its network), and one client
# signs up and logs in far more often than a person would. Tests of the boundary itself use
# ``with_settings(settings, **STRICT_BOUNDARY)``: the shipped defaults.
TEST_BOUNDARY: dict[str, Any] = {
    "outbound_allow": ("127.0.0.0/8", "::1/128"),
    "rate_limits": (("*", "100000/second"),),
}
STRICT_BOUNDARY: dict[str, Any] = {"outbound_allow": (), "rate_limits": ()}


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
        mail_dir_path=workdir / "mail" / database,  # each test reads its own mail
        mail_retry_base_s=0.05,
        mail_poll_s=30.0,  # woken on commit; no idle polls in statement counts
        **TEST_BOUNDARY,
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


@pytest.fixture
async def strict(settings: Settings) -> AsyncIterator[tuple[FastAPI, Api]]:
    """The app with the shipped boundary (public-only outbound policy, default rate limits)."""
    strict_settings = with_settings(settings, **STRICT_BOUNDARY)
    application = create_app(strict_settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as c:
            yield application, Api(c, strict_settings)


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
