"""OpenAPI 3.0 / 3.1: validate the document and extract what a reference renders.

Schemas are not expanded here: every ``$ref`` inside a schema stays as it is, and the schemas
of ``components`` (plus any other target of a local reference) are kept as named components,
stored once. Reading a schema expands it to a depth (``schemas.expand``). A Stripe-size spec
(about a thousand schemas referencing each other through ``anyOf``) therefore costs its own
size, not the size of every schema expanded inline for every operation.

Every other kind of reference (parameters, responses, request bodies, headers, examples,
links, path items, callbacks) is followed and inlined into the operation using it.
"""

from __future__ import annotations

import re
from typing import Any

from aforo.services.spec_import import refs
from aforo.services.spec_import.loader import Document, Problem, Problems, locate
from aforo.services.spec_import.model import ParsedSpec, obj, seq
from aforo.services.spec_import.openapi_objects import ObjectReader, docs, text

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SCHEME_TYPES = ("apiKey", "http", "oauth2", "openIdConnect", "mutualTLS")
COMPONENT_KINDS = (
    "schemas",
    "responses",
    "parameters",
    "examples",
    "requestBodies",
    "headers",
    "securitySchemes",
    "links",
    "callbacks",
    "pathItems",
)
MAX_OPERATIONS = 5000
MAX_CALLBACK_DEPTH = 2
_PATH_PARAM = re.compile(r"{([^{}]+)}")
_VERSION = re.compile(r"^3\.(0|1)\.\d+(-.+)?$")
_INFO_KEYS = ("title", "version", "summary", "description", "termsOfService", "x-logo")


