"""The CLI and the README's first command, as a user runs them."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from aforo import cli
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
        ["assets", "fetch"],
    ):
        out = subprocess.run([*AFORO, *args, "--help"], capture_output=True, text=True, check=False)
        assert out.returncode == 0 and "Usage" in out.stdout, args


def _home_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFORO_")}
    env["AFORO_HOME"] = str(home)
    return env


def _serve(home: Path, port: int, *args: str) -> subprocess.Popen[str]:
    env = {**_home_env(home), "AFORO_PORT": str(port)}
    return subprocess.Popen(
        [*AFORO, "serve", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
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


DEMO = """{ tenant { name slug } products { slug plans { slug } }
  threads(first: 5) { edges { node { title } } } }"""


def test_serve_embedded_first_and_later_start(workdir: Path) -> None:
    home = workdir / "serve-home"
    port = free_port()
    proc = _serve(home, port)
    first_out = ""
    try:
        proc_out = proc.stdout
        assert proc_out is not None
        lines: list[str] = []
        while not any("admin login" in line for line in lines):
            line = proc_out.readline()
            assert line, "".join(lines)
            lines.append(line)
            if "ready on" in line:
                # "ready" is printed once the port is bound and served: this call needs no
                # retry, and no secret was printed before it.
                assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
                assert not any("pk_" in x or "admin login" in x for x in lines)
        first_out = "".join(lines)
        key = re.search(r"X-Storefront-Key: (pk_\w+)", first_out)
        assert key is not None, first_out
        # The printed key answers, and the demo tenant has something to read.
        r = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            json={"query": DEMO},
            headers={"X-Storefront-Key": key.group(1)},
        )
        data = r.json()["data"]
        assert data["tenant"] == {"name": "Demo", "slug": "demo"}
        assert data["products"] == [{"slug": "weather", "plans": [{"slug": "starter"}]}]
        titles = [e["node"]["title"] for e in data["threads"]["edges"]]
        assert titles == ["How do I get my first API key?"]

        # A second serve on the same home refuses, naming the running one.
        second = subprocess.run(
            [*AFORO, "serve", "--port", str(free_port())],
            env={**_home_env(home), "AFORO_PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 1
        assert f"pid {proc.pid}" in second.stderr and f":{port}" in second.stderr, second.stderr
    finally:
        _stop(proc)
    pid_file = home / "postgres" / "pgdata" / "postmaster.pid"
    assert not pid_file.exists(), "Ctrl-C must stop the private PostgreSQL too"

    # A later start with several workers: "ready" once one of them serves, and Ctrl-C stops
    # the workers and the cluster as it does one process.
    proc = _serve(home, port, "--workers", "2")
    assert proc.stdout is not None
    while "ready on" not in (line := proc.stdout.readline()):
        assert line, "aforo serve --workers 2 stopped before it was ready"
    assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
    # A query string may hold a secret (a signed invoice link's token): the access log
    # names the path without it.
    pdf = "/v1/billing/invoices/00000000-0000-0000-0000-000000000000.pdf"
    httpx.get(f"http://127.0.0.1:{port}{pdf}?token=eyJsecret-in-the-query")
    later = _stop(proc)
    assert "pk_" not in later and "admin login" not in later
    assert f"GET {pdf} HTTP/1.1" in later and "secret-in-the-query" not in later, later
    assert not pid_file.exists()
    assert (home / "postgres" / "credentials.json").stat().st_mode & 0o077 == 0


def test_serve_on_a_taken_port_prints_nothing_secret_and_stops_its_cluster(
    workdir: Path,
) -> None:
    home = workdir / "serve-taken"
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        out = subprocess.run(
            [*AFORO, "serve"],
            env={**_home_env(home), "AFORO_PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        taken.close()
    assert out.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr
    assert "pk_" not in out.stdout + out.stderr and "ready" not in out.stdout
    assert not (home / "postgres" / "pgdata" / "postmaster.pid").exists()
    # Nothing was provisioned either: the next start still creates (and shows) the demo.
    assert "Traceback" not in out.stderr


async def test_the_served_socket_turns_nagle_off_on_every_connection() -> None:
    """``aforo serve`` binds its listening socket itself and hands it to uvicorn, whose
    connections asyncio sets TCP_NODELAY on only when the socket says it is TCP. Without it,
    a response written in two parts waits for the client's delayed ACK (~40 ms a request)."""
    listener = cli._bind("127.0.0.1", 0)
    nodelay: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            conn = transport.get_extra_info("socket")
            nodelay.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
    try:
        _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
        assert await asyncio.wait_for(nodelay, 10) != 0
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
