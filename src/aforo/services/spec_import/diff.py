"""What changed between two OpenAPI versions, check by check, the way oasdiff names them.

Schemas are compared resolved (references followed, lazily, as the comparison reaches them)
and with ``allOf`` merged, so a field that moved into an ``allOf`` part is not "removed".
Operations are matched by method and path template up to parameter names (``/pets/{petId}`` is
``/pets/{id}``; the rename is reported, not breaking). Every finding is a ``Check`` with
oasdiff's id and level: ``ERR`` (breaking), ``WARN`` (maybe breaking) or ``INFO``. Rules
depend on the side: a request must still accept what clients send (a removed enum value, a
narrower bound, a new required field are errors; a new optional field is info), a response
must not surprise clients (a new enum value is a warning, a removed required field an error).
``docs/spec-diff.md`` lists the checks covered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from aforo.services.spec_import import schemas
from aforo.services.spec_import.model import obj

ERR, WARN, INFO = "ERR", "WARN", "INFO"
MAX_CHECKS = 300  # per operation
_PATH_PARAM = re.compile(r"{[^{}]*}")
_BOUNDS = {
    # keyword: (word, True if a larger value is stricter)
    "maximum": ("max", False),
    "maxLength": ("max-length", False),
    "maxItems": ("max-items", False),
    "minimum": ("min", True),
    "minLength": ("min-length", True),
    "minItems": ("min-items", True),
}
_LEVEL_ORDER = {ERR: 0, WARN: 1, INFO: 2}


@dataclass
class Check:
    id: str
    level: str
    text: str


@dataclass
class Change:
    key: str
    kind: str  # ADDED | REMOVED | CHANGED
    breaking: bool
    details: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def level(self) -> str:
        return min((c.level for c in self.checks), key=_LEVEL_ORDER.__getitem__, default=INFO)


# -- schema comparison -----------------------------------------------------------------------
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


# -- operations ------------------------------------------------------------------------------
def template(path: str) -> str:
    return _PATH_PARAM.sub("{}", path)


def _match_key(op: dict[str, Any]) -> tuple[str, str, str]:
    kind = op.get("kind") or "operation"
    if kind == "operation":
        return (kind, op["method"], template(op["path"]))
    return (kind, op["method"], op["key"])


def _params(op: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    path_index = 0
    for p in op.get("parameters") or []:
        if p["in"] == "path":
            out[("path", f"#{path_index}")] = p  # path parameters match by position
            path_index += 1
        else:
            name = p["name"].lower() if p["in"] == "header" else p["name"]
            out[(p["in"], name)] = p
    return out


def _path_order(path: str) -> list[str]:
    return [m[1:-1] for m in _PATH_PARAM.findall(path)]


def _media_map(contents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["mediaType"]: c for c in contents or []}


def _success(status: str) -> bool:
    return status.startswith("2") or status.upper() == "2XX"


class OperationDiff:
    def __init__(self, request: Comparer, response: Comparer) -> None:
        self.request = request
        self.response = response

    def compare(self, old: dict[str, Any], new: dict[str, Any]) -> list[Check]:
        out: list[Check] = []
        # path parameters by position: a different name is a rename
        old_names, new_names = _path_order(old["path"]), _path_order(new["path"])
        for a, b in zip(old_names, new_names, strict=False):
            if a != b:
                out.append(
                    Check(
                        "request-path-parameter-renamed", INFO, f"path parameter {a} renamed to {b}"
                    )
                )
        if not old.get("deprecated") and new.get("deprecated"):
            out.append(Check("endpoint-deprecated", INFO, "operation deprecated"))
        elif old.get("deprecated") and not new.get("deprecated"):
            out.append(Check("endpoint-reactivated", INFO, "operation no longer deprecated"))
        if old.get("operationId") != new.get("operationId"):
            if old.get("operationId") and new.get("operationId"):
                out.append(
                    Check(
                        "api-operation-id-changed",
                        INFO,
                        f"operationId {old['operationId']} → {new['operationId']}",
                    )
                )
            elif old.get("operationId"):
                out.append(Check("api-operation-id-removed", INFO, "operationId removed"))
            else:
                out.append(Check("api-operation-id-added", INFO, "operationId added"))
        for t in set(old.get("tags") or []) - set(new.get("tags") or []):
            out.append(Check("api-tag-removed", INFO, f"tag {t} removed"))
        for t in set(new.get("tags") or []) - set(old.get("tags") or []):
            out.append(Check("api-tag-added", INFO, f"tag {t} added"))
        if old.get("summary") != new.get("summary"):
            out.append(Check("api-summary-changed", INFO, "summary changed"))
        out += self._security(old, new)
        out += self._parameters(old, new)
        out += self._body(old.get("requestBody"), new.get("requestBody"))
        out += self._responses(old.get("responses") or [], new.get("responses") or [])
        return out

    def _security(self, old: dict[str, Any], new: dict[str, Any]) -> list[Check]:
        a = {s["scheme"] for s in old.get("security") or []}
        b = {s["scheme"] for s in new.get("security") or []}
        out = [
            Check("api-security-removed", INFO, f"security scheme {s} removed")
            for s in sorted(a - b)
        ]
        out += [
            Check("api-security-added", INFO, f"security scheme {s} added") for s in sorted(b - a)
        ]
        return out

    def _parameters(self, old: dict[str, Any], new: dict[str, Any]) -> list[Check]:
        out: list[Check] = []
        pa, pb = _params(old), _params(new)
        for key, p in pb.items():
            label = f"{p['in']} parameter {p['name']}"
            if key not in pa:
                if p["in"] == "path":
                    out.append(Check("new-request-path-parameter", ERR, f"{label} added"))
                elif p.get("required"):
                    out.append(
                        Check("new-required-request-parameter", ERR, f"{label} added (required)")
                    )
                else:
                    out.append(Check("new-optional-request-parameter", INFO, f"{label} added"))
                continue
            before = pa[key]
            if p.get("required") and not before.get("required"):
                out.append(
                    Check("request-parameter-became-required", ERR, f"{label} is now required")
                )
            elif before.get("required") and not p.get("required"):
                out.append(
                    Check("request-parameter-became-optional", INFO, f"{label} is now optional")
                )
            if p.get("deprecated") and not before.get("deprecated"):
                out.append(Check("request-parameter-deprecated", INFO, f"{label} deprecated"))
            for attr in ("style", "explode"):
                if attr in before and attr in p and before[attr] != p[attr]:
                    out.append(
                        Check(
                            f"request-parameter-{attr}-changed",
                            ERR,
                            f"{label}: {attr} {before[attr]} → {p[attr]}",
                        )
                    )
            findings = self.request.compare(before.get("schema") or {}, p.get("schema") or {})
            out += checks_for(findings, request=True, ids="request-parameter", label=label)
        for key, p in pa.items():
            if key not in pb:
                label = f"{p['in']} parameter {p['name']}"
                if p.get("deprecated"):
                    out.append(
                        Check(
                            "request-parameter-removed-with-deprecation", INFO, f"{label} removed"
                        )
                    )
                else:
                    out.append(Check("request-parameter-removed", WARN, f"{label} removed"))
        return out

    def _body(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[Check]:
        if old is None and new is None:
            return []
        if old is None:
            assert new is not None
            if new.get("required"):
                return [Check("added-required-request-body", ERR, "required request body added")]
            return [Check("added-optional-request-body", INFO, "optional request body added")]
        if new is None:
            return [Check("request-body-removed", WARN, "request body removed")]
        out: list[Check] = []
        if new.get("required") and not old.get("required"):
            out.append(Check("request-body-became-required", ERR, "request body is now required"))
        elif old.get("required") and not new.get("required"):
            out.append(Check("request-body-became-optional", INFO, "request body is now optional"))
        ma, mb = _media_map(old.get("content") or []), _media_map(new.get("content") or [])
        for m in ma.keys() - mb.keys():
            out.append(Check("request-body-media-type-removed", ERR, f"request body {m} removed"))
        for m in mb.keys() - ma.keys():
            out.append(Check("request-body-media-type-added", INFO, f"request body {m} added"))
        for m in [m for m in ma if m in mb]:
            findings = self.request.compare(ma[m].get("schema") or {}, mb[m].get("schema") or {})
            out += checks_for(
                findings, request=True, ids="request-body", label=f"request body ({m})"
            )
        return out

    def _responses(self, old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[Check]:
        out: list[Check] = []
        ra = {r["status"]: r for r in old}
        rb = {r["status"]: r for r in new}
        for status, r in ra.items():
            if status not in rb:
                if _success(status):
                    out.append(
                        Check("response-success-status-removed", ERR, f"response {status} removed")
                    )
                else:
                    out.append(
                        Check(
                            "response-non-success-status-removed",
                            INFO,
                            f"response {status} removed",
                        )
                    )
                continue
            out += self._response(status, r, rb[status])
        for status in rb.keys() - ra.keys():
            kind = "success" if _success(status) else "non-success"
            out.append(Check(f"response-{kind}-status-added", INFO, f"response {status} added"))
        return out

    def _response(self, status: str, a: dict[str, Any], b: dict[str, Any]) -> list[Check]:
        out: list[Check] = []
        ha = {h["name"].lower(): h for h in a.get("headers") or []}
        hb = {h["name"].lower(): h for h in b.get("headers") or []}
        for name, h in ha.items():
            if name not in hb:
                if h.get("required"):
                    out.append(
                        Check(
                            "required-response-header-removed",
                            ERR,
                            f"response {status} header {h['name']} removed",
                        )
                    )
                else:
                    out.append(
                        Check(
                            "optional-response-header-removed",
                            WARN,
                            f"response {status} header {h['name']} removed",
                        )
                    )
            elif h.get("required") and not hb[name].get("required"):
                out.append(
                    Check(
                        "response-header-became-optional",
                        ERR,
                        f"response {status} header {h['name']} is now optional",
                    )
                )
        ma, mb = _media_map(a.get("content") or []), _media_map(b.get("content") or [])
        for m in ma.keys() - mb.keys():
            out.append(Check("response-media-type-removed", ERR, f"response {status} {m} removed"))
        for m in mb.keys() - ma.keys():
            out.append(Check("response-media-type-added", INFO, f"response {status} {m} added"))
        for m in [m for m in ma if m in mb]:
            findings = self.response.compare(ma[m].get("schema") or {}, mb[m].get("schema") or {})
            out += checks_for(
                findings, request=False, ids="response-body", label=f"response {status}"
            )
        return out


def _change(key: str, kind: str, checks: list[Check]) -> Change:
    kept = checks[:MAX_CHECKS]
    if len(checks) > MAX_CHECKS:
        kept.append(Check("more-changes", INFO, f"and {len(checks) - MAX_CHECKS} more changes"))
    return Change(key, kind, any(c.level == ERR for c in checks), [c.text for c in kept], kept)


def diff(
    old_ops: list[dict[str, Any]],
    new_ops: list[dict[str, Any]],
    old_components: dict[str, Any] | None = None,
    new_components: dict[str, Any] | None = None,
) -> list[Change]:
    old_c, new_c = old_components or {}, new_components or {}
    differ = OperationDiff(Comparer(old_c, new_c), Comparer(old_c, new_c))
    old = {_match_key(o): o for o in old_ops if o.get("kind", "operation") != "callback"}
    new = {_match_key(o): o for o in new_ops if o.get("kind", "operation") != "callback"}
    changes: list[Change] = []
    for key in new.keys() - old.keys():
        changes.append(
            _change(new[key]["key"], "ADDED", [Check("endpoint-added", INFO, "operation added")])
        )
    for key in old.keys() - new.keys():
        op = old[key]
        if op.get("deprecated"):
            check = Check(
                "api-removed-with-deprecation", INFO, "operation removed (it was deprecated)"
            )
        else:
            check = Check("api-removed-without-deprecation", ERR, "operation removed")
        changes.append(_change(op["key"], "REMOVED", [check]))
    for key in old.keys() & new.keys():
        checks = differ.compare(old[key], new[key])
        if checks:
            changes.append(_change(new[key]["key"], "CHANGED", checks))
    order = {"REMOVED": 0, "CHANGED": 1, "ADDED": 2}
    changes.sort(key=lambda c: (order[c.kind], c.key))
    return changes
