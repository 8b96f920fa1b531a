"""Reading the ``.eml`` files the file transport wrote (``aforo mail list|show``)."""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path


@dataclass(frozen=True)
class StoredMail:
    id: str  # the file name without .eml: "<time>-<job id>"
    message: EmailMessage
    raw: bytes

    def summary(self) -> dict[str, str]:
        m = self.message
        return {
            "id": self.id,
            "date": str(m["Date"] or ""),
            "from": str(m["From"] or ""),
            "to": str(m["To"] or ""),
            "subject": str(m["Subject"] or ""),
        }

    def render(self, *, html: bool = False, raw: bool = False) -> str:
        if raw:
            return self.raw.decode(errors="replace")
        head = "\n".join(f"{k.title()}: {v}" for k, v in self.summary().items() if k != "id")
        part = self.message.get_body(preferencelist=("html",) if html else ("plain",))
        body = part.get_content() if part is not None else ""
        return f"{head}\n\n{body}"


def read_all(directory: Path) -> list[StoredMail]:
    if not directory.is_dir():
        return []
    out = []
    for path in sorted(directory.glob("*.eml")):
        raw = path.read_bytes()
        msg = message_from_bytes(raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        out.append(StoredMail(path.stem, msg, raw))
    return out
