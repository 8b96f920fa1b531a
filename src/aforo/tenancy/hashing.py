"""Random secrets and their at-rest form. Raw values are returned once and never stored."""

from __future__ import annotations

import hashlib
import secrets

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def base62(nbytes: int) -> str:
    n = int.from_bytes(secrets.token_bytes(nbytes), "big")
    out = []
    while n:
        n, r = divmod(n, 62)
        out.append(_B62[r])
    width = -(-nbytes * 8 * 1000 // 5954)  # ceil(bits / log2(62)), so length is stable
    return "".join(reversed(out)).rjust(width, "0")


def sha256(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def new_secret(prefix: str, nbytes: int = 32) -> str:
    return f"{prefix}{base62(nbytes)}"
