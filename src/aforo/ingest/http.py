"""Reading request bodies with a hard size limit (413 beyond it), gzip included."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

from fastapi import Request

from aforo.errors import DomainError

MiB = 1024 * 1024
# Documented maxima (docs/usage-formats.md). The limit applies after decompression too.
MAX_BATCH_BODY = 32 * MiB
MAX_GATEWAY_BODY = 64 * MiB  # Firehose buffers up to 64 MiB per delivery


class PayloadTooLarge(DomainError):
    code = "PAYLOAD_TOO_LARGE"
    status = 413


class UnsupportedEncoding(DomainError):
    code = "UNSUPPORTED_ENCODING"
    status = 415


def _decoder(request: Request) -> zlib._Decompress | None:
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(wbits=47)  # gzip or zlib header, auto-detected
    if encoding == "deflate":
        return zlib.decompressobj()
    raise UnsupportedEncoding(f"content-encoding {encoding!r} is not supported")


async def stream(request: Request, limit: int | None = None) -> AsyncIterator[bytes]:
    """The decoded body chunk by chunk; raises ``PayloadTooLarge`` past ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if limit is not None and declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    decoder = _decoder(request)
    total = 0
    async for chunk in request.stream():
        data = chunk
        while data:
            if decoder is None:
                out, data = data, b""
            else:
                try:
                    # Bounded output per call: a gzip bomb cannot fill memory between checks.
                    out = decoder.decompress(data, 4 * MiB)
                except zlib.error as e:
                    raise DomainError(
                        f"the body is not valid gzip: {e}", code="INVALID_GZIP"
                    ) from e
                data = decoder.unconsumed_tail
            total += len(out)
            if limit is not None and total > limit:
                raise PayloadTooLarge(f"the body is larger than {limit} bytes")
            if out:
                yield out


async def read(request: Request, limit: int) -> bytes:
    return b"".join([c async for c in stream(request, limit)])
