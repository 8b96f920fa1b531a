"""What changed between two spec versions, and which changes break existing clients.

Breaking: a removed operation; a new required parameter (or a parameter that became required,
or a request body that became required); a removed response field; a narrowed type (a type
changed to another or to a narrower one such as number → integer, or enum values removed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# (old, new) pairs that still accept every old value: widening, not breaking.
_WIDENING = {("integer", "number")}


@dataclass
class Change:
    key: str
    kind: str  # ADDED | REMOVED | CHANGED
    breaking: bool
    details: list[str] = field(default_factory=list)


def _types(schema: dict[str, Any]) -> set[str]:
    t = schema.get("type")
    if isinstance(t, list):
        return {str(x) for x in t}
    return {str(t)} if t else set()


def _schema_changes(old: Any, new: Any, where: str, *, response: bool, out: list[str]) -> bool:
    """Compare two schemas; returns whether a breaking change was found."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return False
    if old.get("x-circular") or new.get("x-circular"):
        return False
    breaking = False
    old_t, new_t = _types(old), _types(new)
    if old_t and new_t and old_t != new_t:
        widened = all(any((o, n) in _WIDENING or o == n for n in new_t) for o in old_t)
        narrowed = not widened if not response else not old_t <= new_t and not widened
        out.append(f"{where}: type {'/'.join(sorted(old_t))} → {'/'.join(sorted(new_t))}")
        breaking = breaking or narrowed or response
    old_enum, new_enum = old.get("enum"), new.get("enum")
    if isinstance(old_enum, list) and isinstance(new_enum, list) and not response:
        removed = [v for v in old_enum if v not in new_enum]
        if removed:
            out.append(f"{where}: enum values removed {removed}")
            breaking = True
    if isinstance(new_enum, list) and old_enum is None and not response:
        out.append(f"{where}: now restricted to {new_enum}")
        breaking = True
    old_p = old.get("properties") or {}
    new_p = new.get("properties") or {}
    for name, sub in old_p.items():
        if name not in new_p:
            if response:
                out.append(f"{where}.{name}: response field removed")
                breaking = True
            continue
        if _schema_changes(sub, new_p[name], f"{where}.{name}", response=response, out=out):
            breaking = True
    if not response:
        old_req = set(old.get("required") or [])
        for name in set(new.get("required") or []) - old_req:
            out.append(f"{where}.{name}: now required")
            breaking = True
    if (
        "items" in old
        and "items" in new
        and _schema_changes(old["items"], new["items"], f"{where}[]", response=response, out=out)
    ):
        breaking = True
    return breaking


def _params(op: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(p["in"], p["name"]): p for p in op.get("parameters") or []}


def _first_schema(contents: list[dict[str, Any]]) -> dict[str, Any] | None:
    for c in contents:
        if "json" in c.get("mediaType", "") or len(contents) == 1:
            schema = c.get("schema")
            return schema if isinstance(schema, dict) else None
    return None


def compare_operation(old: dict[str, Any], new: dict[str, Any]) -> Change | None:
    details: list[str] = []
    breaking = False
    old_params, new_params = _params(old), _params(new)
    for key, p in new_params.items():
        label = f"{key[0]} parameter {key[1]}"
        if key not in old_params:
            details.append(f"{label} added{' (required)' if p['required'] else ''}")
            breaking = breaking or bool(p["required"])
            continue
        before = old_params[key]
        if p["required"] and not before["required"]:
            details.append(f"{label} is now required")
            breaking = True
        if _schema_changes(
            before.get("schema"), p.get("schema"), label, response=False, out=details
        ):
            breaking = True
    for key in old_params.keys() - new_params.keys():
        details.append(f"{key[0]} parameter {key[1]} removed")
    old_body, new_body = old.get("requestBody") or {}, new.get("requestBody") or {}
    if new_body.get("required") and not old_body.get("required"):
        details.append("request body is now required")
        breaking = True
    old_s = _first_schema(old_body.get("content") or [])
    new_s = _first_schema(new_body.get("content") or [])
    if _schema_changes(old_s, new_s, "request body", response=False, out=details):
        breaking = True
    old_resp = {r["status"]: r for r in old.get("responses") or []}
    new_resp = {r["status"]: r for r in new.get("responses") or []}
    for status, r in old_resp.items():
        if status not in new_resp:
            details.append(f"response {status} removed")
            continue
        old_s = _first_schema(r.get("content") or [])
        new_s = _first_schema(new_resp[status].get("content") or [])
        if _schema_changes(old_s, new_s, f"response {status}", response=True, out=details):
            breaking = True
    for status in new_resp.keys() - old_resp.keys():
        details.append(f"response {status} added")
    for attr in ("summary", "deprecated"):
        if old.get(attr) != new.get(attr):
            details.append(f"{attr} changed")
    if not details:
        return None
    return Change(new["key"], "CHANGED", breaking, details)


def diff(old_ops: list[dict[str, Any]], new_ops: list[dict[str, Any]]) -> list[Change]:
    old = {o["key"]: o for o in old_ops}
    new = {o["key"]: o for o in new_ops}
    changes: list[Change] = []
    for key in new.keys() - old.keys():
        changes.append(Change(key, "ADDED", False))
    for key in old.keys() - new.keys():
        changes.append(Change(key, "REMOVED", True, ["operation removed"]))
    for key in old.keys() & new.keys():
        c = compare_operation(old[key], new[key])
        if c is not None:
            changes.append(c)
    order = {"REMOVED": 0, "CHANGED": 1, "ADDED": 2}
    changes.sort(key=lambda c: (order[c.kind], c.key))
    return changes
