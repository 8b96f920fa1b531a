"""Schemas as a graph of named components: expanded on read, to a depth, under a node budget.

A schema keeps its ``$ref``s when stored. Reading it expands references breadth-first: the
first level of references is replaced by the components they name (each marked with
``x-component: <name>``), then the references inside those, and so on until ``depth`` levels
are expanded or the budget of nodes is spent. What is left stays a reference
(``{"$ref": …, "x-component": <name>}``); a reference to a component already being expanded
on that branch is a cycle and stays a reference marked ``x-circular``. So any read is bounded,
however the components reference each other (Stripe's ``anyOf`` expansions reach most of its
thousand schemas from almost any operation).

Breadth-first also means one round of component loads per level, for every schema of a request
together (``expand`` takes an async ``fetch`` of many refs at once).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aforo.services.spec_import import refs
from aforo.services.spec_import.lines import unescape

MARK = "x-component"
DEFAULT_DEPTH = 2
MAX_DEPTH = 8
REQUEST_BUDGET = 200_000  # nodes one request may expand in total (≈ a few MB of JSON)


def name_of(ref: str) -> str:
    """``#/components/schemas/Pet`` → ``Pet``; any other pointer → its last token."""
    fragment = refs.split(ref)[1]
    return unescape(fragment.rsplit("/", 1)[-1]) if fragment else ref


@dataclass
class Budget:
    left: int = REQUEST_BUDGET

    def take(self, n: int) -> bool:
        if self.left < n:
            self.left = 0
            return False
        self.left -= n
        return True


@dataclass
class _Slot:
    """A reference waiting for its component: where to put it and what is above it."""

    holder: dict[str, Any] | list[Any]
    key: Any
    ref: str
    siblings: dict[str, Any]
    above: frozenset[str]


NodeHook = Callable[[dict[str, Any]], None]


@dataclass
class Expander:
    depth: int
    budget: Budget = field(default_factory=Budget)
    on_node: NodeHook | None = None  # called on every schema object of the result
    level: int = 0
    pending: list[_Slot] = field(default_factory=list)

    def start(self, roots: list[Any]) -> list[Any]:
        holder: list[Any] = list(roots)
        for i, root in enumerate(roots):
            holder[i] = self._copy(root, frozenset(), holder, i)
        return holder

    def wanted(self) -> list[str]:
        return sorted({s.ref for s in self.pending})

    def fill(self, bodies: dict[str, Any]) -> None:
        slots, self.pending = self.pending, []
        self.level += 1
        for s in slots:
            body = bodies.get(s.ref)
            if body is None or self.level > self.depth or s.ref in s.above:
                s.holder[s.key] = _unexpanded(s.ref, s.siblings, circular=s.ref in s.above)
                continue
            size = _size(body)
            if not self.budget.take(size):
                s.holder[s.key] = _unexpanded(s.ref, s.siblings)
                continue
            above = s.above | {s.ref}
            box: list[Any] = [None]
            box[0] = self._copy(body, above, box, 0)
            value = box[0]
            for p in self.pending:
                if p.holder is box:  # the component is itself only a reference
                    p.holder, p.key = s.holder, s.key
            if isinstance(value, dict) and "$ref" not in value:
                value = {MARK: name_of(s.ref), **value, **s.siblings}
                if self.on_node is not None and s.siblings:
                    self.on_node(value)
                # slots filled later point into ``value``'s children, not the old dict
                _retarget(self.pending, box[0], value)
            s.holder[s.key] = value

    def _copy(self, node: Any, above: frozenset[str], holder: Any, key: Any) -> Any:
        """A copy of a schema in which every reference is a pending slot."""
        if isinstance(node, list):
            out_list: list[Any] = list(node)
            for i, v in enumerate(node):
                out_list[i] = self._copy(v, above, out_list, i)
            return out_list
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            self.pending.append(_Slot(holder, key, ref, siblings, above))
            return _unexpanded(ref, siblings)
        out: dict[str, Any] = dict(node)
        if self.on_node is not None:
            self.on_node(out)
        for k, v in node.items():
            if k in refs.SCHEMA_ONE or k in refs.SCHEMA_LIST:
                out[k] = self._copy(v, above, out, k)
            elif k in refs.SCHEMA_MAP and isinstance(v, dict):
                sub: dict[str, Any] = dict(v)
                for name, s in v.items():
                    sub[name] = self._copy(s, above, sub, name)
                out[k] = sub
        return out


