"""OpenAPI 3.0 / 3.1: validate the document, resolve local ``$ref``s, extract every operation."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from aforo.services.spec_import.loader import Document, Expansion, Problem, SpecInvalid, pointer
from aforo.services.spec_import.model import ParsedSpec

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PARAM_IN = ("query", "header", "path", "cookie")
SCHEME_TYPES = ("apiKey", "http", "oauth2", "openIdConnect", "mutualTLS")
MAX_OPERATIONS = 5000
MAX_REF_DEPTH = 40
MAX_NODES = 2_000_000
_PATH_PARAM = re.compile(r"{([^{}]+)}")
_VERSION = re.compile(r"^3\.(0|1)\.\d+(-.+)?$")


def jsonable(value: Any, budget: list[int] | None = None) -> Any:
    """YAML gives dates and non-string keys; the rest of the system speaks JSON. Copies every
    node, so YAML aliases are expanded here, under a node budget ("billion laughs")."""
    budget = budget if budget is not None else [MAX_NODES]
    budget[0] -= 1
    if budget[0] < 0:
        raise SpecInvalid(
            [Problem("", f"the document expands to more than {MAX_NODES} nodes")],
            code="SPEC_TOO_LARGE",
        )
    if isinstance(value, str):
        return value.replace("\x00", "")  # PostgreSQL text and JSON cannot hold NUL
    if isinstance(value, dict):
        return {str(k).replace("\x00", ""): jsonable(v, budget) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v, budget) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").replace("\x00", "")
    if isinstance(value, float) and not math.isfinite(value):
        # YAML .inf/.nan, JSON NaN or 1e999: valid to the parsers, not storable as JSON.
        raise SpecInvalid([Problem("", f"numbers must be finite, found {value}")])
    return value


class Resolver:
    """Local ``$ref`` resolution. Each reference is expanded once and shared; a reference met
    again while it is being expanded is a cycle and stays a marked ``$ref``."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.done: dict[str, Any] = {}
        self.stack: list[str] = []
        self.problems: list[Problem] = []
        self.expansion = Expansion()
        self.sizes: dict[str, int] = {}  # expanded nodes of each resolved reference

    def target(self, ref: str, at: str) -> Any:
        if not ref.startswith("#"):
            self.problems.append(
                Problem(at, f"external $ref {ref!r} is not supported; bundle the spec first")
            )
            return None
        node: Any = self.root
        for raw in ref[1:].split("/")[1:]:
            token = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                self.problems.append(Problem(at, f"$ref {ref!r} points at nothing"))
                return None
        return node

    def resolve(self, node: Any, at: str) -> Any:
        self.expansion.take()
        if isinstance(node, list):
            return [self.resolve(v, f"{at}/{i}") for i, v in enumerate(node)]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            if ref in self.stack or len(self.stack) >= MAX_REF_DEPTH:
                return {"$ref": ref, "x-circular": True, "title": ref.rsplit("/", 1)[-1]}
            if ref not in self.done:
                target = self.target(ref, f"{at}/$ref")
                if target is None:
                    return siblings
                self.stack.append(ref)
                before = self.expansion.left
                try:
                    self.done[ref] = self.resolve(target, ref[1:])
                finally:
                    self.stack.pop()
                self.sizes[ref] = before - self.expansion.left
            else:
                self.expansion.take(self.sizes[ref])
            resolved = self.done[ref]
            if siblings and isinstance(resolved, dict):  # 3.1 allows siblings next to $ref
                return {**resolved, **self.resolve(siblings, at)}
            return resolved
        if "$ref" in node:
            self.problems.append(Problem(f"{at}/$ref", "$ref must be a string"))
        return {k: self.resolve(v, f"{at}/{escape_token(k)}") for k, v in node.items()}


def escape_token(k: str) -> str:
    return k.replace("~", "~0").replace("/", "~1")


def _check_root(data: Any) -> list[Problem]:
    if not isinstance(data, dict):
        return [Problem("", "an OpenAPI document must be an object")]
    if "swagger" in data:
        raise SpecInvalid(
            [
                Problem(
                    "/swagger",
                    f"Swagger {data.get('swagger')} is not supported: convert the spec to "
                    "OpenAPI 3 (for example with swagger2openapi or converter.swagger.io) and "
                    "import it again",
                )
            ],
            code="SPEC_SWAGGER2",
        )
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
                problems.append(Problem(pointer("info", key), f"info.{key} must be a string"))
    paths = data.get("paths")
    if paths is None and not str(version).startswith("3.1"):
        problems.append(Problem("/paths", "paths is required"))
    elif paths is not None and not isinstance(paths, dict):
        problems.append(Problem("/paths", "paths must be an object"))
    return problems


