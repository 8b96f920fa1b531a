"""The outbound guard: every server-side fetch of a URL a tenant or user supplied goes through it.

Server-side request forgery is the risk: a spec URL (or a try-it target) pointing at
``http://169.254.169.254/`` or ``http://localhost:6379/`` would make us an open door into our own
network. What is reachable is decided in two layers:

- the operator's ``Policy`` (configuration): which addresses exist at all. By default only
  public unicast addresses; ``AFORO_OUTBOUND_ALLOW`` opens non-public ranges (an on-premises
  network), ``AFORO_OUTBOUND_DENY`` closes public ones; the service's own listeners are always
  refused, and cloud metadata addresses unless an entry names the very address;
- a tenant's ``Allowlist``: it can only narrow within the operator's policy (when it has entries,
  only the hosts and ranges it names are reached) and only ever names public hosts and ranges.

Then the guard

- accepts only ``http`` and ``https`` URLs without credentials in them;
- resolves the host itself and vets every address (also when hidden in IPv4-mapped / NAT64 /
  6to4 IPv6 forms);
- connects to the very IP it vetted (the URL's host becomes the ``Host`` header and the TLS SNI /
  certificate name), so a DNS answer that changes between check and connect (rebinding) cannot
  redirect the request;
- follows redirects itself, vetting every hop again;
- caps the total time and the response size.

Errors are ``OutboundError`` with stable codes; callers show them to the tenant as they are, so
they never say what a name resolved to (only "not a public address").
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from aforo.errors import DomainError
from aforo.runtime.tasks import stop_tasks

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_REDIRECTS = 5
_REDIRECTS = {301, 302, 303, 307, 308}
_TIMEOUTS = ("connect", "read", "write", "pool")
# What an httpx client would send besides the caller's headers (requests go to a transport);
# only encodings we can decode under the size cap ourselves.
_SENT_HEADERS = {
    "Accept": "*/*",
    "Accept-Encoding": "gzip, deflate",
    "Connection": "keep-alive",
    "User-Agent": f"python-httpx/{httpx.__version__}",
}

# Cloud metadata endpoints. Most are link-local already; listed so that even an allow-listed
# private range never opens them (only an explicit entry naming the address does).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean …
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.123",  # AWS time sync
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (classic)
        "fd00:ec2::254",  # AWS IMDS over IPv6
    )
)
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_6TO4 = ipaddress.ip_network("2002::/16")


class OutboundError(DomainError):
    """A refused or failed outbound request. Codes:

    ``OUTBOUND_BAD_URL``, ``OUTBOUND_SCHEME``, ``OUTBOUND_DNS``, ``OUTBOUND_BLOCKED_ADDRESS``,
    ``OUTBOUND_NOT_ALLOWED``, ``OUTBOUND_CONNECT``, ``OUTBOUND_TIMEOUT``, ``OUTBOUND_TOO_LARGE``,
    ``OUTBOUND_REDIRECT``.
    """

    code = "OUTBOUND_FAILED"
    status = 422


NOT_PUBLIC = "not a public address"
# Every special-purpose block (IANA registries) a tenant's allow-list entry may not overlap.
_SPECIAL = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/96",
        "::ffff:0:0/96",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "2002::/16",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)
# Names that are never public: loopback and local-only zones, cloud metadata.
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa", ".arpa")


def _canonical(ip: IPAddress) -> IPAddress:
    """An IPv4 address hidden in an IPv6 form is judged as the IPv4 address it reaches."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            return inner
    return ip


def _in(ip: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    return any(ip.version == n.version and ip in n for n in networks)


def _networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip())