def _retarget(slots: list[_Slot], old: Any, new: dict[str, Any]) -> None:
    for s in slots:
        if s.holder is old:
            s.holder = new


def _unexpanded(ref: str, siblings: dict[str, Any], *, circular: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"$ref": ref, MARK: name_of(ref), **siblings}
    if circular:
        out["x-circular"] = True
    return out


def _size(node: Any) -> int:
    stack, n = [node], 0
    while stack:
        x = stack.pop()
        n += 1
        if isinstance(x, dict):
            stack.extend(x.values())
        elif isinstance(x, list):
            stack.extend(x)
    return n


Fetch = Callable[[list[str]], Awaitable[dict[str, Any]]]


async def expand(
    roots: list[Any],
    fetch: Fetch,
    *,
    depth: int = DEFAULT_DEPTH,
    budget: Budget | None = None,
    on_node: NodeHook | None = None,
) -> list[Any]:
    """``roots`` (schemas) with their references expanded ``depth`` levels deep; one
    ``fetch`` of many component refs per level."""
    e = Expander(depth=min(depth, MAX_DEPTH), budget=budget or Budget(), on_node=on_node)
    out = e.start(roots)
    while e.pending:
        bodies = await fetch(e.wanted()) if e.level < e.depth else {}
        e.fill(bodies)
    return out


def refs_anywhere(values: Iterable[Any]) -> set[str]:
    """Every ``$ref`` string anywhere in ``values`` (GraphQL argument schemas included)."""
    out: set[str] = set()
    stack = list(values)
    while stack:
        x = stack.pop()
        if isinstance(x, dict):
            ref = x.get("$ref")
            if isinstance(ref, str):
                out.add(ref)
            stack.extend(x.values())
        elif isinstance(x, list):
            stack.extend(x)
    return out


async def closure(roots: list[Any], fetch: Fetch, *, depth: int, limit: int) -> dict[str, Any]:
    """The components ``roots`` reach within ``depth`` levels, at most ``limit`` of them,
    one ``fetch`` per level."""
    found: dict[str, Any] = {}
    tried: set[str] = set()
    wanted = refs_anywhere(roots)
    for _ in range(depth):
        todo = sorted(wanted - tried)[: max(0, limit - len(tried))]
        if not todo:
            break
        tried.update(todo)
        bodies = await fetch(todo)
        found.update(bodies)
        wanted = refs_anywhere(bodies.values())
    return found


# -- allOf, merged (for comparing schemas) ----------------------------------------------------
def resolve(schema: Any, components: dict[str, Any]) -> tuple[Any, str | None]:
    """A schema with a top-level reference followed (chains too); and the last ref."""
    ref: str | None = None
    seen: set[str] = set()
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        ref = schema["$ref"]
        if ref in seen or ref not in components:
            return schema, ref
        seen.add(ref)
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        body = components[ref]
        schema = {**body, **siblings} if isinstance(body, dict) and siblings else body
    return schema, ref


def merged(schema: Any, components: dict[str, Any], _depth: int = 0) -> Any:
    """One level of a schema with its ``allOf`` parts merged into it (as oasdiff's
    ``--flatten-allof``): properties in order of appearance, ``required`` united, the
    narrowest bounds. Sub-schemas (properties, items) stay as they are: merged lazily when
    the comparison reaches them."""
    schema, _ = resolve(schema, components)
    if not isinstance(schema, dict) or "allOf" not in schema or _depth > 16:
        return schema
    parts = schema.get("allOf")
    out: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    for part in parts if isinstance(parts, list) else []:
        part = merged(part, components, _depth + 1)
        if not isinstance(part, dict):
            continue
        for key, value in part.items():
            if key == "properties" and isinstance(value, dict):
                props = dict(out.get("properties") or {})
                for name, sub in value.items():
                    props[name] = {"allOf": [props[name], sub]} if name in props else sub
                out["properties"] = props
            elif key == "required" and isinstance(value, list):
                out["required"] = list(dict.fromkeys([*(out.get("required") or []), *value]))
            elif key in ("minimum", "minLength", "minItems", "minProperties") and key in out:
                out[key] = max(out[key], value)
            elif key in ("maximum", "maxLength", "maxItems", "maxProperties") and key in out:
                out[key] = min(out[key], value)
            elif key == "enum" and "enum" in out and isinstance(value, list):
                out["enum"] = [v for v in out["enum"] if v in value]
            elif key not in out:
                out[key] = value
    return out
