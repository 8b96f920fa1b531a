"""Secrets the service must read back (TOTP seeds) are sealed with AES-256-GCM under a data
key kept outside the database, like the JWT signing keys: files in one directory (mode 0600),
the newest seals, all of them open, so a key is rotated by adding a file.

A sealed value is ``kid (8 bytes) | nonce (12) | ciphertext+tag``; the associated data binds
it to its row (tenant, user, purpose), so a sealed seed copied to another row does not open.
A database dump alone therefore holds no usable secret.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_KID, _NONCE = 8, 12


class SealError(Exception):
    """A sealed value that no key here opens (wrong key directory, or tampered)."""


class DataKeys:
    def __init__(self, keys: list[tuple[float, bytes]]) -> None:
        if not keys:
            raise ValueError("at least one data key is needed")
        ordered = sorted(keys)
        self._by_kid = {self.kid(k): AESGCM(k) for _, k in ordered}
        self._current = self.kid(ordered[-1][1])

    @staticmethod
    def kid(key: bytes) -> bytes:
        return hashlib.sha256(b"aforo-data-key" + key).digest()[:_KID]

    @classmethod
    def load(cls, directory: Path) -> DataKeys:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        files = sorted(directory.glob("*.key"))
        if not files:
            path = directory / f"{int(time.time() * 1000)}.key"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(os.urandom(32).hex().encode())
            files = [path]
        keys = []
        for file in files:
            raw = bytes.fromhex(file.read_text().strip())
            if len(raw) != 32:
                raise ValueError(f"{file.name}: a data key is 32 bytes, hex-encoded")
            keys.append((file.stat().st_mtime, raw))
        return cls(keys)

    def seal(self, plaintext: bytes, context: str) -> bytes:
        nonce = os.urandom(_NONCE)
        aead = self._by_kid[self._current]
        return self._current + nonce + aead.encrypt(nonce, plaintext, context.encode())

    def open(self, sealed: bytes, context: str) -> bytes:
        kid, nonce, body = sealed[:_KID], sealed[_KID : _KID + _NONCE], sealed[_KID + _NONCE :]
        aead = self._by_kid.get(kid)
        if aead is None:
            raise SealError("sealed with a data key that is not in the key directory")
        try:
            return aead.decrypt(nonce, body, context.encode())
        except InvalidTag as e:
            raise SealError("sealed value does not open with its context") from e
