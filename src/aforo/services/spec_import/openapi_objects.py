"""Reading the objects an OpenAPI operation is made of: parameters, headers, media types with
their examples and encoding, responses with links, request bodies, servers, security
requirements. A ``$ref`` to any of them is followed and the object inlined (``obj``); a schema
is kept as written, references and all (``schemas.expand`` resolves them on read)."""

from __future__ import annotations

from typing import Any

from aforo.services.spec_import import refs
from aforo.services.spec_import.loader import Problem, Problems

PARAM_IN = ("query", "header", "path", "cookie")
STYLES = {
    "path": ("simple", "label", "matrix"),
    "query": ("form", "spaceDelimited", "pipeDelimited", "deepObject"),
    "header": ("simple",),
    "cookie": ("form", "cookie"),
}
DEFAULT_STYLE = {"path": "simple", "header": "simple", "query": "form", "cookie": "form"}


def text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def docs(value: Any) -> dict[str, str] | None:
    if isinstance(value, dict) and isinstance(value.get("url"), str):
        return {"url": value["url"], "description": text(value.get("description"))}
    return None


class ObjectReader:
    """The building blocks; ``openapi.Parser`` reads the document with them."""

    def __init__(self, data: dict[str, Any], problems: Problems) -> None:
        self.data = data
        self.problems = problems
        self.is31 = str(data.get("openapi", "")).startswith("3.1")
        self.operation_ids: dict[str, str] = {}
        self.count = 0

    def problem(self, at: str, message: str) -> None:
        self.problems.add(Problem(at, message))

    # -- references to non-schema objects: followed and inlined ----------------------------
    def obj(self, node: Any, at: str, what: str) -> tuple[dict[str, Any] | None, str]:
        """The object ``node`` is, following a chain of ``$ref``s; 3.1's ``summary`` and
        ``description`` next to a ``$ref`` override the target's."""
        if isinstance(node, dict) and "$ref" not in node:
            return node, at  # the common case: written in place
        seen: set[str] = set()
        overrides: dict[str, Any] = {}
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str):
                self.problem(f"{at}/$ref", "$ref must be a string")
                return None, at
            for k in ("summary", "description"):
                if k in node and k not in overrides:
                    overrides[k] = node[k]
            file, fragment = refs.split(ref)
            if file:
                self.problem(
                    f"{at}/$ref",
                    f"external $ref {ref!r} is not resolved: upload every file of the spec "
                    "(several files or a zip) or import it from its URL",
                )
                return None, at
            if not refs.is_pointer(fragment):
                self.problem(f"{at}/$ref", f"$ref {ref!r} is not a JSON pointer")
                return None, at
            if ref in seen:
                self.problem(f"{at}/$ref", f"$ref {ref!r} refers to itself")
                return None, at
            seen.add(ref)
            target = refs.get(self.data, fragment)
            if not refs.found(target):
                self.problem(f"{at}/$ref", f"$ref {ref!r} points at nothing")
                return None, at
            node, at = target, fragment
        if not isinstance(node, dict):
            self.problem(at, f"{what} must be an object")
            return None, at
        return ({**node, **overrides} if overrides else node), at

    def schema(self, value: Any, at: str) -> Any:
        if value is None:
            return {}
        if isinstance(value, dict | bool):
            return value
        self.problem(at, "a schema must be an object")
        return {}

    # -- document-level parts --------------------------------------------------------------
    def servers(self, raw: Any, at: str) -> list[dict[str, Any]]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.problem(at, "servers must be an array")
            return []
        out = []
        for i, s in enumerate(raw):
            if not isinstance(s, dict) or not isinstance(s.get("url"), str):
                self.problem(f"{at}/{i}/url", "a server needs a url string")
                continue
            url = template = s["url"]
            variables: dict[str, Any] = {}
            raw_vars = s.get("variables")
            for name, var in raw_vars.items() if isinstance(raw_vars, dict) else ():
                if not isinstance(var, dict) or "default" not in var:
                    self.problem(
                        f"{at}/{i}/variables/{refs.escape(str(name))}",
                        "a server variable needs a default",
                    )
                    continue
                enum = var.get("enum")
                variables[str(name)] = {
                    "default": text(var["default"]),
                    "enum": [text(e) for e in enum] if isinstance(enum, list) else None,
                    "description": text(var.get("description")),
                }
                url = url.replace("{" + str(name) + "}", text(var["default"]))
            out.append(
                {
                    "url": url,
                    "template": template,
                    "description": text(s.get("description")),
                    "variables": variables,
                }
            )
        return out

    def examples(self, raw: Any, at: str) -> list[dict[str, Any]]:
        out = []
        for name, node in raw.items() if isinstance(raw, dict) else ():
            ex, _ = self.obj(node, refs.escape_at(at, name), "an example")
            if ex is None:
                continue
            entry: dict[str, Any] = {
                "name": str(name),
                "summary": text(ex.get("summary")),
                "description": text(ex.get("description")),
            }
            if "value" in ex:
                entry["value"] = ex["value"]
            if isinstance(ex.get("externalValue"), str):
                entry["externalValue"] = ex["externalValue"]
            out.append(entry)
        return out

    def _first_example(self, node: dict[str, Any], named: list[dict[str, Any]]) -> Any:
        if "example" in node:
            return node["example"]
        return next((e["value"] for e in named if "value" in e), None)

    def parameter(self, node: Any, at: str) -> dict[str, Any] | None:
        p, here = self.obj(node, at, "a parameter")
        if p is None:
            return None
        if not isinstance(p.get("name"), str):
            self.problem(f"{here}/name", "a parameter needs a name")
            return None
        where = p.get("in")
        if where not in PARAM_IN:
            self.problem(f"{here}/in", f"in must be one of {', '.join(PARAM_IN)}")
            return None
        if where == "path" and p.get("required") is not True:
            self.problem(f"{here}/required", "path parameters must be required: true")
        style = p.get("style", DEFAULT_STYLE[where])
        if style not in STYLES[where]:
            self.problem(
                f"{here}/style", f"style of a {where} parameter: {', '.join(STYLES[where])}"
            )
            style = DEFAULT_STYLE[where]
        explode = p.get("explode", style in ("form", "cookie"))
        named = self.examples(p.get("examples"), f"{here}/examples")
        out: dict[str, Any] = {
            "name": p["name"],
            "in": where,
            "required": bool(p.get("required", False)),
            "description": text(p.get("description")),
            "deprecated": bool(p.get("deprecated", False)),
            "style": style,
            "explode": bool(explode),
            "allowReserved": bool(p.get("allowReserved", False)),
            "allowEmptyValue": bool(p.get("allowEmptyValue", False)),
            "schema": self.schema(p.get("schema"), f"{here}/schema"),
            "example": self._first_example(p, named),
            "examples": named,
        }
        if isinstance(p.get("content"), dict):
            out["content"] = self.media(p["content"], f"{here}/content")
            if out["content"] and not p.get("schema"):
                out["schema"] = out["content"][0]["schema"]
        return out

    def parameters(self, raw: Any, at: str) -> dict[tuple[str, str], dict[str, Any]]:
        out: dict[tuple[str, str], dict[str, Any]] = {}
        if raw is None:
            return out
        if not isinstance(raw, list):
            self.problem(at, "parameters must be an array")
            return out
        for i, node in enumerate(raw):
            p = self.parameter(node, f"{at}/{i}")
            if p is not None:
                out[(p["in"], p["name"])] = p
        return out

    def headers(self, raw: Any, at: str) -> list[dict[str, Any]]:
        out = []
        for name, node in raw.items() if isinstance(raw, dict) else ():
            h, here = self.obj(node, refs.escape_at(at, name), "a header")
            if h is None:
                continue
            named = self.examples(h.get("examples"), f"{here}/examples")
            out.append(
                {
                    "name": str(name),
                    "description": text(h.get("description")),
                    "required": bool(h.get("required", False)),
                    "deprecated": bool(h.get("deprecated", False)),
                    "style": "simple",
                    "explode": bool(h.get("explode", False)),
                    "schema": self.schema(h.get("schema"), f"{here}/schema"),
                    "example": self._first_example(h, named),
                    "examples": named,
                }
            )
        return out

    def media(self, raw: Any, at: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if raw is not None and not isinstance(raw, dict):
            self.problem(at, "content must be an object")
            return out
        for media_type, m in (raw or {}).items():
            here = refs.escape_at(at, media_type)
            if not isinstance(m, dict):
                self.problem(here, "a media type must be an object")
                continue
            named = self.examples(m.get("examples"), f"{here}/examples")
            entry: dict[str, Any] = {
                "mediaType": str(media_type),
                "schema": self.schema(m.get("schema"), f"{here}/schema"),
                "example": self._first_example(m, named),
                "examples": named,
            }
            encoding = m.get("encoding")
            if isinstance(encoding, dict) and encoding:
                entry["encoding"] = {
                    str(prop): self.encoding(e, refs.escape_at(f"{here}/encoding", prop))
                    for prop, e in encoding.items()
                    if isinstance(e, dict)
                }
            out.append(entry)
        return out

    def encoding(self, e: dict[str, Any], at: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if isinstance(e.get("contentType"), str):
            out["contentType"] = e["contentType"]
        if isinstance(e.get("headers"), dict):
            out["headers"] = self.headers(e["headers"], f"{at}/headers")
        for key in ("style", "explode", "allowReserved"):
            if key in e:
                out[key] = e[key]
        return out

    def links(self, raw: Any, at: str) -> list[dict[str, Any]]:
        out = []
        for name, node in raw.items() if isinstance(raw, dict) else ():
            link, _ = self.obj(node, refs.escape_at(at, name), "a link")
            if link is None:
                continue
            entry: dict[str, Any] = {
                "name": str(name),
                "description": text(link.get("description")),
            }
            for key in ("operationId", "operationRef", "parameters", "requestBody"):
                if key in link:
                    entry[key] = link[key]
            if isinstance(link.get("server"), dict):
                entry["server"] = link["server"]
            out.append(entry)
        return out

    def responses(self, raw: Any, at: str) -> list[dict[str, Any]]:
        out = []
        for code, node in raw.items() if isinstance(raw, dict) else ():
            r, here = self.obj(node, refs.escape_at(at, code), "a response")
            if r is None:
                continue
            out.append(
                {
                    "status": str(code),
                    "description": text(r.get("description")),
                    "headers": self.headers(r.get("headers"), f"{here}/headers"),
                    "content": self.media(r.get("content"), f"{here}/content"),
                    "links": self.links(r.get("links"), f"{here}/links"),
                }
            )
        return out

    def request_body(self, raw: Any, at: str) -> dict[str, Any] | None:
        if raw is None:
            return None
        body, here = self.obj(raw, at, "a request body")
        if body is None:
            return None
        return {
            "required": bool(body.get("required", False)),
            "description": text(body.get("description")),
            "content": self.media(body.get("content"), f"{here}/content"),
        }

    def security(self, raw: Any) -> list[dict[str, Any]]:
        """Flattened requirements; ``alt`` numbers the alternatives (any one suffices, all
        schemes of one alternative are needed together)."""
        out = []
        for alt, requirement in enumerate(raw if isinstance(raw, list) else []):
            if isinstance(requirement, dict):
                for name, scopes in requirement.items():
                    listed = scopes if isinstance(scopes, list) else []
                    out.append(
                        {"scheme": str(name), "scopes": [text(s) for s in listed], "alt": alt}
                    )
        return out
