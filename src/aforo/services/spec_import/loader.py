"""Decode a spec document (JSON or YAML) and point at lines when it is wrong.

Parsing uses the fast C loaders. Line numbers are only needed for error messages, so they are
computed afterwards, once per document (``lines.LineTree``), for the problems reported.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import msgspec
import yaml

from aforo.errors import DomainError
from aforo.services.spec_import.lines import LineTree

try:  # pragma: no branch - which loader is a property of the PyYAML build
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader

MAX_SPEC_BYTES = 8 * 1024 * 1024
MAX_ALIASES = 10_000
MAX_PROBLEMS = 50  # reported (each with its line)
MAX_COUNTED = 100_000  # counted; a walk that finds more stops
MAX_EXPANDED_NODES = 2_000_000  # of a YAML document once its aliases are expanded

_ANCHOR = re.compile(r"(?:^|[\s\[{,:-])&[^\s\[\]{},]+")
_ALIAS = re.compile(r"(?:^|[\s\[{,:-])\*[^\s\[\]{},]+")


@dataclass(frozen=True)
class Problem:
    pointer: str
    message: str
    line: int | None = None
    file: str | None = None  # of a multi-file spec; None: the root document

    def describe(self) -> str:
        where = (f"{self.file}#" if self.file else "") + (self.pointer or "/")
        return f"{where}{f' (line {self.line})' if self.line else ''}: {self.message}"


class SpecInvalid(DomainError):
    """The document is not a valid spec; ``problems`` say where (file, JSON pointer and line).
    At most ``MAX_PROBLEMS`` are kept; ``total`` counts them all."""

    code = "SPEC_INVALID"
    status = 422

    def __init__(
        self,
        problems: list[Problem],
        *,
        code: str | None = None,
        field: str = "content",
        total: int | None = None,
    ) -> None:
        self.problems = problems[:MAX_PROBLEMS]
        self.total = max(total or 0, len(problems))
        first = self.problems[0].describe() if self.problems else "invalid spec"
        more = f" (and {self.total - 1} more)" if self.total > 1 else ""
        super().__init__(first + more, field=field, code=code)

    def __reduce__(self) -> Any:  # crosses the import worker's process boundary
        return (_rebuild, (self.problems, self.code, self.field, self.total))


def _rebuild(problems: list[Problem], code: str, field: str, total: int) -> SpecInvalid:
    return SpecInvalid(problems, code=code, field=field, total=total)


class Problems:
    """Problems found by a walk, bounded: the first ``MAX_PROBLEMS`` are kept, all are
    counted, and past ``MAX_COUNTED`` the walk is stopped. ``cause`` problems (the reason many
    others follow, such as an unresolved external reference) are reported first."""

    def __init__(self) -> None:
        self.causes: list[Problem] = []
        self.items: list[Problem] = []
        self.count = 0

    def add(self, problem: Problem, *, cause: bool = False) -> None:
        self.count += 1
        kept = self.causes if cause else self.items
        if len(kept) < MAX_PROBLEMS:
            kept.append(problem)
        if self.count > MAX_COUNTED:
            raise SpecInvalid(
                self.ordered(), total=self.count, code="SPEC_INVALID"
            )  # no line numbers: the walk is abandoned

    def extend(self, problems: list[Problem]) -> None:
        for p in problems:
            self.add(p)

    def ordered(self) -> list[Problem]:
        return (self.causes + self.items)[:MAX_PROBLEMS]

    def __bool__(self) -> bool:
        return self.count > 0

    def __len__(self) -> int:
        return self.count


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
    name: str | None = None  # its path in a multi-file spec
    _lines: LineTree | None = field(default=None, repr=False)

    def source_pointer(self, ptr: str) -> str:
        """Where ``ptr`` is in the text as received (a converted document says so)."""
        return ptr

    def line_of(self, ptr: str) -> int | None:
        """The 1-based line a JSON pointer points at (its deepest existing ancestor). The
        line tree is built on the first call, once per document."""
        if self._lines is None:
            self._lines = (
                LineTree.of_yaml(self.text) if self.is_yaml else LineTree.of_json(self.text)
            )
        return self._lines.line_of(ptr)


def locate(
    problems: Problems | list[Problem],
    documents: dict[str | None, Document],
    *,
    code: str | None = None,
) -> SpecInvalid:
    """The refusal for ``problems``, each reported one with its line (one line tree per
    document, built only for documents that have a reported problem)."""
    found = problems.ordered() if isinstance(problems, Problems) else problems
    total = len(problems)
    located = []
    for p in found[:MAX_PROBLEMS]:
        doc = documents.get(p.file)
        pointer = doc.source_pointer(p.pointer) if doc is not None else p.pointer
        line = p.line or (doc.line_of(pointer) if doc is not None else None)
        located.append(Problem(pointer, p.message, line, p.file))
    return SpecInvalid(located, code=code, total=total)


def load(content: bytes | str, name: str | None = None) -> Document:
    """JSON when it looks like JSON (fast path), YAML otherwise. The data is plain JSON:
    string keys, no dates, no NUL characters or lone surrogates, finite numbers."""
    text = decode_text(content)
    stripped = text.lstrip()
    if not stripped:
        raise SpecInvalid([Problem("", "the document is empty", file=name)])
    if stripped[0] in "{[":
        try:
            data = loads_json(text)
        except json.JSONDecodeError as e:
            if stripped[0] == "[":
                raise SpecInvalid([Problem("", f"invalid JSON: {e.msg}", e.lineno, name)]) from e
            # flow-style YAML can start with "{" too; fall through to the YAML parser
        else:
            # JSON text can only smuggle NUL or a lone surrogate in as an escape: without
            # one, what json.loads built is storable as it is (no copy of a 4 MB tree).
            if _NUL_OR_SURROGATE.search(text):
                data = clean(data)
            return Document(text, data, is_yaml=False, name=name)
    # Aliases make shared subtrees that expand when serialised ("billion laughs").
    if _ANCHOR.search(text) and len(_ALIAS.findall(text)) > MAX_ALIASES:
        raise SpecInvalid([Problem("", f"more than {MAX_ALIASES} YAML aliases", file=name)])
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        raise SpecInvalid([Problem("", f"invalid YAML: {e.problem or e}", line, name)]) from e
    except yaml.YAMLError as e:
        raise SpecInvalid([Problem("", f"invalid YAML: {e}", file=name)]) from e
    except ValueError as e:  # an integer past Python's digit limit
        raise SpecInvalid([Problem("", f"invalid YAML: {e}", file=name)]) from e
    return Document(text, clean(data), is_yaml=True, name=name)


# One pass finds both (a plain substring search for the NUL escape alone is slower).
_NUL_OR_SURROGATE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_LONE = re.compile("[\ud800-\udfff]")


def clean(value: Any, budget: list[int] | None = None) -> Any:
    """YAML gives dates and non-string keys; PostgreSQL cannot store NUL characters or lone
    surrogates; the rest of the system speaks JSON. Copies every node, so YAML aliases are
    expanded here, under a node budget ("billion laughs")."""
    budget = budget if budget is not None else [MAX_EXPANDED_NODES]
    budget[0] -= 1
    if budget[0] < 0:
        raise SpecInvalid(
            [Problem("", f"the document expands to more than {MAX_EXPANDED_NODES} nodes")],
            code="SPEC_TOO_LARGE",
        )
    if isinstance(value, str):
        return _LONE.sub("\ufffd", value.replace("\x00", ""))
    if isinstance(value, dict):
        return {clean(str(k), budget): clean(v, budget) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v, budget) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").replace("\x00", "")
    if isinstance(value, float) and not math.isfinite(value):
        # YAML .inf/.nan, JSON NaN or 1e999: valid to the parsers, not storable as JSON.
        raise SpecInvalid([Problem("", f"numbers must be finite, found {value}")])
    return value


def too_deep() -> SpecInvalid:
    return SpecInvalid([Problem("", "the document is nested too deeply")], code="SPEC_TOO_DEEP")


def _not_finite(name: str) -> Any:
    raise SpecInvalid([Problem("", f"numbers must be finite, found {name}")])


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999
        _not_finite(text)
    return value


_DECODER = msgspec.json.Decoder()


def loads_json(text: str) -> Any:
    """``json.loads``, with the ways hostile JSON breaks it turned into refusals: nesting
    deeper than the interpreter's stack, integers past Python's digit limit, and numbers
    (NaN, Infinity, 1e999) JSON storage cannot hold.

    msgspec parses first: it builds the same values (exact integers of any size, correctly
    rounded floats, the last of duplicate keys) in half ``json.loads``' time, the biggest
    share of importing a large spec. What it refuses (NaN, 1e999, lone surrogates, deep
    nesting, invalid JSON) goes through ``json.loads``, whose answers are the ones reported."""
    try:
        return _DECODER.decode(text)
    except (msgspec.DecodeError, RecursionError):
        pass
    try:
        return json.loads(text, parse_constant=_not_finite, parse_float=_float)
    except json.JSONDecodeError:
        raise
    except RecursionError as e:
        raise too_deep() from e
    except ValueError as e:
        raise SpecInvalid([Problem("", f"invalid JSON: {e}")]) from e
