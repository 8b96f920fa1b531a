"""Where a JSON pointer is in the source text: built once per document, on the first problem.

Line numbers are only needed for error messages, so they are not tracked while parsing (the
fast C parsers do not give them). When a document turns out to be wrong, one pass over its text
builds a tree of line numbers (YAML: the composer's node tree; JSON: a tokenizer), and every
problem's pointer is looked up in that tree. The old way re-parsed the whole document for each
problem: 1,843 problems of a 112 KB document took minutes.
"""

from __future__ import annotations

import bisect
import re
from typing import Any

import yaml

try:  # pragma: no branch - which loader is a property of the PyYAML build
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader

# A line tree node: (line, children) where children is a dict (object), a list (array) or None.
Node = tuple[int, Any]

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]|[^\s{}\[\],:"]+', re.S)


def unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


class LineTree:
    """Pointer → line of one document; ``line_of`` answers the deepest existing ancestor."""

    def __init__(self, root: Node | None) -> None:
        self.root = root

    @classmethod
    def of_yaml(cls, text: str) -> LineTree:
        try:
            node = yaml.compose(text, Loader=_Loader)
        except (yaml.YAMLError, ValueError, RecursionError):
            return cls(None)
        return cls(_from_yaml(node) if node is not None else None)

    @classmethod
    def of_json(cls, text: str) -> LineTree:
        try:
            return cls(_from_json(text))
        except (IndexError, ValueError, RecursionError):
            return cls(None)

    def line_of(self, ptr: str) -> int | None:
        if self.root is None:
            return None
        line, children = self.root
        for raw in ptr.split("/")[1:] if ptr else []:
            token = unescape(raw)
            nxt: Node | None = None
            if isinstance(children, dict):
                nxt = children.get(token)
            elif isinstance(children, list) and token.isdigit() and int(token) < len(children):
                nxt = children[int(token)]
            if nxt is None:
                break
            line, children = nxt
        return line


def _from_yaml(node: yaml.Node) -> Node:
    # Iterative over the composed tree; aliases share nodes, so each is converted once.
    done: dict[int, Node] = {}

    def convert(n: yaml.Node) -> Node:
        key = id(n)
        if key in done:
            return done[key]
        line = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            kids: dict[str, Node] = {}
            out: Node = (line, kids)
            done[key] = out
            for k, v in n.value:
                if isinstance(k, yaml.ScalarNode) and str(k.value) not in kids:
                    child = convert(v)
                    # A mapping value points at its key's line (where a reader looks).
                    kids[str(k.value)] = (k.start_mark.line + 1, child[1])
            return out
        if isinstance(n, yaml.SequenceNode):
            items: list[Node] = []
            out = (line, items)
            done[key] = out
            items.extend(convert(v) for v in n.value)
            return out
        out = (line, None)
        done[key] = out
        return out

    return convert(node)


def _from_json(text: str) -> Node:
    newlines = [m.start() for m in re.finditer("\n", text)]

    def line_at(pos: int) -> int:
        return bisect.bisect_right(newlines, pos) + 1

    tokens = _TOKEN.finditer(text)
    # Explicit stack: JSON nesting may be deeper than Python's recursion limit.
    root: Node | None = None
    stack: list[tuple[Any, str | None]] = []  # (container, pending key of an object)
    expect_key = False
    for m in tokens:
        tok = m.group()
        if tok in ",:":
            continue
        if tok in "}]":
            stack.pop()
            expect_key = bool(stack) and isinstance(stack[-1][0], dict)
            continue
        if stack and isinstance(stack[-1][0], dict) and expect_key:
            if tok[0] == '"':
                stack[-1] = (stack[-1][0], _string(tok))
                expect_key = False
            continue
        line = line_at(m.start())
        children: Any = {} if tok == "{" else [] if tok == "[" else None
        node: Node = (line, children)
        if not stack:
            root = node
        else:
            container, key = stack[-1]
            if isinstance(container, dict):
                if key is not None and key not in container:
                    container[key] = node
                expect_key = True
            else:
                container.append(node)
        if children is not None:
            stack.append((children, None))
            expect_key = isinstance(children, dict)
    if root is None:
        raise ValueError("no JSON value")
    return root


def _string(token: str) -> str:
    import json

    try:
        value: str = json.loads(token)
    except ValueError:
        return token[1:-1]
    return value
