"""Where mail goes: an SMTP server (``AFORO_SMTP_URL``), or ``.eml`` files when none is set.

``smtp://user:password@host:587`` speaks STARTTLS and refuses to go on without it (so a
password never crosses in clear); ``smtps://…:465`` is TLS from the first byte. Query options:
``starttls=0`` for a plain local relay (no credentials allowed then), ``cafile=/path`` for a
private CA, ``timeout=10`` seconds. smtplib is blocking, so each send runs in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import smtplib
import ssl
import time
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit


class TransportError(Exception):
    """A send failed; ``permanent`` when retrying cannot help (the server said 5xx)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Transport(Protocol):
    async def send(self, message: EmailMessage) -> None: ...

    async def close(self) -> None: ...


class FileTransport:
    """Each message as ``<time>-<id>.eml`` in one directory (mode 0700; files 0600, since a
    message may carry a sign-in link). Written whole, then renamed into place."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._write, message)

    def _write(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        ident = str(message["Message-ID"] or "").strip("<>").split("@")[0] or str(time.time_ns())
        name = f"{time.time_ns()}-{ident}.eml"
        tmp = self.directory / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(message.as_bytes(policy=policy.SMTP))
        tmp.rename(self.directory / name)

    async def close(self) -> None:
        return None


class SmtpTransport:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("AFORO_SMTP_URL must be smtp://host[:port] or smtps://host[:port]")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.host = parts.hostname
        self.implicit_tls = parts.scheme == "smtps"
        self.port = parts.port or (465 if self.implicit_tls else 587)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.starttls = not self.implicit_tls and query.get("starttls", "1") not in ("0", "false")
        if self.user and not (self.implicit_tls or self.starttls):
            raise ValueError("AFORO_SMTP_URL: credentials need TLS (smtps:// or STARTTLS)")
        self.timeout = float(query.get("timeout", "10"))
        self.context = ssl.create_default_context(cafile=query.get("cafile"))
        self._conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        conn: smtplib.SMTP
        if self.implicit_tls:
            conn = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self.context
            )
        else:
            conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            conn.ehlo()
            if self.starttls:
                if not conn.has_extn("starttls"):
                    raise TransportError("the SMTP server does not offer STARTTLS")
                conn.starttls(context=self.context)
                conn.ehlo()
            if self.user:
                conn.login(self.user, self.password or "")
        except BaseException:
            with contextlib.suppress(Exception):
                conn.close()
            raise
        return conn

    def _send(self, message: EmailMessage) -> None:
        try:
            if self._conn is not None:
                try:
                    self._conn.noop()
                except smtplib.SMTPException:
                    self._drop()
            if self._conn is None:
                try:
                    self._conn = self._connect()
                except smtplib.SMTPResponseException as e:
                    # Refused at the greeting, STARTTLS or AUTH: the server or our settings,
                    # not this message. Retried (and fixable without losing the mail).
                    raise TransportError(f"SMTP {e.smtp_code}: {_short(e.smtp_error)}") from e
            self._conn.send_message(message)
        except TransportError:
            self._drop()
            raise
        except smtplib.SMTPRecipientsRefused as e:
            self._drop()
            codes = [c for c, _ in e.recipients.values()]
            raise TransportError(
                f"recipient refused ({codes[0] if codes else '?'})",
                permanent=all(500 <= c < 600 for c in codes),
            ) from e
        except smtplib.SMTPResponseException as e:
            self._drop()
            raise TransportError(
                f"SMTP {e.smtp_code}: {_short(e.smtp_error)}", permanent=500 <= e.smtp_code < 600
            ) from e
        except (OSError, smtplib.SMTPException) as e:  # refused, reset, timed out, TLS
            self._drop()
            raise TransportError(f"{type(e).__name__}: {e}") from e

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._send, message)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(conn.quit)


def _short(raw: bytes | str) -> str:
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    return " ".join(text.split())[:200]


def transport_for(smtp_url: str | None, mail_dir: Path) -> Transport:
    return SmtpTransport(smtp_url) if smtp_url else FileTransport(mail_dir)
