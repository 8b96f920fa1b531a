"""Asymmetric JWT signing keys (ES256) with key ids, published as a JWKS.

Keys live as PEM files in one directory; the newest signs, all of them verify, so a key can be
rotated by adding a new file and removing the old one after the longest token lifetime.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ALGORITHM = "ES256"
VERIFIED_MAX = 50_000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: ec.EllipticCurvePrivateKey
    created: float

    def public_jwk(self) -> dict[str, str]:
        numbers = self.private.public_key().public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64(numbers.x.to_bytes(32, "big")),
            "y": _b64(numbers.y.to_bytes(32, "big")),
            "kid": self.kid,
            "use": "sig",
            "alg": ALGORITHM,
        }


def _kid(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return _b64(hashlib.sha256(der).digest()[:12])


class KeyRing:
    def __init__(self, keys: list[SigningKey]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        self.keys = sorted(keys, key=lambda k: k.created)
        self.by_kid = {k.kid: k for k in self.keys}
        self._public = {k.kid: k.private.public_key() for k in self.keys}
        # Tokens verified already: SHA-256 of (token, audience, issuer) → claims, until the
        # token's expiry. A caller sends the same access token with every request; checking
        # its signature once is enough (the ring never changes under a running service).
        self._verified: dict[bytes, dict[str, Any]] = {}

    @property
    def current(self) -> SigningKey:
        return self.keys[-1]

    @classmethod
    def load(cls, directory: Path, *, create: bool = True) -> KeyRing:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        files = sorted(directory.glob("*.pem"))
        if not files and create:
            cls.generate(directory)
            files = sorted(directory.glob("*.pem"))
        keys = []
        for f in files:
            private = serialization.load_pem_private_key(f.read_bytes(), password=None)
            if not isinstance(private, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{f.name}: only EC P-256 keys are supported")
            keys.append(SigningKey(_kid(private), private, f.stat().st_mtime))
        return cls(keys)

    @staticmethod
    def generate(directory: Path) -> Path:
        private = ec.generate_private_key(ec.SECP256R1())
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path = directory / f"{int(time.time() * 1000)}-{_kid(private)}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        return path

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk() for k in self.keys]}

    def sign(self, claims: dict[str, Any], *, ttl_s: int) -> tuple[str, int]:
        now = int(time.time())
        exp = now + ttl_s
        body = {"iat": now, "exp": exp, "jti": str(uuid.uuid4()), **claims}
        token = jwt.encode(body, self.current.private, ALGORITHM, headers={"kid": self.current.kid})
        return token, exp

    def decode(self, token: str, *, audience: str, issuer: str) -> dict[str, Any]:
        """Verify signature, expiry, audience and issuer; raises ``jwt.InvalidTokenError``."""
        seen = hashlib.sha256(f"{token}\0{audience}\0{issuer}".encode()).digest()
        hit = self._verified.get(seen)
        if hit is not None and hit["exp"] > time.time():
            return dict(hit)
        header = jwt.get_unverified_header(token)
        key = self._public.get(str(header.get("kid")))
        if key is None:
            raise jwt.InvalidTokenError("unknown key id")
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            options={"require": ["exp", "iat", "sub", "aud", "iss", "jti"]},
        )
        if len(self._verified) >= VERIFIED_MAX:
            self._verified.clear()  # crude but bounded: a miss only costs a verification
        self._verified[seen] = dict(claims)
        return claims


def dumps_jwks(ring: KeyRing) -> bytes:
    return json.dumps(ring.jwks()).encode()