class Parser(ObjectReader):
    def security_schemes(self, raw: Any) -> dict[str, Any]:
        if raw is None:
            return {}
        at = "/components/securitySchemes"
        if not isinstance(raw, dict):
            self.problem(at, "securitySchemes must be an object")
            return {}
        out: dict[str, Any] = {}
        for name, node in raw.items():
            s, here = self.obj(node, refs.escape_at(at, name), "a security scheme")
            if s is None:
                continue
            kind = s.get("type")
            if kind not in SCHEME_TYPES:
                self.problem(f"{here}/type", f"type must be one of {', '.join(SCHEME_TYPES)}")
                continue
            if kind == "apiKey" and (
                not isinstance(s.get("name"), str)
                or s.get("in") not in ("query", "header", "cookie")
            ):
                self.problem(here, "an apiKey scheme needs name and in (query/header/cookie)")
                continue
            if kind == "http" and not isinstance(s.get("scheme"), str):
                self.problem(f"{here}/scheme", "an http scheme needs scheme")
                continue
            if kind == "oauth2" and not isinstance(s.get("flows"), dict):
                self.problem(f"{here}/flows", "an oauth2 scheme needs flows")
                continue
            if kind == "openIdConnect" and not isinstance(s.get("openIdConnectUrl"), str):
                self.problem(f"{here}/openIdConnectUrl", "openIdConnect needs openIdConnectUrl")
                continue
            scheme: dict[str, Any] = {"type": kind, "description": text(s.get("description"))}
            for key in ("scheme", "bearerFormat", "name", "in", "openIdConnectUrl"):
                if isinstance(s.get(key), str):
                    scheme[key] = s[key]
            if kind == "oauth2":
                scheme["flows"] = self.flows(s["flows"], f"{here}/flows")
            out[str(name)] = scheme
        return out

    def flows(self, raw: dict[str, Any], at: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for flow in ("implicit", "password", "clientCredentials", "authorizationCode"):
            f = raw.get(flow)
            if f is None:
                continue
            if not isinstance(f, dict) or not isinstance(f.get("scopes"), dict):
                self.problem(f"{at}/{flow}", "a flow needs scopes (an object, possibly empty)")
                continue
            entry: dict[str, Any] = {
                k: f[k]
                for k in ("authorizationUrl", "tokenUrl", "refreshUrl")
                if isinstance(f.get(k), str)
            }
            if flow in ("implicit", "authorizationCode") and "authorizationUrl" not in entry:
                self.problem(f"{at}/{flow}/authorizationUrl", f"{flow} needs authorizationUrl")
            if flow != "implicit" and "tokenUrl" not in entry:
                self.problem(f"{at}/{flow}/tokenUrl", f"{flow} needs tokenUrl")
            entry["scopes"] = {str(k): text(v) for k, v in f["scopes"].items()}
            out[flow] = entry
        return out

    def tags(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        raw = self.data.get("tags")
        tags = []
        for i, t in enumerate(raw if isinstance(raw, list) else []):
            if not isinstance(t, dict) or not isinstance(t.get("name"), str):
                self.problem(f"/tags/{i}/name", "a tag needs a name")
                continue
            tag: dict[str, Any] = {"name": t["name"], "description": text(t.get("description"))}
            if docs(t.get("externalDocs")):
                tag["externalDocs"] = docs(t.get("externalDocs"))
            if isinstance(t.get("x-displayName"), str):
                tag["displayName"] = t["x-displayName"]
            tags.append(tag)
        groups = []
        raw_groups = self.data.get("x-tagGroups")
        for g in raw_groups if isinstance(raw_groups, list) else []:
            if isinstance(g, dict) and isinstance(g.get("name"), str):
                names = seq(g.get("tags"))
                groups.append({"name": g["name"], "tags": [text(n) for n in names]})
        return tags, groups

    def info(self) -> dict[str, Any]:
        info = self.data["info"]
        out: dict[str, Any] = {k: info[k] for k in _INFO_KEYS if k in info}
        for key, fields in (
            ("contact", ("name", "url", "email")),
            ("license", ("name", "url", "identifier")),
        ):
            value = info.get(key)
            if isinstance(value, dict):
                out[key] = {f: text(value[f]) for f in fields if f in value}
        return out

    # -- operations ------------------------------------------------------------------------
    def path_item(
        self, node: Any, at: str, path: str, *, kind: str, parent: str | None = None, depth: int = 0
    ) -> list[dict[str, Any]]:
        item, item_at = self.obj(node, at, "a path item")
        if item is None:
            return []
        shared = self.parameters(item.get("parameters"), f"{item_at}/parameters")
        path_servers = self.servers(item.get("servers"), f"{item_at}/servers")
        out: list[dict[str, Any]] = []
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            op, here = self.obj(op, f"{item_at}/{method}", "an operation")
            if op is None:
                continue
            out.extend(
                self.operation(
                    op,
                    here,
                    path,
                    method,
                    shared,
                    path_servers,
                    kind=kind,
                    parent=parent,
                    depth=depth,
                )
            )
        return out

    def operation(
        self,
        op: dict[str, Any],
        here: str,
        path: str,
        method: str,
        shared: dict[tuple[str, str], dict[str, Any]],
        path_servers: list[dict[str, Any]],
        *,
        kind: str,
        parent: str | None,
        depth: int,
    ) -> list[dict[str, Any]]:
        before = self.problems.count
        params = {**shared, **self.parameters(op.get("parameters"), f"{here}/parameters")}
        if kind == "operation" and self.problems.count == before:
            # (a parameter that could not be read is already a problem; not twice)
            declared = {name for (loc, name) in params if loc == "path"}
            for name in _PATH_PARAM.findall(path):
                if name not in declared:
                    self.problem(f"{here}/parameters", f"path parameter {name!r} is not declared")
        op_id = op.get("operationId")
        if op_id is not None:
            if not isinstance(op_id, str):
                self.problem(f"{here}/operationId", "operationId must be a string")
                op_id = None
            elif op_id in self.operation_ids:
                self.problem(
                    f"{here}/operationId",
                    f"operationId {op_id!r} is also used at {self.operation_ids[op_id]}",
                )
            else:
                self.operation_ids[op_id] = here
        responses = op.get("responses")
        if responses is None and not self.is31:
            self.problem(f"{here}/responses", "responses is required")
        elif responses is not None and not isinstance(responses, dict):
            self.problem(f"{here}/responses", "responses must be an object")
            responses = None
        tags = op.get("tags") or []
        key = f"{method.upper()} {path}"
        if kind == "webhook":
            key = f"webhook {path} {method.upper()}"
        elif kind == "callback":
            key = f"{parent} callback {path} {method.upper()}"
        operation: dict[str, Any] = {
            "key": key,
            "kind": kind,
            "parent": parent,
            "method": method.upper(),
            "path": path,
            "operationId": op_id,
            "summary": text(op.get("summary")),
            "description": text(op.get("description")),
            "tags": [text(t) for t in tags] if isinstance(tags, list) else [],
            "deprecated": bool(op.get("deprecated", False)),
            "parameters": list(params.values()),
            "requestBody": self.request_body(op.get("requestBody"), f"{here}/requestBody"),
            "responses": self.responses(responses, f"{here}/responses"),
            "security": self.security(op.get("security", self.data.get("security"))),
            "servers": self.servers(op.get("servers"), f"{here}/servers") or path_servers,
            "externalDocs": docs(op.get("externalDocs")),
        }
        self.count += 1
        if self.count > MAX_OPERATIONS:
            self.problems.add(
                Problem("/paths", f"more than {MAX_OPERATIONS} operations"), cause=True
            )
            raise _TooMany
        out = [operation]
        callbacks = op.get("callbacks")
        if isinstance(callbacks, dict) and depth < MAX_CALLBACK_DEPTH:
            for name, node in callbacks.items():
                cb, cb_at = self.obj(node, refs.escape_at(f"{here}/callbacks", name), "a callback")
                for expression, item in (cb or {}).items():
                    if str(expression).startswith("x-"):
                        continue
                    for sub in self.path_item(
                        item,
                        refs.escape_at(cb_at, expression),
                        str(expression),
                        kind="callback",
                        parent=key,
                        depth=depth + 1,
                    ):
                        sub["callback"] = str(name)
                        out.append(sub)
        return out

    # -- components ------------------------------------------------------------------------
    def components(self, used: set[str]) -> list[dict[str, Any]]:
        """Every entry of ``components`` (schemas first), then the target of every other
        local reference (``#/paths/…/schema``, ``#/components/schemas/A/properties/b``)."""
        raw = self.data.get("components")
        out: list[dict[str, Any]] = []
        named: set[str] = set()
        if isinstance(raw, dict):
            for kind in COMPONENT_KINDS:
                entries = raw.get(kind)
                if entries is None:
                    continue
                if not isinstance(entries, dict):
                    self.problem(f"/components/{kind}", f"components.{kind} must be an object")
                    continue
                for name, body in entries.items():
                    ref = f"#/components/{kind}/{refs.escape(str(name))}"
                    named.add(ref)
                    if kind == "schemas":
                        body = self.schema(body, ref[1:])
                    out.append({"kind": kind, "name": str(name), "ref": ref, "body": body})
        for ref in sorted(used - named):
            file, fragment = refs.split(ref)
            if file or not refs.is_pointer(fragment) or not fragment:
                continue
            target = refs.get(self.data, fragment)
            if refs.found(target):
                out.append({"kind": "pointer", "name": fragment, "ref": ref, "body": target})
        return out

    def check_refs(self, used: set[str]) -> None:
        """Every local ``$ref`` must point at something. ``refs.all_refs`` found the
        candidates in one pass; only a broken one costs a walk, to say where it is used."""
        broken: dict[str, str] = {}
        for ref in used:
            file, fragment = refs.split(ref)
            if file:
                broken[ref] = (
                    "is not resolved: upload every file of the spec (several files or a zip) "
                    "or import it from its URL"
                )
            elif refs.is_pointer(fragment) and not refs.found(refs.get(self.data, fragment)):
                broken[ref] = "points at nothing"
        if not broken:
            return
        for site in refs.walk(self.data):
            ref = site.node["$ref"]
            if ref in broken:
                kind = "external $ref" if refs.split(ref)[0] else "$ref"
                self.problem(f"{site.pointer}/$ref", f"{kind} {ref!r} {broken[ref]}")


class _TooMany(Exception):
    pass


def _check_root(data: Any) -> list[Problem]:
    if not isinstance(data, dict):
        return [Problem("", "an OpenAPI document must be an object")]
    problems = []
    version = data.get("openapi")
    if not isinstance(version, str) or not _VERSION.match(version):
        problems.append(Problem("/openapi", "openapi must be a 3.0.x or 3.1.x version string"))
    info = data.get("info")
    if not isinstance(info, dict):
        problems.append(Problem("/info", "info is required and must be an object"))
    else:
        for key in ("title", "version"):
            if not isinstance(info.get(key), str):
                problems.append(
                    Problem(refs.escape_at("/info", key), f"info.{key} must be a string")
                )
    paths = data.get("paths")
    if paths is None and not str(version).startswith("3.1"):
        problems.append(Problem("/paths", "paths is required"))
    elif paths is not None and not isinstance(paths, dict):
        problems.append(Problem("/paths", "paths must be an object"))
    return problems


def parse(
    doc: Document,
    *,
    documents: dict[str | None, Document] | None = None,
    problems: Problems | None = None,
    source_version: str | None = None,
    conversions: list[dict[str, Any]] | None = None,
    used: set[str] | None = None,
) -> ParsedSpec:
    """``doc`` holds an OpenAPI 3 document (possibly bundled from several files or converted
    from Swagger 2.0: ``documents`` then maps each file to its text, for line numbers);
    ``used``: its ``$ref`` strings, when the caller has them already."""
    documents = documents if documents is not None else {None: doc}
    problems = problems if problems is not None else Problems()
    data = doc.data
    root_problems = _check_root(data)
    if root_problems:
        problems.extend(root_problems)
        raise locate(problems, documents)
    p = Parser(data, problems)
    used = used if used is not None else refs.all_refs(data)
    servers = p.servers(data.get("servers"), "/servers")
    components = obj(data.get("components"))
    schemes = p.security_schemes(components.get("securitySchemes"))
    operations: list[dict[str, Any]] = []
    try:
        for path, item in (data.get("paths") or {}).items():
            at = refs.escape_at("/paths", path)
            if str(path).startswith("x-"):
                continue
            if not str(path).startswith("/"):
                p.problem(at, "a path must start with /")
                continue
            operations.extend(p.path_item(item, at, str(path), kind="operation"))
        webhooks = data.get("webhooks")
        for name, item in webhooks.items() if isinstance(webhooks, dict) else ():
            operations.extend(
                p.path_item(item, refs.escape_at("/webhooks", name), str(name), kind="webhook")
            )
    except _TooMany:
        pass
    tags, tag_groups = p.tags()
    p.check_refs(used)
    stored = p.components(used)
    if problems:
        raise locate(problems, documents)
    info = data["info"]
    return ParsedSpec(
        format="OPENAPI_3",
        title=info["title"],
        version=info["version"],
        description=text(info.get("description")),
        servers=servers,
        security_schemes=schemes,
        tags=tags,
        operations=operations,
        info=p.info(),
        external_docs=docs(data.get("externalDocs")),
        tag_groups=tag_groups,
        components=stored,
        source_version=source_version or str(data["openapi"]),
        conversions=conversions or [],
    )
