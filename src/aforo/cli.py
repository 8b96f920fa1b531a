"""``aforo``: serve, migrate, tenants and development tokens."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
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
billing_app = typer.Typer(help="Billing periods and invoices.", no_args_is_help=True)
app.add_typer(billing_app, name="billing")
mail_app = typer.Typer(
    help="Mail written as .eml files (when AFORO_SMTP_URL is not set).", no_args_is_help=True
)
app.add_typer(mail_app, name="mail")


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
) -> None:
    """Start the service. Without AFORO_DATABASE_URL a private PostgreSQL is launched."""
    from aforo.app import create_app
    from aforo.runtime import server
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
            app_ = create_app(settings)
            h, p = host or settings.host, port or settings.port
            typer.echo(
                f"Aforo Console on http://{h}:{p}/graphql (ready in {time.monotonic() - t0:.1f}s)"
            )
            server.serve(app_, settings, host=h, port=p, log_level=settings.log_level.lower())
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


async def _close_periods(settings: Settings, tenant_id: uuid.UUID | None) -> list[uuid.UUID]:
    """The billing job once, with a runtime like the service's (so revoked keys are dropped
    from the shared cache and every instance's, through Redis when it is configured)."""
    from aforo.runtime.bus import Bus, MemoryBus, RedisBus, bus_client
    from aforo.runtime.cache import Cache, MemoryCache, RedisCache, redis_client
    from aforo.runtime.state import Runtime
    from aforo.services.billing import close_due_periods
    from aforo.tenancy.auth import Authenticator
    from aforo.tenancy.signing import KeyRing

    engine = create_engine(settings.database_url or "", pool_size=2)
    maker = sessionmaker(engine)
    cache: Cache = (
        RedisCache(redis_client(settings.redis_url)) if settings.redis_url else MemoryCache()
    )
    bus: Bus = RedisBus(bus_client(settings.redis_url)) if settings.redis_url else MemoryBus()
    auth = Authenticator(KeyRing.load(settings.keys_dir), maker, cache, settings.issuer)
    try:
        runtime = Runtime(settings=settings, maker=maker, auth=auth, cache=cache, bus=bus)
        return await close_due_periods(runtime, tenant_id=tenant_id)
    finally:
        await bus.close()
        await cache.close()
        await engine.dispose()


@billing_app.command("close")
def billing_close(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant (slug).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Close every billing period that has ended and draft its invoice (the service's billing
    job does it every AFORO_BILLING_INTERVAL seconds). Safe to run any time, twice, or while
    the service runs: nothing is closed twice."""
    from aforo.services import tenants

    with database(Settings()) as settings:
        tenant_id = None
        if tenant is not None:
            try:
                tenant_id = _owner(settings, lambda s: tenants.tenant_by_slug(s, tenant)).id
            except DomainError as e:
                _fail(e.message)
                return
        drafted = asyncio.run(_close_periods(settings, tenant_id))
    if as_json:
        typer.echo(json.dumps({"invoices": [str(i) for i in drafted]}))
    else:
        typer.echo(f"drafted {len(drafted)} invoice(s)")


@mail_app.command("list")
def mail_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the messages in AFORO_MAIL_DIR (default $AFORO_HOME/mail), oldest first."""
    from aforo.services.mail import files

    items = [m.summary() for m in files.read_all(Settings().mail_dir)]
    if as_json:
        typer.echo(json.dumps(items))
        return
    for i in items:
        typer.echo(f"{i['id']}  {i['date']:31}  {i['to']:30}  {i['subject']}")


@mail_app.command("show")
def mail_show(
    id: Annotated[
        str, typer.Argument(help="A message id from `aforo mail list` (or any unique part of it).")
    ],
    html: Annotated[bool, typer.Option("--html", help="Print the HTML part.")] = False,
    raw: Annotated[bool, typer.Option("--raw", help="Print the whole MIME message.")] = False,
) -> None:
    """Print one message: its headers and text part (or HTML part, or raw MIME)."""
    from aforo.services.mail import files

    found = [m for m in files.read_all(Settings().mail_dir) if id in m.id]
    if len(found) != 1:
        _fail(f"{len(found)} messages match {id!r}; give more of the id")
        return
    typer.echo(found[0].render(html=html, raw=raw))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
