"""A private PostgreSQL cluster launched by the project itself.

``initdb`` once into a data directory, ``pg_ctl start`` on a free loopback port. PostgreSQL
refuses to run as root, so when we are root the server runs as the ``postgres`` OS user.
Passwords are generated once and kept in ``credentials.json`` (mode 0600) beside the cluster.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OWNER_ROLE = "aforo_owner"
APP_ROLE = "aforo_app"


class PostgresNotFound(RuntimeError):
    pass


def find_bindir() -> Path:
    """Locate the server binaries (``initdb``, ``pg_ctl``)."""
    candidates: list[Path] = []
    if env := os.environ.get("AFORO_PG_BINDIR"):
        candidates.append(Path(env))
    if pg_config := shutil.which("pg_config"):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    for c in candidates:
        if (c / "initdb").exists() and (c / "pg_ctl").exists():
            return c
    raise PostgresNotFound(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found. Install PostgreSQL 15+ "
        "(Debian/Ubuntu: `apt-get install postgresql postgresql-contrib`; macOS: "
        "`brew install postgresql@16`), set AFORO_PG_BINDIR to its bin directory, or point "
        "AFORO_DATABASE_URL at an existing server."
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class EmbeddedPostgres:
    """A cluster in ``root/pgdata``; ``start()`` returns once it accepts connections."""

    root: Path
    port: int = 0
    fast_unsafe: bool = False  # fsync off: for throwaway test clusters only

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        self.credentials_file = self.root / "credentials.json"
        self.bindir = find_bindir()
        self._as_root = os.geteuid() == 0
        self.datadir = self._pick_datadir()
        self.created = False

    def _pick_datadir(self) -> Path:
        """``root/pgdata``, unless we are root and the postgres OS user cannot reach it (a home
        directory with mode 0700, say): then a directory of its own under /var/lib/aforo,
        derived from ``root`` so later starts find it again."""
        preferred = self.root / "pgdata"
        if not self._as_root or self._postgres_can_reach(preferred.parent):
            return preferred
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:16]
        return Path("/var/lib/aforo") / digest / "pgdata"

    def _postgres_can_reach(self, path: Path) -> bool:
        probe = path
        while not probe.exists():
            probe = probe.parent
        proc = subprocess.run(
            ["test", "-x", str(probe)],
            user="postgres",
            group="postgres",
            extra_groups=[],
            check=False,
        )
        return proc.returncode == 0

    # -- process helpers ---------------------------------------------------------------------
    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {"capture_output": True, "text": True, "check": False}
        if self._as_root:
            kwargs["user"] = "postgres"
            kwargs["group"] = "postgres"
            kwargs["extra_groups"] = []
        proc = subprocess.run([str(self.bindir / args[0]), *args[1:]], **kwargs)
        if proc.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def _chown(self, path: Path) -> None:
        if self._as_root:
            pw = pwd.getpwnam("postgres")
            os.chown(path, pw.pw_uid, pw.pw_gid)

    # -- credentials -------------------------------------------------------------------------
    def credentials(self) -> dict[str, str]:
        data: dict[str, str] = json.loads(self.credentials_file.read_text())
        return data

    def url(self, role: str, database: str = "aforo") -> str:
        creds = self.credentials()
        return f"postgresql+asyncpg://{role}:{creds[role]}@127.0.0.1:{self.port}/{database}"

    @property
    def owner_url(self) -> str:
        return self.url(OWNER_ROLE)

    @property
    def app_url(self) -> str:
        return self.url(APP_ROLE)

    # -- lifecycle ---------------------------------------------------------------------------
    def init(self) -> bool:
        """Create the cluster if it does not exist yet. Returns True when it was created."""
        if (self.datadir / "PG_VERSION").exists():
            return False
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)  # the postgres OS user must traverse it
        self.datadir.parent.mkdir(parents=True, exist_ok=True)
        if not self.credentials_file.exists():
            creds = {OWNER_ROLE: secrets.token_urlsafe(24), APP_ROLE: secrets.token_urlsafe(24)}
            fd = os.open(self.credentials_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(creds, f)
        self.datadir.mkdir(mode=0o700, exist_ok=True)
        self._chown(self.datadir)
        pwfile = self.datadir.parent / "pwfile"
        pwfile.write_text(self.credentials()[OWNER_ROLE])
        self._chown(pwfile)
        try:
            self._run(
                "initdb",
                "-D",
                str(self.datadir),
                "-U",
                OWNER_ROLE,
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            )
        finally:
            pwfile.unlink()
        self.created = True
        return True

    def start(self) -> None:
        self.init()
        self.port = self.port or free_port()
        opts = [
            "-c listen_addresses=127.0.0.1",
            f"-c port={self.port}",
            f"-c unix_socket_directories={self.datadir}",
            "-c max_connections=200",
        ]
        if self.fast_unsafe:
            opts += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run(
            "pg_ctl",
            "-D",
            str(self.datadir),
            "-l",
            str(self.datadir / "server.log"),
            "-o",
            " ".join(opts),
            "-w",
            "-t",
            "60",
            "start",
        )
        self._ensure_database()

    def _ensure_database(self) -> None:
        """Create the ``aforo`` database and the app login role on first start."""
        import asyncio

        import asyncpg

        creds = self.credentials()

        async def go() -> None:
            conn = await asyncpg.connect(
                host="127.0.0.1",
                port=self.port,
                user=OWNER_ROLE,
                password=creds[OWNER_ROLE],
                database="postgres",
            )
            try:
                if not await conn.fetchval("select 1 from pg_database where datname='aforo'"):
                    await conn.execute("create database aforo")
                exists = await conn.fetchval("select 1 from pg_roles where rolname=$1", APP_ROLE)
                verb = "alter" if exists else "create"
                # The app role serves requests: no superuser, no RLS bypass.
                await conn.execute(
                    f"{verb} role {APP_ROLE} login nosuperuser nobypassrls nocreaterole "
                    f"nocreatedb password '{creds[APP_ROLE]}'"
                )
            finally:
                await conn.close()

        asyncio.run(go()) if not _in_loop() else _run_in_thread(go)

    def running_port(self) -> int | None:
        """The port of a server already running on this data directory, if any."""
        pid_file = self.datadir / "postmaster.pid"
        if not pid_file.exists():
            return None
        lines = pid_file.read_text().splitlines()
        try:
            pid, port = int(lines[0]), int(lines[3])
            os.kill(pid, 0)
        except (IndexError, ValueError, ProcessLookupError):
            return None
        except PermissionError:
            pass  # alive, owned by another user
        return port

    def attach_or_start(self) -> bool:
        """Use the running server if there is one; start it otherwise. True if we started it."""
        if port := self.running_port():
            self.port = port
            return False
        self.start()
        return True

    def stop(self) -> None:
        if (self.datadir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")


def _in_loop() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _run_in_thread(fn: Any) -> None:
    import asyncio
    import threading

    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(fn())
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if errors:
        raise errors[0]
