"""Timed exchanges over HTTPS: a real TLS server (uvicorn) with a certificate from a test CA,
phases and TLS time measured on the connection, pooled connections never shared between
server names."""

from __future__ import annotations

import datetime
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aforo.runtime.outbound import ClientPool, Guard, OutboundError, Policy
from tests.services import AppServer


def _cert(
    subject: str, issuer: x509.Name | None, signer: ec.EllipticCurvePrivateKey | None
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
    )
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
    else:
        builder = builder.add_extension(
            # The name only: connecting to the pinned IP must still check the name.
            x509.SubjectAlternativeName([x509.DNSName("localhost")]),
            False,
        )
    return builder.sign(signer or key, hashes.SHA256()), key


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[AppServer, ssl.SSLContext]]:
    ca, ca_key = _cert("Test CA", None, None)
    leaf, leaf_key = _cert("localhost", ca.subject, ca_key)
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    async def hello(request: Request) -> JSONResponse:
        return JSONResponse({"host": request.headers["host"]})

    server = AppServer(Starlette(routes=[Route("/hello", hello)]))
    server.config.ssl_certfile, server.config.ssl_keyfile = str(cert_file), str(key_file)
    server.start()
    trust = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    try:
        yield server, trust
    finally:
        server.stop()


async def test_https_phases_and_tls_time_then_a_reused_connection(
    tls_server: tuple[AppServer, ssl.SSLContext],
) -> None:
    server, trust = tls_server
    pool = ClientPool(verify=trust)
    guard = Guard(policy=Policy(allow=["127.0.0.1"]))
    url = f"https://localhost:{server.port}/hello"  # SNI and certificate name: localhost
    phases: list[tuple[str, float]] = []
    try:
        first = await guard.exchange(
            pool, "GET", url, on_phase=lambda p, ms: phases.append((p, ms))
        )
        assert [p for p, _ in phases] == ["DNS_RESOLVED", "CONNECTED", "TLS_DONE", "FIRST_BYTE"]
        assert [ms for _, ms in phases] == sorted(ms for _, ms in phases)
        assert first.response.status == 200
        assert first.response.headers["content-type"] == "application/json"
        t = first.timing
        assert t.tls_ms > 0 and t.connect_ms > 0 and not t.reused_connection
        assert t.total_ms >= t.dns_ms + t.connect_ms + t.tls_ms + t.ttfb_ms

        phases.clear()
        again = await guard.exchange(
            pool, "GET", url, on_phase=lambda p, ms: phases.append((p, ms))
        )
        # Same phases reported (CONNECTED / TLS_DONE at once), no new handshake.
        assert [p for p, _ in phases] == ["DNS_RESOLVED", "CONNECTED", "TLS_DONE", "FIRST_BYTE"]
        assert again.timing.reused_connection and again.timing.tls_ms == 0

        # Certificates are checked (a pool without the test CA refuses the server).
        strict = ClientPool()
        try:
            with pytest.raises(OutboundError) as untrusted:
                await guard.exchange(strict, "GET", url)
            assert untrusted.value.code == "OUTBOUND_CONNECT"
        finally:
            await strict.aclose()
    finally:
        await pool.aclose()


async def test_pooled_clients_are_per_tls_name_and_bounded() -> None:
    pool = ClientPool(max_tls_hosts=2)
    try:
        plain = pool.transport("http", "a.example")
        assert pool.transport("http", "b.example") is plain  # plain HTTP: one pool (IP-keyed)
        a = pool.transport("https", "a.example")
        assert pool.transport("https", "A.example") is a
        b = pool.transport("https", "b.example")
        assert b is not a  # a TLS connection is never reused for another name
        pool.transport("https", "c.example")  # over the bound: the least recently used retires
        assert pool.transport("https", "a.example") is not a
        assert pool.transport("https", "c.example") is pool.transport("https", "c.example")
    finally:
        await pool.aclose()
