"""Reading the mail the app sent: ``.eml`` files (the embedded default) or messages a test
SMTP server received, parsed as MIME, with the link each carries."""

from __future__ import annotations

import asyncio
import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

_LINK = re.compile(r"https?://[^\s<>\"]+")


def parse(raw: bytes) -> EmailMessage:
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None, "no text/plain part"
    return str(part.get_content())  # type: ignore[attr-defined]


def html_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("html",))
    assert part is not None, "no text/html part"
    return str(part.get_content())  # type: ignore[attr-defined]


def link_of(msg: EmailMessage, path: str | None = None) -> str:
    """The link with a token in the text part (the HTML part must carry the same one)."""
    links = [u for u in _LINK.findall(text_of(msg)) if "token=" in u]
    if path is not None:
        links = [u for u in links if urlsplit(u).path.endswith(path)]
    assert len(links) == 1, (links, text_of(msg))
    assert links[0].replace("&", "&amp;") in html_of(msg) or links[0] in html_of(msg)
    return links[0]


def token_of(msg: EmailMessage, path: str | None = None) -> str:
    return parse_qs(urlsplit(link_of(msg, path)).query)["token"][0]


class Mailbox:
    """The ``.eml`` files in one directory, as the app's file transport writes them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.seen: set[str] = set()

    def all(self) -> list[EmailMessage]:
        if not self.directory.exists():
            return []
        return [parse(p.read_bytes()) for p in sorted(self.directory.glob("*.eml"))]

    async def wait(self, to: str, subject: str = "", *, within: float = 15.0) -> EmailMessage:
        """The next message (not returned before) to ``to`` whose subject contains
        ``subject``; waits for the dispatcher to deliver it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            for p in sorted(self.directory.glob("*.eml")) if self.directory.exists() else []:
                if p.name in self.seen:
                    continue
                msg = parse(p.read_bytes())
                if str(msg["To"]) == to and subject in str(msg["Subject"]):
                    self.seen.add(p.name)
                    return msg
            if loop.time() > deadline:
                got = [(str(m["To"]), str(m["Subject"])) for m in self.all()]
                raise AssertionError(f"no mail to {to} about {subject!r}; have {got}")
            await asyncio.sleep(0.05)