class Policy:
    """The operator's layer: which addresses outbound fetches may reach at all.

    Public unicast addresses, plus the non-public ranges ``allow`` opens, minus the ranges
    ``deny`` closes and the service's own listeners (its address and port, found from its
    settings and from the requests it serves). A cloud metadata address is opened only by an
    ``allow`` entry naming that very address, never by a range."""

    def __init__(
        self, allow: Iterable[str] = (), deny: Iterable[str] = (), *, max_listeners: int = 64
    ) -> None:
        self.allow = _networks(allow)
        self.deny = _networks(deny)
        self.listeners: set[tuple[IPAddress, int]] = set()
        self._max_listeners = max_listeners

    def note_listener(self, host: str, port: int) -> None:
        """Remember an address the service itself answers on (bounded)."""
        if len(self.listeners) >= self._max_listeners:
            return
        try:
            ip = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return  # a name (virtual host), not a socket address
        addresses = _local_addresses() if ip.is_unspecified else (ip,)
        for a in addresses:
            self.listeners.add((_canonical(a), port))

    def own(self, ip: IPAddress, port: int | None = None) -> bool:
        ip = _canonical(ip)
        return any(a == ip and (port is None or p == port) for a, p in self.listeners)

    def permits(self, ip: IPAddress, port: int) -> bool:
        ip = _canonical(ip)
        if self.own(ip, port) or _in(ip, self.deny):
            return False
        if ip in METADATA_ADDRESSES:
            return any(n.num_addresses == 1 and ip in n for n in self.allow)
        return refusal(ip) is None or _in(ip, self.allow)

    @classmethod
    def from_settings(
        cls, allow: Iterable[str], deny: Iterable[str], host: str, port: int
    ) -> Policy:
        policy = cls(allow, deny)
        policy.note_listener(host, port)
        return policy


def _local_addresses() -> list[IPAddress]:
    """This machine's addresses, as far as its host name and loopback tell."""
    found: list[IPAddress] = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return found
    for info in infos:
        a = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if a not in found:
            found.append(a)
    return found


# The policy rides on the session (the app's sessionmaker puts it in ``Session.info``), so
# every service that builds a guard reaches it without a new parameter; a session of no app
# (scripts, tests of a service) gets the default: public unicast only.
POLICY_KEY = "outbound_policy"
_DEFAULT_POLICY = Policy()


def policy_of(info: Mapping[str, Any]) -> Policy:
    found = info.get(POLICY_KEY)
    return found if isinstance(found, Policy) else _DEFAULT_POLICY