def _check_servers(servers: Any, at: str, problems: list[Problem]) -> list[dict[str, Any]]:
    if servers is None:
        return []
    if not isinstance(servers, list):
        problems.append(Problem(at, "servers must be an array"))
        return []
    out = []
    for i, s in enumerate(servers):
        if not isinstance(s, dict) or not isinstance(s.get("url"), str):
            problems.append(Problem(f"{at}/{i}/url", "a server needs a url string"))
            continue
        url = s["url"]
        variables = s.get("variables")
        for name, var in variables.items() if isinstance(variables, dict) else ():
            if isinstance(var, dict) and "default" in var:
                url = url.replace("{" + str(name) + "}", str(var["default"]))
        out.append({"url": url, "description": str(s.get("description") or "")})
    return out


def _check_schemes(schemes: Any, problems: list[Problem]) -> dict[str, Any]:
    if schemes is None:
        return {}
    at = "/components/securitySchemes"
    if not isinstance(schemes, dict):
        problems.append(Problem(at, "securitySchemes must be an object"))
        return {}
    out: dict[str, Any] = {}
    for name, s in schemes.items():
        here = pointer("components", "securitySchemes", name)
        if not isinstance(s, dict) or s.get("type") not in SCHEME_TYPES:
            problems.append(
                Problem(f"{here}/type", f"type must be one of {', '.join(SCHEME_TYPES)}")
            )
            continue
        if s["type"] == "apiKey" and (
            not isinstance(s.get("name"), str) or s.get("in") not in ("query", "header", "cookie")
        ):
            problems.append(
                Problem(here, "an apiKey scheme needs name and in (query/header/cookie)")
            )
            continue
        if s["type"] == "http" and not isinstance(s.get("scheme"), str):
            problems.append(Problem(f"{here}/scheme", "an http scheme needs scheme"))
            continue
        out[name] = {k: s[k] for k in ("type", "scheme", "name", "in", "bearerFormat") if k in s}
        out[name]["description"] = str(s.get("description") or "")
    return out


def _params(raw: Any, at: str, problems: list[Problem]) -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    if raw is None:
        return out
    if not isinstance(raw, list):
        problems.append(Problem(at, "parameters must be an array"))
        return out
    for i, p in enumerate(raw):
        here = f"{at}/{i}"
        if not isinstance(p, dict) or not isinstance(p.get("name"), str):
            problems.append(Problem(f"{here}/name", "a parameter needs a name"))
            continue
        if p.get("in") not in PARAM_IN:
            problems.append(Problem(f"{here}/in", f"in must be one of {', '.join(PARAM_IN)}"))
            continue
        if p["in"] == "path" and p.get("required") is not True:
            problems.append(Problem(f"{here}/required", "path parameters must be required: true"))
        schema = p.get("schema")
        if schema is None and isinstance(p.get("content"), dict) and p["content"]:
            first_media = next(iter(p["content"].values()))
            schema = first_media.get("schema") if isinstance(first_media, dict) else None
        example = p.get("example")
        if example is None and isinstance(p.get("examples"), dict) and p["examples"]:
            first = next(iter(p["examples"].values()))
            example = first.get("value") if isinstance(first, dict) else None
        out[(p["in"], p["name"])] = {
            "name": p["name"],
            "in": p["in"],
            "required": bool(p.get("required", False)),
            "description": str(p.get("description") or ""),
            "deprecated": bool(p.get("deprecated", False)),
            "schema": schema if isinstance(schema, dict) else {},
            "example": example,
        }
    return out


def _media(raw: Any) -> list[dict[str, Any]]:
    out = []
    for media_type, m in (raw or {}).items() if isinstance(raw, dict) else ():
        if not isinstance(m, dict):
            continue
        example = m.get("example")
        examples = m.get("examples")
        if example is None and isinstance(examples, dict) and examples:
            first = next(iter(examples.values()))
            example = first.get("value") if isinstance(first, dict) else None
        schema = m.get("schema") if isinstance(m.get("schema"), dict) else {}
        out.append({"mediaType": str(media_type), "schema": schema, "example": example})
    return out


