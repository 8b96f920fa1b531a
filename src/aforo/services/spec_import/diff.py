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

from aforo.services.spec_import.schema_diff import ERR, INFO, WARN, Check, Comparer, checks_for

__all__ = ["ERR", "INFO", "WARN", "Change", "Check", "diff"]

MAX_CHECKS = 300  # per operation
_PATH_PARAM = re.compile(r"{[^{}]*}")
_LEVEL_ORDER = {ERR: 0, WARN: 1, INFO: 2}


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
