"""The CLI and the README's first command, as a user runs them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from aforo.config import Settings
from aforo.runtime.postgres import free_port
from tests.support import Api

AFORO = [sys.executable, "-m", "aforo"]


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFORO_")}
    env.update(
        AFORO_DATABASE_URL=settings.database_url or "",
        AFORO_MIGRATION_DATABASE_URL=settings.migration_database_url or "",
        AFORO_JWT_KEYS_DIR=str(settings.keys_dir),
        **extra,
    )
    return env


def _run(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AFORO, *args], env=_env(settings), capture_output=True, text=True, timeout=60, check=False
    )


async def test_tenant_create_list_and_token(api: Api) -> None:
    out = _run(api.settings, "tenant", "create", "Globex Corp", "--json")
    assert out.returncode == 0, out.stderr
    created = json.loads(out.stdout)
    assert created["slug"] == "globex-corp" and created["storefront_key"].startswith("pk_")

    dup = _run(api.settings, "tenant", "create", "Globex Corp")
    assert (
        dup.returncode == 1 and "slug" in dup.stderr and created["storefront_key"] not in dup.stderr
    )

    listed = json.loads(_run(api.settings, "tenant", "list", "--json").stdout)
    assert [t["slug"] for t in listed] == ["globex-corp"]

    tok = _run(api.settings, "token", "--tenant", "globex-corp", "--email", created["admin_email"])
    assert tok.returncode == 0, tok.stderr
    d = await api.data("{ me { email roles } tenant { name } }", token=tok.stdout.strip())
    assert d == {
        "me": {"email": created["admin_email"], "roles": ["ADMIN"]},
        "tenant": {"name": "Globex Corp"},
    }

    # The printed admin login works too.
    login = await api.log_in(
        type("T", (), {"storefront_key": created["storefront_key"]})(),  # type: ignore[arg-type]
        created["admin_email"],
        created["admin_password"],
    )
    assert login["__typename"] == "AuthPayload"


def test_help_on_every_command() -> None:
    for args in (
        [],
        ["serve"],
        ["migrate"],
        ["tenant"],
        ["tenant", "create"],
        ["tenant", "list"],
        ["token"],
    ):
        out = subprocess.run([*AFORO, *args, "--help"], capture_output=True, text=True, check=False)
        assert out.returncode == 0 and "Usage" in out.stdout, args


def _serve(home: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFORO_")}
    env.update(AFORO_HOME=str(home), AFORO_PORT=str(port))
    return subprocess.Popen(
        [*AFORO, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _wait_ready(port: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError("aforo serve did not become ready")


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    return out


def test_serve_embedded_first_and_later_start(workdir: Path) -> None:
    home = workdir / "serve-home"
    port = free_port()
    proc = _serve(home, port)
    _wait_ready(port, proc)
    q = {"query": "{ tenant { name slug } }"}
    first_out = ""
    try:
        # The storefront key printed on first start answers a curl of { tenant { name } }.
        proc_out = proc.stdout
        assert proc_out is not None
        lines = []
        while not any("admin login" in line for line in lines):
            lines.append(proc_out.readline())
        first_out = "".join(lines)
        key = re.search(r"X-Storefront-Key: (pk_\w+)", first_out)
        assert key is not None, first_out
        r = httpx.post(
            f"http://127.0.0.1:{port}/graphql", json=q, headers={"X-Storefront-Key": key.group(1)}
        )
        assert r.json() == {"data": {"tenant": {"name": "Demo", "slug": "demo"}}}
    finally:
        _stop(proc)
    pid_file = home / "postgres" / "pgdata" / "postmaster.pid"
    assert not pid_file.exists(), "Ctrl-C must stop the private PostgreSQL too"

    proc = _serve(home, port)
    _wait_ready(port, proc)
    later = _stop(proc)
    assert "pk_" not in later and "admin login" not in later
    assert (home / "postgres" / "credentials.json").stat().st_mode & 0o077 == 0
