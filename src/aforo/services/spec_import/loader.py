"""Decode a spec document (JSON or YAML) and point at lines when it is wrong.

Parsing uses the fast C loader when available. Line numbers are only needed for error messages,
so they are computed afterwards, by composing the YAML node tree again and walking it along the
JSON pointer of each problem.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import yaml

from aforo.errors import DomainError

MAX_SPEC_BYTES = 8 * 1024 * 1024
MAX_ALIASES = 10_000
MAX_PROBLEMS = 50
MAX_EXPANDED_NODES = 1_000_000  # of all resolved schemas of one version, as stored

try:  # pragma: no branch - which loader is a property of the PyYAML build
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader

_ANCHOR = re.compile(r"(?:^|[\s\[{,:-])&[^\s\[\]{},]+")
_ALIAS = re.compile(r"(?:^|[\s\[{,:-])\*[^\s\[\]{},]+")


@dataclass(frozen=True)
class Problem:
    pointer: str
    message: str
    line: int | None = None

    def describe(self) -> str:
        where = self.pointer or "/"
        return f"{where}{f' (line {self.line})' if self.line else ''}: {self.message}"


class SpecInvalid(DomainError):
    """The document is not a valid spec; ``problems`` say where (JSON pointer and line)."""

    code = "SPEC_INVALID"
    status = 422

    def __init__(
        self, problems: list[Problem], *, code: str | None = None, field: str = "content"
    ) -> None:
        self.problems = problems[:MAX_PROBLEMS]
        first = self.problems[0].describe() if self.problems else "invalid spec"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(first + more, field=field, code=code)


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def pointer(*tokens: str | int) -> str:
    return "".join("/" + escape(str(t)) for t in tokens)


def decode_text(content: bytes | str) -> str:
    if isinstance(content, str):
        if len(content.encode()) > MAX_SPEC_BYTES:
            raise _too_large()
        return content.lstrip("\ufeff")
    if len(content) > MAX_SPEC_BYTES:
        raise _too_large()
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SpecInvalid([Problem("", "the document is not UTF-8 text")]) from e


def _too_large() -> SpecInvalid:
    return SpecInvalid(
        [Problem("", f"the document is larger than {MAX_SPEC_BYTES // (1024 * 1024)} MiB")],
        code="SPEC_TOO_LARGE",
    )


@dataclass
class Document:
    text: str
    data: Any
    is_yaml: bool

    def line_of(self, ptr: str) -> int | None:
        """The 1-based line a JSON pointer points at (its deepest existing ancestor)."""
        try:
            node = yaml.compose(self.text, Loader=_Loader)
        except yaml.YAMLError:
            return None
        if node is None:
            return None
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in ptr.split("/")[1:]]
        line = node.start_mark.line + 1
        for token in tokens:
            nxt = None
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and str(k.value) == token:
                        nxt = v
                        line = k.start_mark.line + 1
                        break
            elif isinstance(node, yaml.SequenceNode) and token.isdigit():
                idx = int(token)
                if idx < len(node.value):
                    nxt = node.value[idx]
                    line = nxt.start_mark.line + 1
            if nxt is None:
                break
            node = nxt
        return line

    def fail(self, problems: list[Problem], *, code: str | None = None) -> SpecInvalid:
        located = [
            Problem(p.pointer, p.message, p.line or self.line_of(p.pointer)) for p in problems
        ]
        return SpecInvalid(located, code=code)


def load(content: bytes | str) -> Document:
    """JSON when it looks like JSON (fast path), YAML otherwise."""
    text = decode_text(content)
    stripped = text.lstrip()
    if not stripped:
        raise SpecInvalid([Problem("", "the document is empty")])
    if stripped[0] in "{[":
        try:
            return Document(text, loads_json(text), is_yaml=False)
        except json.JSONDecodeError as e:
            if stripped[0] == "[":
                raise SpecInvalid([Problem("", f"invalid JSON: {e.msg}", e.lineno)]) from e
            # flow-style YAML can start with "{" too; fall through to the YAML parser
    # Aliases make shared subtrees that expand when serialised ("billion laughs").
    if _ANCHOR.search(text) and len(_ALIAS.findall(text)) > MAX_ALIASES:
        raise SpecInvalid([Problem("", f"more than {MAX_ALIASES} YAML aliases")])
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        raise SpecInvalid([Problem("", f"invalid YAML: {e.problem or e}", line)]) from e
    except yaml.YAMLError as e:
        raise SpecInvalid([Problem("", f"invalid YAML: {e}")]) from e
    except ValueError as e:  # an integer past Python's digit limit
        raise SpecInvalid([Problem("", f"invalid YAML: {e}")]) from e
    return Document(text, data, is_yaml=True)


class Expansion:
    """Counts the nodes resolved schemas have once stored: a subtree shared by reference is
    stored again wherever it is used, so a few kilobytes of references fanning out (each
    schema using the next one twice) would otherwise expand to billions of nodes."""

    def __init__(self, limit: int = MAX_EXPANDED_NODES) -> None:
        self.limit = limit
        self.left = limit

    def take(self, n: int = 1) -> None:
        self.left -= n
        if self.left < 0:
            raise SpecInvalid(
                [Problem("", f"the schemas expand to more than {self.limit} nodes")],
                code="SPEC_TOO_LARGE",
            )


def too_deep() -> SpecInvalid:
    return SpecInvalid([Problem("", "the document is nested too deeply")], code="SPEC_TOO_DEEP")


def loads_json(text: str) -> Any:
    """``json.loads``, with the two ways hostile JSON breaks it turned into refusals: nesting
    deeper than the interpreter's stack, and integers past Python's digit limit."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError as e:
        raise too_deep() from e
    except ValueError as e:
        raise SpecInvalid([Problem("", f"invalid JSON: {e}")]) from e
