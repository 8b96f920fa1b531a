"""CommonMark rendering shared by docs and the forum.

markdown-it-py's ``js-default`` preset: CommonMark with raw HTML disabled and markdown-it's link
validation, which refuses ``javascript:``, ``vbscript:``, ``file:`` and non-image ``data:``
URLs. We go further and allow only http(s), mailto and relative links. Tables are on; headings
get stable anchors so a table of contents can link to them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

_SAFE_SCHEME = re.compile(r"^(?:https?:|mailto:|#|/|\./|\.\./|[^:/?#]*(?:[/?#]|$))", re.I)


def _validate_link(url: str) -> bool:
    return bool(_SAFE_SCHEME.match(url.strip()))


def slug(text: str) -> str:
    norm = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", norm.lower()).strip("-") or "section"


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    anchor: str


@dataclass(frozen=True)
class Rendered:
    html: str
    headings: list[Heading]


def _parser() -> MarkdownIt:
    md = MarkdownIt("js-default", {"linkify": False, "typographer": False})
    md.enable("table")
    md.validateLink = _validate_link  # type: ignore[method-assign]  # documented hook
    return md


_md = _parser()


def render(source: str) -> Rendered:
    tokens = _md.parse(source)
    headings: list[Heading] = []
    seen: dict[str, int] = {}
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open":
            inline: Token = tokens[i + 1]
            text = inline.content
            base = slug(text)
            n = seen.get(base, 0)
            seen[base] = n + 1
            anchor = base if n == 0 else f"{base}-{n}"
            tok.attrSet("id", anchor)
            headings.append(Heading(int(tok.tag[1]), text, anchor))
    env: dict[str, Any] = {}
    return Rendered(_md.renderer.render(tokens, _md.options, env), headings)


def inline_html(source: str) -> str:
    """One line of markdown (a heading's text) as safe HTML: raw HTML is escaped."""
    return str(_md.renderInline(source))


def inline_text(source: str) -> str:
    """One line of markdown as the plain text a reader sees (markup removed, not escaped)."""
    out: list[str] = []
    for block in _md.parseInline(source):
        for tok in block.children or ():
            if tok.type in ("text", "code_inline", "html_inline") or tok.type == "image":
                out.append(tok.content)
            elif tok.type in ("softbreak", "hardbreak"):
                out.append(" ")
    return "".join(out)
