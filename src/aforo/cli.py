"""``aforo``: serve, migrate, tenants and development tokens."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
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
assets_app = typer.Typer(help="The UI pages' pinned assets.", no_args_is_help=True)
app.add_typer(assets_app, name="assets")


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


class ServeLock:
    """One ``aforo serve`` per ``AFORO_HOME``: an exclusive ``flock`` on ``serve.lock`` held
    for the process's life (the kernel drops it when the process dies), with the holder's pid
    and address written inside for the next one to name."""

    def __init__(self, home: Path) -> None:
        self.path = home / "serve.lock"
        self._fd: int | None = None

    def acquire(self, host: str, port: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            try:
                held = json.loads(self.path.read_text() or "{}")
            except (OSError, ValueError):
                held = {}
            where = f"http://{held.get('host', '?')}:{held.get('port', '?')}"
            raise ServeRefused(
                f"another `aforo serve` (pid {held.get('pid', '?')}, {where}) is running on "
                f"AFORO_HOME={self.path.parent}; stop it, or set another AFORO_HOME"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": host, "port": port}).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None


class ServeRefused(Exception):
    pass


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not left 0: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on
    # connections whose socket says TCP, and an accepted connection inherits the listener's
    # protocol number. With 0, a response written in two parts (head, then body) waited for
    # the client's delayed ACK: ~40 ms per request on a kept-alive connection.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as e:
        sock.close()
        raise ServeRefused(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
    sock.set_inheritable(True)
    return sock


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Create the demo tenant (with content) if missing.")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Worker processes sharing one socket; without Redis they share invalidations, "
            "events and counters through PostgreSQL.",
        ),
    ] = 1,
) -> None:
    """Start the service. Without AFORO_DATABASE_URL a private PostgreSQL is launched.

    The port is bound before anything is printed: "ready" and the demo tenant's one-time
    secrets appear only once it is, and a cluster started here is stopped if it cannot be."""
    from aforo.app import create_app
    from aforo.runtime import server
    from aforo.services import demo as demo_content
    from aforo.services import tenants

    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    h, p = host or settings.host, port or settings.port
    if workers > 1 and settings.metrics_listen:
        # Each worker counts only its own requests, and one listener cannot be shared.
        _fail("AFORO_METRICS_LISTEN cannot be combined with --workers; unset it for workers")
    t0 = time.monotonic()
    lock = ServeLock(settings.home)
    try:
        lock.acquire(h, p)
        with database(settings) as settings:
            migrate.upgrade(settings.owner_url or "")
            sock = _bind(h, p)

            async def first_start(s: AsyncSession) -> tenants.ProvisionedTenant | None:
                found = await tenants.list_tenants(s)
                if found and not (demo and not any(t.slug == "demo" for t in found)):
                    return None
                return await demo_content.provision_demo(s)

            created = _owner(settings, first_start)
            _fetch_assets_in_background(settings)

            def ready() -> None:
                typer.echo(
                    f"Aforo Console ready on http://{h}:{p}/graphql "
                    f"(REST reference: /api/docs; {time.monotonic() - t0:.1f}s)"
                )
                if created is not None:
                    typer.echo("Demo tenant created. Keep these; they are not shown again.")
                    typer.echo(f"  storefront key  X-Storefront-Key: {created.storefront_key}")
                    typer.echo(
                        f"  admin login     {created.admin_email} / {created.admin_password}"
                    )

            level = settings.log_level.lower()
            if workers > 1:
                # The workers build the app from the environment: the database this process
                # resolved, the worker count (which picks the cross-process bus).
                os.environ.update(worker_environment(settings, workers))
                server.serve_workers(
                    workers,
                    host=h,
                    port=p,
                    log_level=level,
                    sockets=[sock],
                    on_ready=ready,
                )
                return
            server.serve(
                create_app(settings),
                settings,
                host=h,
                port=p,
                log_level=level,
                sockets=[sock],
                on_ready=ready,
            )
    except (PostgresNotFound, ServeRefused) as e:
        _fail(str(e))
    finally:
        lock.release()


def _fetch_assets_in_background(settings: Settings) -> None:
    """GraphiQL and the REST reference need their pinned npm assets once; never wait."""
    from aforo.web import assets

    if assets.installed(settings.ui_assets_dir):
        return

    def go() -> None:
        try:
            assets.fetch(settings.ui_assets_dir)
        except assets.AssetsMissing as e:
            logging.getLogger("aforo.assets").warning(
                "UI assets not installed (%s); GraphiQL and /api/docs say how", e
            )

    threading.Thread(target=go, name="ui-assets", daemon=True).start()


@assets_app.command("fetch")
def assets_fetch(
    source: Annotated[
        Path | None,
        typer.Option("--from", help="A folder of tarballs made by `npm pack` (offline)."),
    ] = None,
) -> None:
    """Install the pinned UI assets (GraphiQL, Swagger UI), integrity-checked."""
    from aforo.web import assets

    settings = Settings()
    try:
        done = assets.fetch(settings.ui_assets_dir, source)
    except assets.AssetsMissing as e:
        _fail(str(e))
        return
    typer.echo(f"installed {', '.join(done)}" if done else "already installed")


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
    from the shared cache and every instance's: through Redis when it is configured, else
    through PostgreSQL, which the workers of ``aforo serve --workers N`` listen on)."""
    from aforo.runtime import processes
    from aforo.runtime.state import Runtime
    from aforo.services.billing import close_due_periods
    from aforo.tenancy.auth import Authenticator
    from aforo.tenancy.signing import KeyRing

    engine = create_engine(settings.database_url or "", pool_size=2)
    maker = sessionmaker(engine)
    parts = settings if settings.redis_url else dataclasses.replace(settings, bus="postgres")
    cache, bus, shared = await processes.shared_parts(parts, engine)
    auth = Authenticator(KeyRing.load(settings.keys_dir), maker, cache, settings.issuer)
    try:
        runtime = Runtime(
            settings=settings, maker=maker, auth=auth, cache=cache, bus=bus, shared=shared
        )
        return await close_due_periods(runtime, tenant_id=tenant_id)
    finally:
        await bus.close()
        if shared is not cache:
            await shared.close()
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
