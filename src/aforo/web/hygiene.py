"""Every response: security headers, ``Cache-Control: no-store`` unless a route says it may be
cached (tokens and secrets are never cacheable), and compression (brotli or gzip, as the
client accepts) above a size threshold.

Streams (``text/event-stream``, ``multipart/mixed``) are compressed chunk by chunk with a
flush after each, so events are never held back; already-encoded bodies are left alone.
"""

from __future__ import annotations

import zlib
from typing import Protocol

import brotli
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aforo.web.negotiation import qvalues

MIN_SIZE = 1024
# An API and JSON pages: never framed, never sniffed, no referrer leaves.
SECURITY_HEADERS = (
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
)
DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'"
STREAMING = ("text/event-stream", "multipart/mixed")


class _Compressor(Protocol):
    def compress(self, data: bytes) -> bytes: ...
    def flush(self) -> bytes: ...
    def finish(self) -> bytes: ...


class _Gzip:
    def __init__(self) -> None:
        self._z = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)

    def compress(self, data: bytes) -> bytes:
        return self._z.compress(data)

    def flush(self) -> bytes:
        return self._z.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        return self._z.flush(zlib.Z_FINISH)


class _Brotli:
    def __init__(self) -> None:
        self._b = brotli.Compressor(quality=5)

    def compress(self, data: bytes) -> bytes:
        out: bytes = self._b.process(data)
        return out

    def flush(self) -> bytes:
        out: bytes = self._b.flush()
        return out

    def finish(self) -> bytes:
        out: bytes = self._b.finish()
        return out


def pick_encoding(accept_encoding: str) -> str | None:
    """``br`` over ``gzip`` when both are acceptable (q > 0)."""
    accepted = qvalues(accept_encoding)
    for enc in ("br", "gzip"):
        if accepted.get(enc, accepted.get("*", 0.0)) > 0:
            return enc
    return None


def _compressor(encoding: str) -> _Compressor:
    return _Brotli() if encoding == "br" else _Gzip()


class HygieneMiddleware:
    def __init__(self, app: ASGIApp, minimum_size: int = MIN_SIZE) -> None:
        self.app = app
        self.minimum_size = minimum_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        encoding = pick_encoding(Headers(scope=scope).get("accept-encoding", ""))
        start: Message | None = None
        compressor: _Compressor | None = None
        streaming = False

        async def wrapped(message: Message) -> None:
            nonlocal start, compressor, streaming
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    headers.setdefault(name, value)
                headers.setdefault("content-security-policy", DEFAULT_CSP)
                headers.setdefault("cache-control", "no-store")
                ctype = headers.get("content-type", "")
                streaming = ctype.startswith(STREAMING)
                if (
                    encoding is None
                    or "content-encoding" in headers
                    or message["status"] in (204, 304)
                    or ctype.startswith(("image/", "font/woff"))
                ):
                    await send(message)
                    return
                headers.add_vary_header("Accept-Encoding")
                if streaming:
                    # A stream's headers go at once (a client waits on them before its first
                    # event); each part is compressed and flushed as it comes.
                    compressor = _compressor(encoding)
                    headers["content-encoding"] = encoding
                    if "content-length" in headers:
                        del headers["content-length"]
                    await send(message)
                    return
                start = message  # held until the first body part says how big it is
                return
            if message["type"] != "http.response.body" or (start is None and compressor is None):
                await send(message)
                return
            body: bytes = message.get("body", b"")
            more = bool(message.get("more_body"))
            if compressor is None:
                assert start is not None
                if not more and len(body) < self.minimum_size:
                    await send(start)
                    start = None
                    await send(message)
                    return
                assert encoding is not None
                compressor = _compressor(encoding)
                headers = MutableHeaders(scope=start)
                headers["content-encoding"] = encoding
                if "content-length" in headers:
                    del headers["content-length"]
                if not more:
                    data = compressor.compress(body) + compressor.finish()
                    headers["content-length"] = str(len(data))
                    await send(start)
                    await send({"type": "http.response.body", "body": data})
                    return
                await send(start)
            data = compressor.compress(body)
            data += compressor.flush() if more else compressor.finish()
            await send({"type": "http.response.body", "body": data, "more_body": more})

        await self.app(scope, receive, wrapped)
