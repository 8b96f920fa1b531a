"""The outbound guard: SSRF classes refused, a local server reachable only when the operator's
policy opens it, a tenant's allow-list narrowing within that."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from aforo.runtime.outbound import Allowlist, Guard, OutboundError, Policy, refusal, validate_entry


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Route = Callable[[Recorded], tuple[int, dict[str, str], bytes]]


@dataclass
class LocalServer:
    """A real HTTP server on 127.0.0.1 (free port) recording every request it gets."""

    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.server_address[1]

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                rec = Recorded(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                outer.requests.append(rec)
                route = outer.routes.get(self.path.split("?")[0])
                status, headers, payload = (
                    route(rec)
                    if route
                    else (200, {"Content-Type": "application/json"}, b'{"ok":true}')
                )
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    # the client may give up on purpose (size and time caps)
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    s = LocalServer()
    s.start()
    yield s
    s.stop()


BLOCKED = [
    "127.0.0.1",
    "127.8.9.10",
    "10.1.2.3",
    "172.16.5.4",
    "192.168.0.1",
    "169.254.169.254",
    "169.254.1.1",
    "0.0.0.0",  # noqa: S104 - an address to refuse, not to bind
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "100.64.0.1",
    "100.100.100.200",
    "192.0.2.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd00:ec2::254",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "64:ff9b::a9fe:a9fe",
    "2002:7f00:1::1",
]


@pytest.mark.parametrize("address", BLOCKED)
async def test_non_public_addresses_are_refused(address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(OutboundError) as e:
        await Guard().vet(f"http://{host}/openapi.json")
    assert e.value.code == "OUTBOUND_BLOCKED_ADDRESS"
    assert e.value.message == f"{address} is not a public address"


async def test_public_addresses_pass_and_names_resolving_to_loopback_do_not() -> None:
    import ipaddress

    for a in ("93.184.216.34", "2606:4700::1111", "::ffff:93.184.216.34"):
        assert refusal(ipaddress.ip_address(a)) is None, a
    with pytest.raises(OutboundError) as e:
        await Guard().vet("http://localhost/x")
    assert e.value.code == "OUTBOUND_BLOCKED_ADDRESS"
    with pytest.raises(OutboundError) as e:
        await Guard().vet("http://metadata.google.internal/computeMetadata/v1/")
    assert e.value.code == "OUTBOUND_BLOCKED_ADDRESS"


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("file:///etc/passwd", "OUTBOUND_SCHEME"),
        ("gopher://127.0.0.1:6379/_INFO", "OUTBOUND_SCHEME"),
        ("ftp://example.com/x", "OUTBOUND_SCHEME"),
        ("http://user:pw@example.com/", "OUTBOUND_BAD_URL"),
        ("http:///nohost", "OUTBOUND_BAD_URL"),
        ("http://no-such-host.invalid/", "OUTBOUND_DNS"),
    ],
)
async def test_bad_urls_get_stable_codes(url: str, code: str) -> None:
    with pytest.raises(OutboundError) as e:
        await Guard().fetch(url)
    assert e.value.code == code


async def test_local_server_only_when_the_operator_opens_it(local_server: LocalServer) -> None:
    with pytest.raises(OutboundError) as e:
        await Guard().fetch(local_server.url("/spec"))
    assert e.value.code == "OUTBOUND_BLOCKED_ADDRESS"
    assert local_server.requests == []  # refused before any connection
    # A tenant's allow-list cannot open it: it only narrows.
    with pytest.raises(OutboundError) as e:
        await Guard(Allowlist.parse(["127.0.0.0/8"])).fetch(local_server.url("/spec"))
    assert e.value.code == "OUTBOUND_BLOCKED_ADDRESS"
    opened = Policy(allow=["127.0.0.0/8"])
    r = await Guard(policy=opened).fetch(local_server.url("/spec"))
    assert r.status == 200 and r.content == b'{"ok":true}'
    # by host name: connects to the vetted IP, the Host header keeps the name
    r = await Guard(policy=opened).fetch(f"http://localhost:{local_server.port}/h")
    assert r.status == 200
    assert local_server.requests[-1].headers["host"] == f"localhost:{local_server.port}"
    # narrowed by the tenant to other hosts: refused, and told so
    narrowed = Guard(Allowlist.parse(["api.example.com"]), policy=opened)
    with pytest.raises(OutboundError) as e:
        await narrowed.fetch(local_server.url("/spec"))
    assert e.value.code == "OUTBOUND_NOT_ALLOWED"
    # the service's own listener stays closed whatever the operator opened
    opened.note_listener("127.0.0.1", local_server.port)
    with pytest.raises(OutboundError) as e:
        await Guard(policy=opened).fetch(local_server.url("/spec"))
    assert e.value.code == "OUTBOUND_BLOCKED_ADDRESS"


async def test_redirects_are_vetted_again(local_server: LocalServer) -> None:
    local_server.routes["/hop"] = lambda r: (302, {"Location": local_server.url("/spec")}, b"")
    local_server.routes["/out"] = lambda r: (
        302,
        {"Location": f"http://127.0.0.2:{local_server.port}/spec"},
        b"",
    )
    local_server.routes["/meta"] = lambda r: (
        301,
        {"Location": "http://169.254.169.254/latest/meta-data/"},
        b"",
    )
    local_server.routes["/loop"] = lambda r: (302, {"Location": "/loop"}, b"")
    guard = Guard(policy=Policy(allow=["127.0.0.1/32"]))
    r = await guard.fetch(local_server.url("/hop"))
    assert (r.status, r.url) == (200, local_server.url("/spec"))
    for path in ("/out", "/meta"):
        with pytest.raises(OutboundError) as e:
            await guard.fetch(local_server.url(path))
        assert e.value.code == "OUTBOUND_BLOCKED_ADDRESS", path
    with pytest.raises(OutboundError) as e:
        await guard.fetch(local_server.url("/loop"))
    assert e.value.code == "OUTBOUND_REDIRECT"


async def test_size_and_time_caps(local_server: LocalServer) -> None:
    local_server.routes["/big"] = lambda r: (200, {}, b"x" * 300_000)

    def slow(r: Recorded) -> tuple[int, dict[str, str], bytes]:
        time.sleep(2)
        return 200, {}, b"late"

    local_server.routes["/slow"] = slow
    opened = Policy(allow=["127.0.0.1"])
    with pytest.raises(OutboundError) as e:
        await Guard(max_bytes=100_000, policy=opened).fetch(local_server.url("/big"))
    assert e.value.code == "OUTBOUND_TOO_LARGE"
    with pytest.raises(OutboundError) as e:
        await Guard(timeout_s=0.3, policy=opened).fetch(local_server.url("/slow"))
    assert e.value.code == "OUTBOUND_TIMEOUT"


def test_allowlist_entries_are_validated() -> None:
    assert validate_entry(" 93.184.216.0/24 ") == "93.184.216.0/24"
    assert validate_entry("2606:4700::1111") == "2606:4700::1111/128"
    assert validate_entry("*.Corp.Example") == "*.corp.example"
    for bad in ("", "not a host!", "-x.com", "a" * 300):
        with pytest.raises(ValueError):
            validate_entry(bad)


async def test_an_operator_range_never_opens_a_metadata_address() -> None:
    wide = Guard(policy=Policy(allow=["169.254.0.0/16"]))
    _, ip = await wide.vet("http://169.254.10.1/")  # the range itself is open
    assert str(ip) == "169.254.10.1"
    with pytest.raises(OutboundError) as refused:
        await wide.vet("http://169.254.169.254/latest/meta-data/")
    assert refused.value.code == "OUTBOUND_BLOCKED_ADDRESS"
    exact = Guard(policy=Policy(allow=["169.254.169.254"]))
    _, ip = await exact.vet("http://169.254.169.254/")
    assert str(ip) == "169.254.169.254"
