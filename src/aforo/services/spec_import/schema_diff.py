"""Comparing two schemas the way oasdiff does, on one side of the exchange.

Both schemas are resolved as the comparison reaches their references (each pair of components
compared once, its findings reused wherever the pair appears; a pair met again while being
compared is a cycle) and their ``allOf`` parts merged first (``schemas.merged``). A ``Finding``
is a difference relative to the compared node; ``checks_for`` turns findings into oasdiff's
checks for the request side (what clients send must still be accepted) or the response side
(what clients read must not surprise them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aforo.services.spec_import import schemas
from aforo.services.spec_import.model import obj

ERR, WARN, INFO = "ERR", "WARN", "INFO"
_BOUNDS = {
    # keyword: (word, True if a larger value is stricter)
    "maximum": ("max", False),
    "maxLength": ("max-length", False),
    "maxItems": ("max-items", False),
    "minimum": ("min", True),
    "minLength": ("min-length", True),
    "minItems": ("min-items", True),
}


@dataclass
class Check:
    id: str
    level: str
    text: str


@dataclass(frozen=True)
class Finding:
    """One difference inside a schema, relative to the compared node: ``path`` of property
    names (``[]`` for array items), what changed and its values."""

    path: tuple[str, ...]
    what: str
    old: Any = None
    new: Any = None
    flags: frozenset[str] = frozenset()


def _types(schema: dict[str, Any]) -> set[str]:
    t = schema.get("type")
    if isinstance(t, list):
        return {str(x) for x in t if x != "null"}
    return {str(t)} if isinstance(t, str) else set()


def _nullable(schema: dict[str, Any]) -> bool:
    t = schema.get("type")
    return bool(schema.get("nullable")) or (isinstance(t, list) and "null" in t)


class Comparer:
    """Compares two schemas of one direction; component pairs are compared once and their
    findings reused wherever the pair appears (Stripe-size graphs stay cheap), and a pair met
    again while being compared is a cycle (no further findings)."""

    def __init__(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.old = old
        self.new = new
        self.memo: dict[tuple[str | None, str | None], list[Finding]] = {}
        self.busy: set[tuple[str | None, str | None]] = set()

    def compare(self, a: Any, b: Any) -> list[Finding]:
        ra = a.get("$ref") if isinstance(a, dict) else None
        rb = b.get("$ref") if isinstance(b, dict) else None
        if ra is None and rb is None:
            return self._compare(a, b)
        key = (ra, rb)
        if key in self.memo:
            return self.memo[key]
        if key in self.busy:
            return []
        self.busy.add(key)
        try:
            found = self._compare(a, b)
        finally:
            self.busy.discard(key)
        self.memo[key] = found
        return found

    def _compare(self, a: Any, b: Any) -> list[Finding]:
        a = schemas.merged(a, self.old)
        b = schemas.merged(b, self.new)
        if not isinstance(a, dict) or not isinstance(b, dict):
            return []
        out: list[Finding] = []
        ta, tb = _types(a), _types(b)
        fa, fb = a.get("format"), b.get("format")
        if ta and tb and (ta != tb or (fa != fb and fa is not None)):
            out.append(Finding((), "type", (sorted(ta), fa), (sorted(tb), fb)))
        elif not ta and tb and not any(k in a for k in ("anyOf", "oneOf", "properties")):
            out.append(Finding((), "type", ([], fa), (sorted(tb), fb)))
        ea, eb = a.get("enum"), b.get("enum")
        if isinstance(ea, list) and isinstance(eb, list):
            for v in ea:
                if v not in eb:
                    out.append(Finding((), "enum-removed", v))
            for v in eb:
                if v not in ea:
                    out.append(Finding((), "enum-added", None, v))
        elif ea is None and isinstance(eb, list):
            out.append(Finding((), "became-enum", None, eb))
        for key in _BOUNDS:
            if a.get(key) != b.get(key):
                out.append(Finding((), key, a.get(key), b.get(key)))
        if a.get("pattern") != b.get("pattern"):
            out.append(Finding((), "pattern", a.get("pattern"), b.get("pattern")))
        if a.get("default") != b.get("default"):
            out.append(Finding((), "default", a.get("default"), b.get("default")))
        if _nullable(a) != _nullable(b):
            out.append(Finding((), "nullable", _nullable(a), _nullable(b)))
        for of in ("anyOf", "oneOf"):
            out.extend(self._alternatives(of, a.get(of), b.get(of)))
        da, db = a.get("discriminator"), b.get("discriminator")
        if isinstance(da, dict) or isinstance(db, dict):
            pa = (da or {}).get("propertyName") if isinstance(da, dict) else None
            pb = (db or {}).get("propertyName") if isinstance(db, dict) else None
            if pa != pb:
                out.append(Finding((), "discriminator", pa, pb))
        out.extend(self._properties(a, b))
        ia, ib = a.get("items"), b.get("items")
        if isinstance(ia, dict) and isinstance(ib, dict):
            out.extend(_under("[]", self.compare(ia, ib)))
        aa, ab = a.get("additionalProperties"), b.get("additionalProperties")
        if aa is not False and ab is False and ta == {"object"}:
            out.append(Finding((), "additional-properties-removed"))
        return out

    def _alternatives(self, of: str, xs: Any, ys: Any) -> list[Finding]:
        xs = xs if isinstance(xs, list) else []
        ys = ys if isinstance(ys, list) else []
        if not xs and not ys:
            return []

        def label(s: Any, i: int) -> str:
            if isinstance(s, dict) and isinstance(s.get("$ref"), str):
                return schemas.name_of(s["$ref"])
            if isinstance(s, dict) and isinstance(s.get("title"), str):
                return str(s["title"])
            return f"#{i}"

        old = {label(s, i): s for i, s in enumerate(xs)}
        new = {label(s, i): s for i, s in enumerate(ys)}
        out = [Finding((), f"{of}-removed", name) for name in old if name not in new]
        out += [Finding((), f"{of}-added", None, name) for name in new if name not in old]
        for name in old.keys() & new.keys():
            out.extend(_under(f"{of}[{name}]", self.compare(old[name], new[name])))
        return out

    def _properties(self, a: dict[str, Any], b: dict[str, Any]) -> list[Finding]:
        pa = obj(a.get("properties"))
        pb = obj(b.get("properties"))
        ra = set(a.get("required") or []) if isinstance(a.get("required"), list) else set()
        rb = set(b.get("required") or []) if isinstance(b.get("required"), list) else set()
        out: list[Finding] = []
        for name, sub in pa.items():
            if name not in pb:
                out.append(Finding((name,), "removed", flags=_flags(sub, self.old, name in ra)))
        for name, sub in pb.items():
            if name not in pa:
                out.append(Finding((name,), "added", flags=_flags(sub, self.new, name in rb)))
                continue
            flags = _flags(sub, self.new, name in rb) | _flags(pa[name], self.old, False)
            if name in rb and name not in ra:
                out.append(Finding((name,), "became-required", flags=flags))
            elif name in ra and name not in rb:
                out.append(Finding((name,), "became-optional", flags=flags))
            out.extend(_under(name, self.compare(pa[name], sub), flags))
        return out


def _flags(schema: Any, components: dict[str, Any], required: bool) -> frozenset[str]:
    s, _ = schemas.resolve(schema, components)
    flags = set()
    if required:
        flags.add("required")
    if isinstance(s, dict):
        for k in ("readOnly", "writeOnly"):
            if s.get(k):
                flags.add(k)
        if "default" in s:
            flags.add("default")
    return frozenset(flags)


def _under(
    step: str, findings: list[Finding], flags: frozenset[str] = frozenset()
) -> list[Finding]:
    return [
        Finding(
            (step, *f.path), f.what, f.old, f.new, f.flags or (flags if not f.path else f.flags)
        )
        for f in findings
    ]


# -- findings → checks ----------------------------------------------------------------------
def _where(path: tuple[str, ...]) -> str:
    out = ""
    for step in path:
        out += step if step == "[]" or not out else f".{step}"
    return out


def _type_text(t: tuple[list[str], Any]) -> str:
    kinds, fmt = t
    return "/".join(kinds) or "any" + (f" ({fmt})" if fmt else "")


def _generalized(old: tuple[list[str], Any], new: tuple[list[str], Any], request: bool) -> bool:
    (ot, of), (nt, nf) = old, new
    if request:  # the new type accepts every old value
        return (
            set(ot) <= set(nt) or (ot == ["integer"] and nt == ["number"]) or (not nf and ot == nt)
        )
    # a response may narrow: clients of the old type still read it
    return set(nt) <= set(ot) or (ot == ["number"] and nt == ["integer"]) or (not of and ot == nt)


def checks_for(findings: list[Finding], *, request: bool, ids: str, label: str) -> list[Check]:
    """``ids`` is oasdiff's id stem of the top level (``request-body``, ``request-parameter``,
    ``response-body``); nested findings use ``request-property`` / ``response-property``."""
    out: list[Check] = []
    side = "request" if request else "response"
    for f in findings:
        stem = ids if not f.path else f"{side}-property"
        where = f"{label} property {_where(f.path)}" if f.path else label
        flags = f.flags
        if request and "readOnly" in flags and f.path:
            continue  # not sent by clients
        if not request and "writeOnly" in flags and f.path:
            continue  # never returned
        w = f.what
        if w == "type":
            gen = _generalized(f.old, f.new, request)
            out.append(
                Check(
                    f"{stem}-type-{'generalized' if gen else 'changed'}",
                    INFO if gen else ERR,
                    f"{where}: type {_type_text(f.old)} → {_type_text(f.new)}",
                )
            )
        elif w == "enum-removed":
            out.append(
                Check(
                    f"{stem}-enum-value-removed",
                    ERR if request else INFO,
                    f"{where}: enum value {f.old!r} removed",
                )
            )
        elif w == "enum-added":
            out.append(
                Check(
                    f"{stem}-enum-value-added",
                    INFO if request else WARN,
                    f"{where}: enum value {f.new!r} added"
                    + ("" if request else " (clients may not expect it)"),
                )
            )
        elif w == "became-enum":
            if request:
                out.append(Check(f"{stem}-became-enum", ERR, f"{where}: now restricted to {f.new}"))
        elif w in _BOUNDS:
            out.extend(_bound(stem, w, f.old, f.new, request, where))
        elif w == "pattern":
            if f.old is None:
                action, level = "added", WARN if request else INFO
            elif f.new is None:
                action, level = "removed", INFO
            else:
                action, level = "changed", WARN if request else INFO
            out.append(
                Check(
                    f"{stem}-pattern-{action}",
                    level,
                    f"{where}: pattern {action} ({f.old!r} → {f.new!r})",
                )
            )
        elif w == "default":
            action = "added" if f.old is None else "removed" if f.new is None else "changed"
            level = ERR if (ids == "request-parameter" and not f.path) else INFO
            out.append(
                Check(
                    f"{stem}-default-value-{action}",
                    level,
                    f"{where}: default {f.old!r} → {f.new!r}",
                )
            )
        elif w == "nullable":
            if request:
                out.append(
                    Check(
                        f"{stem}-became-{'nullable' if f.new else 'not-nullable'}",
                        INFO if f.new else ERR,
                        f"{where}: {'now' if f.new else 'no longer'} nullable",
                    )
                )
            else:
                out.append(
                    Check(
                        f"{stem}-became-nullable" if f.new else f"{stem}-became-not-nullable",
                        ERR if f.new else INFO,
                        f"{where}: {'now' if f.new else 'no longer'} nullable",
                    )
                )
        elif w in ("anyOf-added", "anyOf-removed", "oneOf-added", "oneOf-removed"):
            of, action = w.split("-")
            name = f.new if action == "added" else f.old
            if request:
                level = INFO if action == "added" else ERR
            else:
                level = ERR if (of == "oneOf" and action == "added") else INFO
            out.append(
                Check(
                    f"{stem}-{of.lower().replace('of', '-of')}-{action}",
                    level,
                    f"{where}: {of} alternative {name} {action}",
                )
            )
        elif w == "discriminator":
            out.append(
                Check(
                    f"{stem}-discriminator-property-name-changed",
                    INFO,
                    f"{where}: discriminator {f.old!r} → {f.new!r}",
                )
            )
        elif w == "additional-properties-removed":
            if request:
                out.append(
                    Check(
                        f"{stem}-additional-properties-removed",
                        WARN,
                        f"{where}: additional properties no longer allowed",
                    )
                )
        elif w == "added":
            if request:
                if "required" in flags and "default" not in flags:
                    out.append(
                        Check("new-required-request-property", ERR, f"{where}: new required field")
                    )
                elif "required" in flags:
                    out.append(
                        Check(
                            "new-required-request-property-with-default",
                            INFO,
                            f"{where}: new required field with a default",
                        )
                    )
                else:
                    out.append(
                        Check("new-optional-request-property", INFO, f"{where}: new optional field")
                    )
            else:
                kind = "required" if "required" in flags else "optional"
                out.append(Check(f"response-{kind}-property-added", INFO, f"{where}: new field"))
        elif w == "removed":
            if request:
                out.append(Check("request-property-removed", WARN, f"{where}: field removed"))
            elif "required" in flags:
                out.append(
                    Check(
                        "response-required-property-removed",
                        ERR,
                        f"{where}: response field removed (it was required)",
                    )
                )
            else:
                out.append(
                    Check(
                        "response-optional-property-removed",
                        WARN,
                        f"{where}: response field removed",
                    )
                )
        elif w == "became-required":
            if request:
                if "default" in flags:
                    out.append(
                        Check(
                            "request-property-became-required-with-default",
                            INFO,
                            f"{where}: now required (has a default)",
                        )
                    )
                else:
                    out.append(
                        Check("request-property-became-required", ERR, f"{where}: now required")
                    )
            else:
                out.append(
                    Check("response-property-became-required", INFO, f"{where}: now always present")
                )
        elif w == "became-optional":
            if request:
                out.append(
                    Check("request-property-became-optional", INFO, f"{where}: now optional")
                )
            else:
                out.append(
                    Check(
                        "response-property-became-optional",
                        ERR,
                        f"{where}: may now be missing from the response",
                    )
                )
    return out


def _bound(stem: str, key: str, old: Any, new: Any, request: bool, where: str) -> list[Check]:
    word, larger_is_stricter = _BOUNDS[key]
    if old is None:  # set
        if request:
            return [Check(f"{stem}-{word}-set", WARN, f"{where}: {key} set to {new}")]
        return []
    if new is None:  # unset: looser for a request, a surprise for a response's clients
        level = INFO if request else ERR
        return [Check(f"{stem}-{word}-unset", level, f"{where}: {key} {old} removed")]
    try:
        stricter = (new > old) if larger_is_stricter else (new < old)
    except TypeError:
        return []
    action = "increased" if new > old else "decreased"
    # stricter breaks requests (clients send what was allowed); looser breaks responses
    level = (ERR if stricter else INFO) if request else (INFO if stricter else ERR)
    return [Check(f"{stem}-{word}-{action}", level, f"{where}: {key} {old} → {new}")]
