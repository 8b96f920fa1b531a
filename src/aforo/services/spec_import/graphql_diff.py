"""What changed between two GraphQL schemas: graphql-core's own findings, grouped by operation.

``find_breaking_changes`` / ``find_dangerous_changes`` (and, on graphql-core 3.3,
``find_schema_changes`` for the safe ones) decide; here they are only grouped: a change to a
field of a root type belongs to that operation (``query user``), a removed or added root field
is a removed or added operation, anything else belongs to its type (``type User``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import graphql

from aforo.services.spec_import.diff import ERR, INFO, WARN, Change, Check, _change
from aforo.services.spec_import.graphql_sdl import schema_from

_DOTTED = re.compile(r"\b([_A-Za-z][_0-9A-Za-z]*)\.([_A-Za-z][_0-9A-Za-z]*)")
_WORD = re.compile(r"@?[_A-Za-z][_0-9A-Za-z]*")


def _level(change: Any) -> str:
    if isinstance(change, graphql.BreakingChange):
        return ERR
    if isinstance(change, graphql.DangerousChange):
        return WARN
    return INFO


def _roots(*schemas: graphql.GraphQLSchema) -> dict[str, str]:
    out = {}
    for s in schemas:
        for kind, t in (
            ("query", s.query_type),
            ("mutation", s.mutation_type),
            ("subscription", s.subscription_type),
        ):
            if t is not None:
                out[t.name] = kind
    return out


def changes(old: graphql.GraphQLSchema, new: graphql.GraphQLSchema) -> list[Any]:
    find_all = getattr(graphql, "find_schema_changes", None)
    if find_all is None:  # graphql-core 3.2: no safe changes reported
        return [*graphql.find_breaking_changes(old, new), *graphql.find_dangerous_changes(old, new)]
    return list(find_all(old, new))


def diff(old_text: str, new_text: str) -> list[Change]:
    old, new = schema_from(old_text), schema_from(new_text)
    roots = _roots(old, new)
    types = set(old.type_map) | set(new.type_map)
    grouped: dict[str, list[Check]] = defaultdict(list)
    kinds: dict[str, str] = {}
    for c in changes(old, new):
        name = c.type.name
        check = Check(f"graphql-{name.lower().replace('_', '-')}", _level(c), c.description)
        key = "schema"
        m = _DOTTED.search(c.description)
        if m and m.group(1) in roots:
            key = f"{roots[m.group(1)]} {m.group(2)}"
            if name == "FIELD_REMOVED":
                kinds[key] = "REMOVED"
            elif name == "FIELD_ADDED":
                kinds[key] = "ADDED"
        elif m and m.group(1) in types:
            key = f"type {m.group(1)}"
        else:
            word = next(
                (w for w in _WORD.findall(c.description) if w in types or w.startswith("@")), None
            )
            if word is not None:
                key = f"directive {word}" if word.startswith("@") else f"type {word}"
        grouped[key].append(check)
    out = [_change(key, kinds.get(key, "CHANGED"), checks) for key, checks in grouped.items()]
    order = {"REMOVED": 0, "CHANGED": 1, "ADDED": 2}
    out.sort(key=lambda c: (order[c.kind], c.key))
    return out
