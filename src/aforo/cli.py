"""``aforo``: serve, migrate, tenants and development tokens."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from aforo import migrate
from aforo.config import Settings
from aforo.db import create_engine, sessionmaker
from aforo.errors import DomainError
from aforo.runtime.postgres import EmbeddedPostgres, PostgresNotFound

T = TypeVar("T")
app = typer.Typer(help="Aforo Console: a headless multi-tenant platform API.", no_args_is_help=True)
tenant_app = typer.Typer(help="Create and list tenants.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[Settings]:
    """Settings with database URLs: the configured ones, or the embedded cluster's.

    The embedded cluster is started if it is not running and stopped again on exit
    if (and only if) we started it.
    """
    if settings.database_url:
        yield settings
        return
    cluster = EmbeddedPostgres(settings.home / "postgres")
    started = cluster.attach_or_start()
    try:
        yield dataclasses.replace(
            settings, database_url=cluster.app_url, migration_database_url=cluster.owner_url
        )
    finally:
        if started:
            cluster.stop()


WORKER_HEALTHCHECK_S = 60


def worker_environment(settings: Settings, workers: int) -> dict[str, str]:
    """What a spawned worker needs to build the same app: the resolved database URLs."""
    env = {"AFORO_WORKERS": str(workers), "AFORO_HOME": str(settings.home)}
    if settings.database_url:
        env["AFORO_DATABASE_URL"] = settings.database_url
    if settings.owner_url:
        env["AFORO_MIGRATION_DATABASE_URL"] = settings.owner_url
    return env


def _owner(settings: Settings, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``fn`` in one transaction on the owner connection."""
    assert settings.owner_url

    async def go() -> T:
        engine = create_engine(settings.owner_url or "", pool_size=1)
        try:
            async with sessionmaker(engine)() as session, session.begin():
                return await fn(session)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Worker processes sharing one socket; without Redis they share invalidations, "
            "events and counters through PostgreSQL.",
        ),
    ] = 1,
) -> None:
    """Start the service. Without AFORO_DATABASE_URL a private PostgreSQL is launched."""
    import uvicorn

    from aforo.app import create_app
    from aforo.services import tenants

    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    t0 = time.monotonic()
    try:
        with database(settings) as settings:
            migrate.upgrade(settings.owner_url or "")

            async def first_start(s: AsyncSession) -> tenants.ProvisionedTenant | None:
                if await tenants.list_tenants(s):
                    return None
                return await tenants.provision_tenant(s, "Demo", slug="demo")

            demo = _owner(settings, first_start)
            if demo is not None:
                typer.echo(
                    "First start: created the demo tenant. Keep these; they are not shown again."
                )
                typer.echo(f"  storefront key  X-Storefront-Key: {demo.storefront_key}")
                typer.echo(f"  admin login     {demo.admin_email} / {demo.admin_password}")
            h, p = host or settings.host, port or settings.port
            level = settings.log_level.lower()
            if workers > 1:
                # uvicorn binds the socket here and spawns the workers, which build the app
                # from the environment: the database this process resolved, the worker count.
                os.environ.update(worker_environment(settings, workers))
                typer.echo(f"Aforo Console on http://{h}:{p}/graphql ({workers} workers)")
                uvicorn.run(
                    "aforo.app:create_app",
                    factory=True,
                    workers=workers,
                    host=h,
                    port=p,
                    log_level=level,
                    # A worker importing the app on a busy machine can take longer than
                    # uvicorn's 5 s health check, which would then restart it in a loop.
                    timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
                )
                return
            app_ = create_app(settings)
            typer.echo(
                f"Aforo Console on http://{h}:{p}/graphql (ready in {time.monotonic() - t0:.1f}s)"
            )
            uvicorn.run(app_, host=h, port=p, log_level=level)
    except PostgresNotFound as e:
        _fail(str(e))


@app.command("migrate")
def migrate_cmd() -> None:
    """Apply database migrations up to head."""
    with database(Settings()) as settings:
        migrate.upgrade(settings.owner_url or "")
        typer.echo(f"migrated to {migrate.head_revision()}")


@tenant_app.command("create")
def tenant_create(
    name: str,
    slug: Annotated[
        str | None, typer.Option(help="URL-safe id; derived from NAME by default.")
    ] = None,
    admin_email: Annotated[str | None, typer.Option(help="Email of the first admin.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Create a tenant; prints its storefront key and first admin login once."""
    from aforo.services import tenants

    with database(Settings()) as settings:
        migrate.upgrade(settings.owner_url or "")
        try:
            p = _owner(
                settings,
                lambda s: tenants.provision_tenant(s, name, slug=slug, admin_email=admin_email),
            )
        except DomainError as e:
            _fail(f"{e.field}: {e.message}" if e.field else e.message)
            return
    out = {
        "tenant_id": str(p.tenant.id),
        "name": p.tenant.name,
        "slug": p.tenant.slug,
        "storefront_key": p.storefront_key,
        "admin_email": p.admin_email,
        "admin_password": p.admin_password,
    }
    if as_json:
        typer.echo(json.dumps(out))
    else:
        for k, v in out.items():
            typer.echo(f"{k:16} {v}")


@tenant_app.command("list")
def tenant_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List tenants."""
    from aforo.services import tenants

    with database(Settings()) as settings:
        rows = _owner(settings, tenants.list_tenants)
    items = [{"id": str(t.id), "slug": t.slug, "name": t.name} for t in rows]
    if as_json:
        typer.echo(json.dumps(items))
    else:
        for i in items:
            typer.echo(f"{i['id']}  {i['slug']:24} {i['name']}")


@app.command()
def token(
    tenant: Annotated[str, typer.Option(help="Tenant slug.")],
    email: Annotated[str, typer.Option(help="Email of the account.")],
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds.")] = 3600,
) -> None:
    """Mint an access JWT for an account (development)."""
    from aforo.services import accounts, tenants
    from aforo.tenancy.auth import issue_access_token
    from aforo.tenancy.signing import KeyRing

    base = Settings()
    with database(base) as settings:

        async def find(s: AsyncSession) -> tuple[str, str, list[str]]:
            t = await tenants.tenant_by_slug(s, tenant)
            u = await accounts.user_by_email(s, email)
            return str(t.id), str(u.id), list(u.roles)

        try:
            tid, uid, roles = _owner(settings, find)
        except DomainError as e:
            _fail(e.message)
            return
    jwt, _ = issue_access_token(
        KeyRing.load(settings.keys_dir),
        settings.issuer,
        tenant_id=uuid.UUID(tid),
        user_id=uuid.UUID(uid),
        roles=roles,
        session_id=None,
        ttl_s=ttl,
    )
    typer.echo(jwt)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