def _security(raw: Any) -> list[dict[str, Any]]:
    out = []
    for requirement in raw if isinstance(raw, list) else ():
        if isinstance(requirement, dict):
            for name, scopes in requirement.items():
                listed = scopes if isinstance(scopes, list) else []
                out.append({"scheme": str(name), "scopes": [str(s) for s in listed]})
    return out


def parse(doc: Document) -> ParsedSpec:
    data = doc.data
    problems = _check_root(data)
    if problems:
        raise doc.fail(problems)
    data = jsonable(data)
    resolver = Resolver(data)
    servers = _check_servers(data.get("servers"), "/servers", problems)
    components = data.get("components") if isinstance(data.get("components"), dict) else {}
    schemes = _check_schemes(resolver.resolve(components.get("securitySchemes"), ""), problems)
    global_security = data.get("security")
    operations: list[dict[str, Any]] = []
    seen_ids: dict[str, str] = {}
    for path, item in (data.get("paths") or {}).items():
        at = pointer("paths", path)
        if not str(path).startswith("/"):
            problems.append(Problem(at, "a path must start with /"))
            continue
        item = resolver.resolve(item, at)
        if not isinstance(item, dict):
            problems.append(Problem(at, "a path item must be an object"))
            continue
        shared = _params(item.get("parameters"), f"{at}/parameters", problems)
        path_servers = _check_servers(item.get("servers"), f"{at}/servers", problems)
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            here = f"{at}/{method}"
            if not isinstance(op, dict):
                problems.append(Problem(here, "an operation must be an object"))
                continue
            params = {**shared, **_params(op.get("parameters"), f"{here}/parameters", problems)}
            declared = {name for (loc, name) in params if loc == "path"}
            for name in _PATH_PARAM.findall(path):
                if name not in declared:
                    problems.append(
                        Problem(f"{here}/parameters", f"path parameter {name!r} is not declared")
                    )
            op_id = op.get("operationId")
            if op_id is not None:
                if not isinstance(op_id, str):
                    problems.append(Problem(f"{here}/operationId", "operationId must be a string"))
                    op_id = None
                elif op_id in seen_ids:
                    problems.append(
                        Problem(
                            f"{here}/operationId",
                            f"operationId {op_id!r} is also used at {seen_ids[op_id]}",
                        )
                    )
                else:
                    seen_ids[op_id] = here
            responses = op.get("responses")
            if responses is None and data["openapi"].startswith("3.0"):
                problems.append(Problem(f"{here}/responses", "responses is required"))
            elif responses is not None and not isinstance(responses, dict):
                problems.append(Problem(f"{here}/responses", "responses must be an object"))
                responses = None
            body = op.get("requestBody")
            request_body = None
            if isinstance(body, dict):
                request_body = {
                    "required": bool(body.get("required", False)),
                    "description": str(body.get("description") or ""),
                    "content": _media(body.get("content")),
                }
            tags = op.get("tags") or []
            operations.append(
                {
                    "key": f"{method.upper()} {path}",
                    "method": method.upper(),
                    "path": path,
                    "operationId": op_id,
                    "summary": str(op.get("summary") or ""),
                    "description": str(op.get("description") or ""),
                    "tags": [str(t) for t in tags] if isinstance(tags, list) else [],
                    "deprecated": bool(op.get("deprecated", False)),
                    "parameters": list(params.values()),
                    "requestBody": request_body,
                    "responses": [
                        {
                            "status": str(code),
                            "description": str((r or {}).get("description") or ""),
                            "content": _media((r or {}).get("content")),
                        }
                        for code, r in (responses or {}).items()
                        if isinstance(r, dict)
                    ],
                    "security": _security(op.get("security", global_security)),
                    "servers": _check_servers(op.get("servers"), f"{here}/servers", problems)
                    or path_servers,
                }
            )
            if len(operations) > MAX_OPERATIONS:
                raise SpecInvalid(
                    [Problem("/paths", f"more than {MAX_OPERATIONS} operations")],
                    code="SPEC_TOO_LARGE",
                )
    problems.extend(resolver.problems)
    if problems:
        raise doc.fail(problems)
    info = data["info"]
    tags = [
        {"name": str(t["name"]), "description": str(t.get("description") or "")}
        for t in (data.get("tags") if isinstance(data.get("tags"), list) else [])
        if isinstance(t, dict) and "name" in t
    ]
    return ParsedSpec(
        format="OPENAPI_3",
        title=info["title"],
        version=info["version"],
        description=str(info.get("description") or ""),
        servers=servers,
        security_schemes=schemes,
        tags=tags,
        operations=operations,
    )