@dataclass(frozen=True)
class Allowlist:
    """A tenant's narrowing of the operator's policy: with entries, outbound fetches reach only
    the host names (``api.example.com``, ``*.example.com``) and public ranges it names; empty,
    it narrows nothing."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: tuple[str, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowlist:
        nets: list[IPNetwork] = []
        hosts: list[str] = []
        for raw in entries:
            entry = raw.strip().lower()
            try:
                nets.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.append(entry)
        return cls(tuple(nets), tuple(hosts))

    @property
    def empty(self) -> bool:
        return not self.networks and not self.hosts

    def covers_host(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        for h in self.hosts:
            if h.startswith("*.") and host.endswith(h[1:]):
                return True
            if h == host:
                return True
        return False

    def covers_ip(self, ip: IPAddress) -> bool:
        return _in(_canonical(ip), self.networks)

    def admits(self, host: str, ip: IPAddress) -> bool:
        return self.empty or self.covers_host(host) or self.covers_ip(ip)


def _public_network(net: IPNetwork, policy: Policy) -> bool:
    if any(net.version == n.version and net.overlaps(n) for n in _SPECIAL):
        return False
    if any(net.version == n.version and net.overlaps(n) for n in policy.deny):
        return False
    if any(a.version == net.version and a in net for a, _ in policy.listeners):
        return False
    ends = (net.network_address, net.broadcast_address)
    return all(refusal(a) is None and a not in METADATA_ADDRESSES for a in ends)


def _public_name(name: str) -> bool:
    labels = name.split(".")
    if len(labels) < 2 or name in METADATA_HOSTS or name == "localhost":
        return False
    if name.endswith(_LOCAL_SUFFIXES):
        return False
    last = labels[-1]
    # A numeric or hex "top-level domain" is an IP address in disguise (2130706433, 0x7f.1).
    return not (last.isdigit() or last.startswith("0x"))


def validate_entry(entry: str, policy: Policy | None = None) -> str:
    """Normalise a tenant's allow-list entry; raise ``ValueError`` unless it is a public host
    name or a public CIDR / address (never loopback, link-local, metadata, private, CGNAT, ULA,
    reserved or the service's own addresses)."""
    policy = policy or _DEFAULT_POLICY
    entry = entry.strip().lower()
    if not entry or len(entry) > 253:
        raise ValueError("an entry must be 1-253 characters")
    try:
        net = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        pass
    else:
        if not _public_network(net, policy):
            raise ValueError(f"{entry} is {NOT_PUBLIC}; an allow-list only narrows to public ones")
        return str(net)
    name = entry[2:] if entry.startswith("*.") else entry
    name = name.rstrip(".")
    labels = name.split(".")
    ok = all(
        0 < len(label) <= 63
        and all(c.isalnum() or c == "-" for c in label)
        and label.isascii()
        and not label.startswith("-")
        and not label.endswith("-")
        for label in labels
    )
    if not ok:
        raise ValueError("not a CIDR, an IP address or a host name")
    if not _public_name(name):
        raise ValueError(f"{entry} is not a public host name")
    return entry


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _6TO4:
        return ip.sixtofour
    return None


def refusal(ip: IPAddress) -> str | None:
    """Why an address may not be contacted by default (None: it is a public address)."""
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            why = refusal(inner)
            return f"{why} (embedded in IPv6)" if why else None
    for attr, label in (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_private", "a private address"),
        ("is_reserved", "a reserved address"),
    ):
        if getattr(ip, attr):
            return label
    if not ip.is_global:  # shared address space (CGNAT), documentation ranges and the like
        return "a non-public address"
    return None


@dataclass(frozen=True)
class Response:
    status: int
    headers: httpx.Headers
    content: bytes
    url: str  # the final URL, after redirects

    def text(self) -> str:
        found = re.search(r"charset=\"?([\w.-]+)", self.headers.get("content-type", ""))
        try:
            return self.content.decode(found.group(1) if found else "utf-8", "replace")
        except LookupError:  # an unknown charset name
            return self.content.decode("utf-8", "replace")


@dataclass
class Guard:
    allowlist: Allowlist = field(default_factory=Allowlist)
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_bytes: int = DEFAULT_MAX_BYTES
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    policy: Policy = field(default_factory=lambda: _DEFAULT_POLICY)

    async def vet(self, url: str) -> tuple[httpx.URL, IPAddress]:
        """Check a URL and resolve its host; returns the URL and the one IP to connect to."""
        if len(url) > 2048:
            raise OutboundError("the URL is longer than 2048 characters", code="OUTBOUND_BAD_URL")
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https"):
            raise OutboundError("only http and https URLs can be fetched", code="OUTBOUND_SCHEME")
        if parts.username or parts.password:
            raise OutboundError("credentials in the URL are not allowed", code="OUTBOUND_BAD_URL")
        try:
            target = httpx.URL(url)
        except httpx.InvalidURL as e:
            raise OutboundError(f"not a valid URL: {e}", code="OUTBOUND_BAD_URL") from e
        host = target.host
        if not host:
            raise OutboundError("the URL has no host", code="OUTBOUND_BAD_URL")
        if host.lower().rstrip(".") in METADATA_HOSTS:
            raise OutboundError(f"{host} is {NOT_PUBLIC}", code="OUTBOUND_BLOCKED_ADDRESS")
        port = target.port or (443 if target.scheme == "https" else 80)
        addresses = await _resolve(host, port)
        permitted = [ip for ip in addresses if self.policy.permits(ip, port)]
        for ip in permitted:
            if self.allowlist.admits(host, ip):
                return target, ip
        if permitted:
            raise OutboundError(
                f"{host} is not on this tenant's outbound allow-list",
                code="OUTBOUND_NOT_ALLOWED",
            )
        # Never what the name resolved to: that would map the inside for the tenant.
        raise OutboundError(f"{host} is {NOT_PUBLIC}", code="OUTBOUND_BLOCKED_ADDRESS")

    async def fetch(
        self, url: str, *, method: str = "GET", headers: Mapping[str, str] | None = None
    ) -> Response:
        """One request (GET by default), redirects followed and re-vetted hop by hop."""
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._fetch(url, method, dict(headers or {}))
        except TimeoutError as e:
            raise OutboundError(
                f"no complete answer within {self.timeout_s:g} s", code="OUTBOUND_TIMEOUT"
            ) from e

    async def _fetch(self, url: str, method: str, headers: dict[str, str]) -> Response:
        async with httpx.AsyncHTTPTransport(trust_env=False) as transport:
            for _ in range(self.max_redirects + 1):
                target, ip = await self.vet(url)
                response = await self._send(transport, method, target, ip, headers)
                if response.status in _REDIRECTS and "location" in response.headers:
                    url = urljoin(str(target), response.headers["location"])
                    if response.status == 303 or (
                        response.status in (301, 302) and method != "HEAD"
                    ):
                        method = "GET"
                    continue
                return response
        raise OutboundError(f"more than {self.max_redirects} redirects", code="OUTBOUND_REDIRECT")

    async def exchange(
        self,
        pool: ClientPool,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        allowed_hosts: Iterable[str] | None = None,
        on_phase: PhaseHook | None = None,
    ) -> Exchange:
        """Any method, headers and body, over ``pool``'s pooled connections, timed phase by
        phase. Redirects are followed (and re-vetted) only to ``allowed_hosts`` (or hosts the
        allow-list names) when given; credentials are dropped when a redirect changes host."""
        clock = _Clock(on_phase)
        hosts = (
            {h.lower().rstrip(".") for h in allowed_hosts} if allowed_hosts is not None else None
        )
        sent = dict(headers or {})
        try:
            async with asyncio.timeout(self.timeout_s):
                for hop in range(self.max_redirects + 1):
                    host = (urlsplit(url).hostname or "").rstrip(".")
                    if (
                        hop
                        and hosts is not None
                        and not (host in hosts or self.allowlist.covers_host(host))
                    ):
                        # Checked before resolving: an off-list name is never even looked up.
                        raise OutboundError(
                            f"the answer redirects to {host or 'nowhere'}, which is not one of "
                            "the API's servers",
                            code="OUTBOUND_REDIRECT",
                        )
                    started = time.perf_counter()
                    target, ip = await self.vet(url)
                    clock.resolved(time.perf_counter() - started)
                    transport = pool.transport(target.scheme, target.host)
                    response = await self._send(transport, method, target, ip, sent, content, clock)
                    if response.status in _REDIRECTS and "location" in response.headers:
                        url = urljoin(str(target), response.headers["location"])
                        if (urlsplit(url).hostname or "").rstrip(".").lower() != target.host:
                            sent = {k: v for k, v in sent.items() if k.lower() not in _CREDENTIAL}
                        if response.status == 303 or (
                            response.status in (301, 302) and method not in ("GET", "HEAD")
                        ):
                            method, content = "GET", None
                            sent = {k: v for k, v in sent.items() if k.lower() != "content-type"}
                        continue
                    return Exchange(response, clock.timing())
        except TimeoutError as e:
            raise OutboundError(
                f"no complete answer within {self.timeout_s:g} s", code="OUTBOUND_TIMEOUT"
            ) from e
        raise OutboundError(f"more than {self.max_redirects} redirects", code="OUTBOUND_REDIRECT")

    async def _send(
        self,
        transport: httpx.AsyncBaseTransport,
        method: str,
        target: httpx.URL,
        ip: IPAddress,
        headers: dict[str, str],
        content: bytes | None = None,
        clock: _Clock | None = None,
    ) -> Response:
        host_header = target.host if target.port is None else f"{target.host}:{target.port}"
        if ":" in target.host and target.port is None:
            host_header = f"[{target.host}]"
        elif ":" in target.host:
            host_header = f"[{target.host}]:{target.port}"
        pinned = target.copy_with(host=str(ip))
        extensions: dict[str, Any] = {"timeout": dict.fromkeys(_TIMEOUTS, self.timeout_s)}
        if target.scheme == "https":
            extensions["sni_hostname"] = target.host
        if clock is not None:
            extensions["trace"] = clock.trace
        request = httpx.Request(
            method,
            pinned,
            headers={**_SENT_HEADERS, **headers, "Host": host_header},
            content=content,
            extensions=extensions,
        )
        try:
            if clock is not None:
                clock.sending(target.scheme == "https")
            upstream = await transport.handle_async_request(request)
            if clock is not None:
                clock.headers_received()
        except httpx.TimeoutException as e:
            raise OutboundError(f"{target.host} timed out", code="OUTBOUND_TIMEOUT") from e
        except httpx.HTTPError as e:
            raise OutboundError(
                f"could not connect to {target.host}: {type(e).__name__}", code="OUTBOUND_CONNECT"
            ) from e
        try:
            declared = upstream.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > self.max_bytes:
                raise OutboundError(
                    f"the response is larger than {self.max_bytes} bytes", code="OUTBOUND_TOO_LARGE"
                )
            chunks: list[bytes] = []
            size = 0
            async for chunk in upstream.aiter_raw():
                size += len(chunk)
                if size > self.max_bytes:
                    raise OutboundError(
                        f"the response is larger than {self.max_bytes} bytes",
                        code="OUTBOUND_TOO_LARGE",
                    )
                chunks.append(chunk)
        except httpx.HTTPError as e:
            raise OutboundError(
                f"{target.host} broke off the response: {type(e).__name__}",
                code="OUTBOUND_CONNECT",
            ) from e
        finally:
            await upstream.aclose()
        if clock is not None:
            clock.body_received()
        body = _decode(
            b"".join(chunks), upstream.headers.get("content-encoding", ""), self.max_bytes
        )
        if len(body) > self.max_bytes:
            raise OutboundError(
                f"the response is larger than {self.max_bytes} bytes", code="OUTBOUND_TOO_LARGE"
            )
        return Response(upstream.status_code, upstream.headers, body, str(target))


# -- timed exchanges over pooled connections (the try-it playground) ---------------------------
_CREDENTIAL = frozenset({"authorization", "cookie", "proxy-authorization"})
PhaseHook = Callable[[str, float], None]
"""Called with a phase (``DNS_RESOLVED``, ``CONNECTED``, ``TLS_DONE``, ``FIRST_BYTE``) and the
milliseconds since the exchange began. Synchronous and cheap: it runs inside the timed path."""


@dataclass(frozen=True)
class Timing:
    dns_ms: float
    connect_ms: float
    tls_ms: float
    ttfb_ms: float  # from sending the request to its response headers
    transfer_ms: float  # reading the body
    total_ms: float
    reused_connection: bool  # no connect / TLS: a pooled connection carried the request


@dataclass(frozen=True)
class Exchange:
    response: Response
    timing: Timing


class _Clock:
    """Phase durations from httpcore's trace hooks (connect, TLS, request sent) and our own
    marks (DNS around the guard's resolution, response headers, body), summed over redirects."""

    def __init__(self, on_phase: PhaseHook | None) -> None:
        self.on_phase = on_phase
        self.t0 = time.perf_counter()
        self.dns = self.connect = self.tls = self.ttfb = self.transfer = 0.0
        self.reused = True
        self._marks: dict[str, float] = {}
        self._connected = False
        self._tls_done = False
        self._https = False

    def _emit(self, phase: str) -> None:
        if self.on_phase is not None:
            self.on_phase(phase, (time.perf_counter() - self.t0) * 1000)

    def resolved(self, seconds: float) -> None:
        self.dns += seconds
        self._connected = self._tls_done = False
        self._emit("DNS_RESOLVED")

    async def trace(self, name: str, info: dict[str, Any]) -> None:
        now = time.perf_counter()
        if name.endswith(".started"):
            self._marks[name[: -len(".started")]] = now
            if name.startswith("http11.send_request_headers") or name.startswith("http2.send"):
                # No connect / TLS before the first byte went out: a pooled connection.
                self._sending_on_connection()
                self._marks["request"] = now
            return
        if not name.endswith(".complete"):
            return
        step = name[: -len(".complete")]
        began = self._marks.get(step, now)
        if step == "connection.connect_tcp":
            self.connect += now - began
            self.reused = False
            self._connected = True
            self._emit("CONNECTED")
        elif step == "connection.start_tls":
            self.tls += now - began
            self._tls_done = True
            self._emit("TLS_DONE")

    def _sending_on_connection(self) -> None:
        if not self._connected:
            self._connected = True
            self._emit("CONNECTED")
        if self._https and not self._tls_done:
            self._tls_done = True
            self._emit("TLS_DONE")

    def sending(self, https: bool) -> None:
        self._marks["send"] = time.perf_counter()
        self._https = https

    def headers_received(self) -> None:
        now = time.perf_counter()
        start = self._marks.pop("request", None) or self._marks.get("send", now)
        self.ttfb += now - start
        self._marks["headers"] = now
        self._emit("FIRST_BYTE")

    def body_received(self) -> None:
        now = time.perf_counter()
        self.transfer += now - self._marks.get("headers", now)

    def timing(self) -> Timing:
        ms = 1000.0
        return Timing(
            dns_ms=self.dns * ms,
            connect_ms=self.connect * ms,
            tls_ms=self.tls * ms,
            ttfb_ms=self.ttfb * ms,
            transfer_ms=self.transfer * ms,
            total_ms=(time.perf_counter() - self.t0) * ms,
            reused_connection=self.reused,
        )


class ClientPool:
    """Pooled connections for ``Guard.exchange``: one transport for plain HTTP (a connection is
    keyed by the vetted IP and port; the Host header travels with each request), and one
    transport per TLS server name, so a connection whose certificate was checked for one name is
    never reused for another name on the same IP. The per-name transports are bounded (least
    recently used retired first, closed once their requests can no longer be running).

    Transports, not clients: they share connections and nothing else. A client would keep the
    cookies every tenant's APIs set and send them with the next caller's requests to the same
    address, and its layers (auth, redirects, cookies, hooks - all ours to do, or not to do)
    cost a fifth of a try-it's exchange."""

    def __init__(
        self,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_tls_hosts: int = 32,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.timeout_s = timeout_s
        self.max_tls_hosts = max_tls_hosts
        self.verify = verify  # certificate checks: the system's CAs unless told otherwise
        self._plain: httpx.AsyncHTTPTransport | None = None
        self._tls: OrderedDict[str, httpx.AsyncHTTPTransport] = OrderedDict()
        self._retiring: dict[asyncio.Task[None], httpx.AsyncHTTPTransport] = {}

    def _new(self) -> httpx.AsyncHTTPTransport:
        return httpx.AsyncHTTPTransport(
            verify=self.verify,
            trust_env=False,  # the certificates' trust is the operator's setting, not the env's
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )

    def transport(self, scheme: str, host: str) -> httpx.AsyncHTTPTransport:
        if scheme != "https":
            if self._plain is None:
                self._plain = self._new()
            return self._plain
        name = host.lower()
        found = self._tls.get(name)
        if found is not None:
            self._tls.move_to_end(name)
            return found
        if len(self._tls) >= self.max_tls_hosts:
            _, old = self._tls.popitem(last=False)
            task = asyncio.get_running_loop().create_task(self._retire(old))
            self._retiring[task] = old
            task.add_done_callback(lambda t: self._retiring.pop(t, None))
        self._tls[name] = made = self._new()
        return made

    async def _retire(self, transport: httpx.AsyncHTTPTransport) -> None:
        await asyncio.sleep(self.timeout_s + 1)
        await transport.aclose()

    async def aclose(self) -> None:
        retiring = list(self._retiring.values())
        await stop_tasks(list(self._retiring))
        transports = [*retiring, *self._tls.values(), *([self._plain] if self._plain else [])]
        self._tls.clear()
        self._plain = None
        for t in transports:
            await t.aclose()


def _decode(raw: bytes, encoding: str, limit: int) -> bytes:
    """Undo gzip/deflate ourselves so the size cap also bounds a compression bomb."""
    encoding = encoding.strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        wbits = 47 if encoding != "deflate" else 15
        d = zlib.decompressobj(wbits)
        try:
            return d.decompress(raw, limit + 1)
        except zlib.error as e:
            raise OutboundError(
                "the response is not valid compressed data", code="OUTBOUND_CONNECT"
            ) from e
    return raw


async def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise OutboundError(f"{host} does not resolve", code="OUTBOUND_DNS") from e
    seen: list[IPAddress] = []
    for info in infos:
        addr = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if addr not in seen:
            seen.append(addr)
    if not seen:
        raise OutboundError(f"{host} does not resolve", code="OUTBOUND_DNS")
    return seen
