"""Swagger 2.0 → OpenAPI 3.0, following both specifications, with a list of what changed.

What moves where (Swagger 2.0 → OpenAPI 3.0.3):

- ``host`` + ``basePath`` + ``schemes`` → ``servers`` (no ``schemes``: the scheme the document
  was fetched with, else https; no ``host``: the base path alone, relative to the document);
- ``definitions`` → ``components/schemas``; ``parameters`` → ``components/parameters`` (body
  parameters → ``components/requestBodies``); ``responses`` → ``components/responses``;
  ``securityDefinitions`` → ``components/securitySchemes``, every ``$ref`` rewritten to match;
- a ``body`` parameter → ``requestBody`` with one content entry per ``consumes`` media type;
  ``formData`` parameters → one ``requestBody`` object schema (``multipart/form-data`` when a
  file is among them or ``consumes`` says so, ``application/x-www-form-urlencoded`` otherwise);
- ``type``, ``format``, ``items``, ``enum``, bounds of a non-body parameter or header →
  its ``schema``; ``collectionFormat`` → ``style``/``explode`` (``csv``, the 2.0 default, is
  ``form`` not exploded in a query, ``simple`` in a path or header; ``ssv`` →
  ``spaceDelimited``; ``pipes`` → ``pipeDelimited``; ``multi`` → ``form`` exploded; ``tsv`` has
  no OpenAPI 3 style and is kept as ``form`` not exploded, noted);
- a response ``schema`` → ``content`` per ``produces`` media type; response ``examples`` (by
  media type) → that media type's ``example``;
- ``type: file`` → ``type: string, format: binary``; ``x-nullable`` → ``nullable``; a string
  ``discriminator`` → ``{propertyName: …}``; ``x-example`` → ``example``;
- ``basic`` security → ``http``/``basic``; OAuth2 ``flow`` → ``flows`` (``application`` →
  ``clientCredentials``, ``accessCode`` → ``authorizationCode``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from aforo.services.spec_import import refs
from aforo.services.spec_import.loader import Problem, Problems

TARGET = "3.0.3"
PARAM_IN = ("query", "header", "path", "formData", "body")
_SCHEMA_FIELDS = (
    "type",
    "format",
    "items",
    "enum",
    "default",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "multipleOf",
)
_REF_PREFIXES = (
    ("#/definitions/", "#/components/schemas/"),
    ("#/responses/", "#/components/responses/"),
)
_FLOWS = {
    "implicit": "implicit",
    "password": "password",
    "application": "clientCredentials",
    "accessCode": "authorizationCode",
}
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


class Converter:
    def __init__(self, data: dict[str, Any], problems: Problems, scheme: str | None) -> None:
        self.src = data
        self.problems = problems
        self.scheme = scheme
        self.done: Counter[str] = Counter()
        self.body_params = {
            name
            for name, p in (data.get("parameters") or {}).items()
            if isinstance(p, dict) and p.get("in") == "body"
        }
        self.form_params = {
            name
            for name, p in (data.get("parameters") or {}).items()
            if isinstance(p, dict) and p.get("in") == "formData"
        }

    def note(self, what: str, n: int = 1) -> None:
        self.done[what] += n

    def problem(self, at: str, message: str) -> None:
        self.problems.add(Problem(at, message))

    # -- schemas ---------------------------------------------------------------------------
    def ref(self, ref: str) -> str:
        file, fragment = refs.split(ref)
        local = "#" + fragment
        for old, new in _REF_PREFIXES:
            if local.startswith(old):
                self.note("$ref rewritten to its OpenAPI 3 component")
                return file + new + local[len(old) :]
        if local.startswith("#/parameters/"):
            name = refs.unescape_token(local[len("#/parameters/") :])
            kind = "requestBodies" if name in self.body_params else "parameters"
            self.note("$ref rewritten to its OpenAPI 3 component")
            return f"{file}#/components/{kind}/{refs.escape(name)}"
        return ref

    def schema(self, node: Any) -> Any:
        """A 2.0 schema as a 3.0 schema (recursively through every subschema keyword)."""
        if isinstance(node, list):
            return [self.schema(v) for v in node]
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out[key] = self.ref(value)
            elif key in refs.SCHEMA_ONE or key in refs.SCHEMA_LIST:
                out[key] = self.schema(value)
            elif key in refs.SCHEMA_MAP and isinstance(value, dict):
                out[key] = {k: self.schema(v) for k, v in value.items()}
            elif key == "x-nullable":
                out["nullable"] = bool(value)
                self.note("x-nullable → nullable")
            elif key == "x-example":
                out.setdefault("example", value)
            elif key == "discriminator" and isinstance(value, str):
                out[key] = {"propertyName": value}
                self.note("discriminator name → discriminator object")
            else:
                out[key] = value
        if out.get("type") == "file":
            out["type"] = "string"
            out["format"] = "binary"
            self.note("type: file → type: string, format: binary")
        return out

    def simple_schema(self, p: dict[str, Any]) -> dict[str, Any]:
        """The schema of a non-body parameter, header or items object (its own fields)."""
        out = {k: p[k] for k in _SCHEMA_FIELDS if k in p}
        if isinstance(out.get("items"), dict):
            out["items"] = self.simple_schema(out["items"])
        if out.get("type") == "file":
            out["type"] = "string"
            out["format"] = "binary"
            self.note("type: file → type: string, format: binary")
        if p.get("x-nullable"):
            out["nullable"] = True
        return out

    def style(self, where: str, fmt: Any, at: str) -> dict[str, Any]:
        fmt = fmt or "csv"
        if fmt == "multi":
            if where not in ("query", "formData"):
                self.problem(at, "collectionFormat multi is only valid in query or formData")
            self.note("collectionFormat multi → style form, explode true")
            return {"style": "form", "explode": True}
        if fmt == "csv":
            self.note("collectionFormat csv → style form/simple, explode false")
            return {"style": "simple" if where in ("path", "header") else "form", "explode": False}
        if fmt in ("ssv", "pipes") and where in ("query", "formData"):
            style = "spaceDelimited" if fmt == "ssv" else "pipeDelimited"
            self.note(f"collectionFormat {fmt} → style {style}")
            return {
                "style": style,
                "explode": False,
            }
        self.note(f"collectionFormat {fmt} in {where} has no OpenAPI 3 style: kept as a comma list")
        return {"style": "simple" if where in ("path", "header") else "form", "explode": False}

    # -- parameters ------------------------------------------------------------------------
    def parameter(self, p: dict[str, Any], at: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            k: p[k] for k in ("name", "in", "description", "required", "allowEmptyValue") if k in p
        }
        for k, v in p.items():
            if k.startswith("x-") and k not in ("x-example", "x-nullable"):
                out[k] = v
        out["schema"] = self.simple_schema(p)
        if p.get("type") == "array":
            out.update(self.style(p["in"], p.get("collectionFormat"), f"{at}/collectionFormat"))
        if "x-example" in p:
            out["example"] = p["x-example"]
            self.note("x-example → example")
        self.note("parameter type/format/items → schema")
        return out

    def split(
        self, raw: Any, at: str
    ) -> tuple[list[Any], dict[str, Any] | None, list[tuple[dict[str, Any], str]]]:
        """A parameter list → (non-body parameters, the body parameter, formData ones)."""
        params: list[Any] = []
        body: dict[str, Any] | None = None
        form: list[tuple[dict[str, Any], str]] = []
        if raw is None:
            return params, body, form
        if not isinstance(raw, list):
            self.problem(at, "parameters must be an array")
            return params, body, form
        for i, p in enumerate(raw):
            here = f"{at}/{i}"
            if isinstance(p, dict) and isinstance(p.get("$ref"), str):
                name = refs.unescape_token(refs.split(p["$ref"])[1].rsplit("/", 1)[-1])
                if name in self.body_params:
                    body = {"$ref": self.ref(p["$ref"])}
                elif name in self.form_params:
                    form.append((self.src["parameters"][name], f"/parameters/{refs.escape(name)}"))
                else:
                    params.append({"$ref": self.ref(p["$ref"])})
                continue
            if not isinstance(p, dict) or not isinstance(p.get("name"), str):
                self.problem(f"{here}/name", "a parameter needs a name")
                continue
            if p.get("in") not in PARAM_IN:
                self.problem(f"{here}/in", f"in must be one of {', '.join(PARAM_IN)}")
                continue
            if p["in"] == "body":
                body = p
            elif p["in"] == "formData":
                form.append((p, here))
            else:
                params.append(self.parameter(p, here))
        return params, body, form

    def body(self, p: dict[str, Any], consumes: list[str]) -> dict[str, Any]:
        if "$ref" in p:
            return p
        self.note("body parameter → requestBody")
        schema = self.schema(p.get("schema") or {})
        out: dict[str, Any] = {
            "content": {m: {"schema": schema} for m in consumes},
            "required": bool(p.get("required", False)),
        }
        if p.get("description"):
            out["description"] = p["description"]
        if isinstance(p.get("name"), str):
            out["x-body-name"] = p["name"]
        return out

    def form(self, params: list[tuple[dict[str, Any], str]], consumes: list[str]) -> dict[str, Any]:
        has_file = any(p.get("type") == "file" for p, _ in params)
        media = MULTIPART if has_file or (MULTIPART in consumes and FORM not in consumes) else FORM
        props: dict[str, Any] = {}
        required: list[str] = []
        encoding: dict[str, Any] = {}
        for p, at in params:
            prop = self.simple_schema(p)
            if p.get("description"):
                prop["description"] = p["description"]
            props[p["name"]] = prop
            if p.get("required"):
                required.append(p["name"])
            if p.get("type") == "array":
                encoding[p["name"]] = self.style("formData", p.get("collectionFormat"), at)
        self.note(f"formData parameters → requestBody {media}")
        schema: dict[str, Any] = {"type": "object", "properties": props}
        if required:
            schema["required"] = required
        entry: dict[str, Any] = {"schema": schema}
        if encoding:
            entry["encoding"] = encoding
        return {"content": {media: entry}, "required": bool(required)}

    # -- responses -------------------------------------------------------------------------
    def response(self, r: Any, produces: list[str]) -> Any:
        if not isinstance(r, dict):
            return r
        if isinstance(r.get("$ref"), str):
            return {"$ref": self.ref(r["$ref"])}
        out: dict[str, Any] = {"description": r.get("description", "")}
        content: dict[str, Any] = {}
        if "schema" in r:
            schema = self.schema(r["schema"])
            content = {m: {"schema": schema} for m in produces}
            self.note("response schema → content")
        examples = r.get("examples")
        if isinstance(examples, dict):
            for media, value in examples.items():
                content.setdefault(str(media), {})["example"] = value
                self.note("response examples → content example")
        if content:
            out["content"] = content
        headers = r.get("headers")
        if isinstance(headers, dict):
            out["headers"] = {}
            for name, h in headers.items():
                if not isinstance(h, dict):
                    continue
                header: dict[str, Any] = {"schema": self.simple_schema(h)}
                if h.get("description"):
                    header["description"] = h["description"]
                if h.get("type") == "array":
                    header.update(self.style("header", h.get("collectionFormat"), ""))
                out["headers"][name] = header
                self.note("response header type → schema")
        return out

    # -- security --------------------------------------------------------------------------
    def security_scheme(self, s: Any, at: str) -> Any:
        if not isinstance(s, dict):
            return s
        kind = s.get("type")
        base = {"description": s["description"]} if s.get("description") else {}
        if kind == "basic":
            self.note("basic security → http basic")
            return {**base, "type": "http", "scheme": "basic"}
        if kind == "apiKey":
            return {**base, **{k: s[k] for k in ("type", "name", "in") if k in s}}
        if kind == "oauth2":
            flow = _FLOWS.get(s.get("flow", ""))
            if flow is None:
                self.problem(
                    f"{at}/flow", "flow must be implicit, password, application or accessCode"
                )
                return {**base, "type": "oauth2", "flows": {}}
            entry = {k: s[k] for k in ("authorizationUrl", "tokenUrl") if k in s}
            entry["scopes"] = s.get("scopes") or {}
            self.note("oauth2 flow → flows")
            return {**base, "type": "oauth2", "flows": {flow: entry}}
        self.problem(f"{at}/type", "type must be basic, apiKey or oauth2")
        return s

    # -- the document ----------------------------------------------------------------------
    def servers(self) -> list[dict[str, Any]]:
        host = self.src.get("host")
        base = self.src.get("basePath") or ""
        if not isinstance(base, str):
            base = ""
        if not isinstance(host, str) or not host:
            return [{"url": base or "/"}] if base else []
        schemes = self.src.get("schemes")
        if not isinstance(schemes, list) or not schemes:
            schemes = [self.scheme or "https"]
            self.note(f"no schemes: {schemes[0]} assumed for the server")
        self.note("host, basePath and schemes → servers")
        return [{"url": f"{s}://{host}{base}"} for s in schemes if isinstance(s, str)]

    def convert(self) -> dict[str, Any]:
        src = self.src
        out: dict[str, Any] = {"openapi": TARGET}
        for key, value in src.items():
            if key.startswith("x-") or key in ("info", "tags", "externalDocs", "security"):
                out[key] = value
        servers = self.servers()
        if servers:
            out["servers"] = servers
        consumes = _list(src.get("consumes")) or ["application/json"]
        produces = _list(src.get("produces")) or ["application/json"]
        components: dict[str, Any] = {}
        definitions = src.get("definitions")
        if isinstance(definitions, dict):
            components["schemas"] = {k: self.schema(v) for k, v in definitions.items()}
            self.note("definitions → components/schemas", len(definitions))
        global_params = src.get("parameters")
        if isinstance(global_params, dict):
            for name, p in global_params.items():
                at = refs.escape_at("/parameters", name)
                if not isinstance(p, dict) or p.get("in") not in PARAM_IN:
                    self.problem(f"{at}/in", f"in must be one of {', '.join(PARAM_IN)}")
                elif p["in"] == "body":
                    components.setdefault("requestBodies", {})[name] = self.body(p, consumes)
                elif p["in"] != "formData":  # inlined into each operation's form body
                    components.setdefault("parameters", {})[name] = self.parameter(p, at)
        if isinstance(src.get("responses"), dict):
            components["responses"] = {
                k: self.response(v, produces) for k, v in src["responses"].items()
            }
        if isinstance(src.get("securityDefinitions"), dict):
            components["securitySchemes"] = {
                k: self.security_scheme(v, refs.escape_at("/securityDefinitions", k))
                for k, v in src["securityDefinitions"].items()
            }
            self.note("securityDefinitions → components/securitySchemes")
        if components:
            out["components"] = components
        paths: dict[str, Any] = {}
        raw_paths = src.get("paths")
        if not isinstance(raw_paths, dict):
            self.problem("/paths", "paths is required and must be an object")
            raw_paths = {}
        for path, item in raw_paths.items():
            at = refs.escape_at("/paths", path)
            if not isinstance(item, dict):
                paths[path] = item
                continue
            if isinstance(item.get("$ref"), str):
                paths[path] = {"$ref": self.ref(item["$ref"])}
                continue
            shared, shared_body, shared_form = self.split(
                item.get("parameters"), f"{at}/parameters"
            )
            converted: dict[str, Any] = {}
            if shared:
                converted["parameters"] = shared
            for key, op in item.items():
                if key == "parameters":
                    continue
                if key not in ("get", "put", "post", "delete", "options", "head", "patch"):
                    converted[key] = op
                    continue
                if isinstance(op, dict):
                    converted[key] = self.operation(
                        op, f"{at}/{key}", consumes, produces, shared_body, shared_form
                    )
            paths[path] = converted
        out["paths"] = paths
        return out

    def operation(
        self,
        op: dict[str, Any],
        at: str,
        consumes: list[str],
        produces: list[str],
        shared_body: dict[str, Any] | None,
        shared_form: list[tuple[dict[str, Any], str]],
    ) -> dict[str, Any]:
        out = {
            k: v
            for k, v in op.items()
            if k not in ("parameters", "responses", "consumes", "produces", "schemes")
        }
        op_consumes = _list(op.get("consumes")) or consumes
        op_produces = _list(op.get("produces")) or produces
        params, body, form = self.split(op.get("parameters"), f"{at}/parameters")
        body = body or shared_body
        named = {p["name"] for p, _ in form}
        form = form + [f for f in shared_form if f[0]["name"] not in named]
        if params:
            out["parameters"] = params
        if body is not None:
            out["requestBody"] = self.body(body, op_consumes)
        elif form:
            out["requestBody"] = self.form(form, op_consumes)
        responses = op.get("responses")
        if isinstance(responses, dict):
            out["responses"] = {k: self.response(v, op_produces) for k, v in responses.items()}
        else:
            self.problem(f"{at}/responses", "responses is required")
        if "schemes" in op:
            self.note("operation schemes dropped (servers are per document in this import)")
        return out

    def conversions(self) -> list[dict[str, Any]]:
        return [{"change": what, "count": n} for what, n in self.done.items()]


def _list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def convert(
    data: dict[str, Any], problems: Problems, *, scheme: str | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The OpenAPI 3.0 form of a Swagger 2.0 document, and what was converted (each kind of
    change once, with how often it was made)."""
    if str(data.get("swagger")) != "2.0":
        problems.add(Problem("/swagger", 'swagger must be "2.0"'))
        return data, []
    c = Converter(data, problems, scheme)
    c.note(f"swagger 2.0 → openapi {TARGET}")
    out = c.convert()
    return out, c.conversions()


def source_pointer(ptr: str) -> str:
    """Where a problem found in the converted document is in the 2.0 source (roughly: the
    object it came from)."""
    for new, old in (
        ("/components/schemas/", "/definitions/"),
        ("/components/responses/", "/responses/"),
        ("/components/parameters/", "/parameters/"),
        ("/components/requestBodies/", "/parameters/"),
        ("/components/securitySchemes/", "/securityDefinitions/"),
    ):
        if ptr.startswith(new):
            return old + ptr[len(new) :]
    for marker in ("/requestBody", "/content/"):
        if marker in ptr:
            return ptr.split(marker, 1)[0] + ("/parameters" if marker == "/requestBody" else "")
    return ptr


def scheme_of(url: str | None) -> str | None:
    return urlsplit(url).scheme.lower() or None if url else None
