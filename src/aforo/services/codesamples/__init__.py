"""Code samples for every operation, in 8 languages, from one template per language.

The request is worked out once (``build_request``: URL with encoded path and query values, headers,
body) and every template only spells it out. Templates are Jinja2 with autoescape off, so every
value goes through the language's quoting filter (``|sh``, ``|py``, ``|java`` …): a quote, a
backslash, a ``$`` or an emoji in a spec example can never break out of a string literal. The
credential is read from an environment variable, never written into a sample.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import jinja2

from aforo.services.spec_import import examples

LANGUAGES = ("CURL", "NODE", "PYTHON", "JAVA", "GO", "RUBY", "PHP", "CSHARP")
TEMPLATES = {
    "CURL": "curl.sh.j2",
    "NODE": "node.mjs.j2",
    "PYTHON": "python.py.j2",
    "JAVA": "java.java.j2",
    "GO": "go.go.j2",
    "RUBY": "ruby.rb.j2",
    "PHP": "php.php.j2",
    "CSHARP": "csharp.cs.j2",
}
ENV_VAR = "API_KEY"
DEFAULT_SERVER = "https://api.example.com"
MAX_SELECTION = 12


# -- quoting, one filter per language --------------------------------------------------------
def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def q_sh(value: Any) -> str:
    return "'" + _text(value).replace("'", "'\\''") + "'"


def q_sh_dq(value: Any) -> str:
    """Inside "…" in a shell: only these four characters are special."""
    return re.sub(r'([\\"$`])', r"\\\1", _text(value))


def q_json(value: Any) -> str:
    """A JSON string literal is a valid Python, JavaScript and Go string literal."""
    out = json.dumps(_text(value), ensure_ascii=False)
    return out.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _c_like(value: Any, *, octal: bool) -> str:
    out = []
    for ch in _text(value):
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif o < 0x20 or o == 0x7F:
            # Java turns \\u000a into a real line break before lexing; octal escapes are safe.
            out.append(f"\\{o:03o}" if octal else f"\\u{o:04x}")
        elif o < 0x80:
            out.append(ch)
        elif o > 0xFFFF:
            o -= 0x10000
            out.append(f"\\u{0xD800 + (o >> 10):04x}\\u{0xDC00 + (o & 0x3FF):04x}")
        else:
            out.append(f"\\u{o:04x}")
    return '"' + "".join(out) + '"'


def q_java(value: Any) -> str:
    return _c_like(value, octal=True)


def q_cs(value: Any) -> str:
    return _c_like(value, octal=False)


def q_single(value: Any) -> str:
    """Ruby and PHP single-quoted strings: only \\ and ' are escapes; nothing interpolates."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "'" + _text(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


_env = jinja2.Environment(
    loader=jinja2.PackageLoader("aforo.services.codesamples", "templates"),
    autoescape=False,  # noqa: S701 - not HTML; every value passes a language quoting filter
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)
_env.filters.update(
    sh=q_sh,
    sh_dq=q_sh_dq,
    py=q_json,
    js=q_json,
    go=q_json,
    java=q_java,
    cs=q_cs,
    rb=q_single,
    php=q_single,
)


# -- the request -----------------------------------------------------------------------------
@dataclass
class Header:
    name: str
    value: str

    @property
    def line(self) -> str:
        return f"{self.name}: {self.value}"


@dataclass
class Auth:
    name: str
    prefix: str
    env: str = ENV_VAR

    @property
    def label(self) -> str:
        return f"{self.name}: {self.prefix}"


@dataclass
class SampleRequest:
    method: str
    url: str
    headers: list[Header] = field(default_factory=list)
    auth: Auth | None = None
    body: str | None = None
    content_type: str | None = None


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _auth(security: list[dict[str, Any]], schemes: dict[str, Any]) -> tuple[Auth | None, str]:
    """The first header-borne scheme; an apiKey in the query string is returned as its name."""
    for requirement in security:
        scheme = schemes.get(requirement.get("scheme", ""))
        if not scheme:
            continue
        if scheme["type"] == "http" and scheme.get("scheme", "").lower() == "bearer":
            return Auth("Authorization", "Bearer "), ""
        if scheme["type"] == "http" and scheme.get("scheme", "").lower() == "basic":
            return Auth("Authorization", "Basic "), ""
        if scheme["type"] in ("oauth2", "openIdConnect"):
            return Auth("Authorization", "Bearer "), ""
        if scheme["type"] == "apiKey" and scheme.get("in") == "header":
            return Auth(scheme["name"], ""), ""
        if scheme["type"] == "apiKey" and scheme.get("in") == "cookie":
            return Auth("Cookie", f"{scheme['name']}="), ""
    return None, ""


def _server(op: dict[str, Any], servers: list[dict[str, Any]], override: str | None) -> str:
    url = override or next((s["url"] for s in op.get("servers") or []), None)
    url = url or next((s["url"] for s in servers), None) or DEFAULT_SERVER
    if not url.lower().startswith(("http://", "https://")):
        url = DEFAULT_SERVER + "/" + url.lstrip("/")
    return url.rstrip("/")


def _body(op: dict[str, Any]) -> tuple[str | None, str | None]:
    body = op.get("requestBody")
    if not body or not body.get("content"):
        return None, None
    contents = body["content"]
    media = next((c for c in contents if "json" in c["mediaType"]), None)
    if media is not None:
        value = examples.for_media(media)
        return json.dumps(value, ensure_ascii=False), media["mediaType"]
    media = next(
        (c for c in contents if c["mediaType"] == "application/x-www-form-urlencoded"), None
    )
    if media is not None:
        value = examples.for_media(media)
        pairs = value.items() if isinstance(value, dict) else []
        return urlencode([(k, _scalar(v)) for k, v in pairs]), media["mediaType"]
    media = contents[0]
    return _scalar(examples.for_media(media) or ""), media["mediaType"]


def build_request(
    op: dict[str, Any],
    *,
    servers: list[dict[str, Any]],
    schemes: dict[str, Any],
    server_url: str | None = None,
    graphql: bool = False,
) -> SampleRequest:
    base = _server(op, servers, server_url)
    if graphql:
        return _graphql_request(op, base)
    path = op["path"]
    query: list[tuple[str, str]] = []
    headers: list[Header] = []
    cookies: list[str] = []
    for p in op["parameters"]:
        if not p["required"] and p.get("example") is None:
            continue  # optional parameters appear only when the spec shows an example
        value = examples.for_parameter(p)
        if p["in"] == "path":
            path = path.replace("{" + p["name"] + "}", quote(_scalar(value), safe=""))
        elif p["in"] == "query":
            values = value if isinstance(value, list) else [value]
            query.extend((p["name"], _scalar(v)) for v in values)
        elif p["in"] == "header":
            headers.append(Header(p["name"], _scalar(value)))
        elif p["in"] == "cookie":
            cookies.append(f"{p['name']}={quote(_scalar(value), safe='')}")
    if cookies:
        headers.append(Header("Cookie", "; ".join(cookies)))
    url = base + path + ("?" + urlencode(query, quote_via=quote) if query else "")
    auth, _ = _auth(op.get("security") or [], schemes)
    body, content_type = _body(op)
    if content_type:
        headers.append(Header("Content-Type", content_type))
    return SampleRequest(op["method"], url, headers, auth, body, content_type)


def _selection(schema: dict[str, Any], depth: int = 0) -> str:
    """Scalar fields of the return type (and one level into objects), so the query is valid."""
    if schema.get("type") == "array":
        return _selection(schema.get("items") or {}, depth)
    if "oneOf" in schema:
        return "{ __typename }"
    props = schema.get("properties")
    if schema.get("type") != "object":
        return ""
    if not props:
        return "{ __typename }"
    fields = []
    for name, sub in props.items():
        inner = sub.get("items", sub) if sub.get("type") == "array" else sub
        if inner.get("type") != "object" and "oneOf" not in inner:
            fields.append(name)
        elif depth < 1 and inner.get("properties"):
            nested = _selection(inner, depth + 1)
            if nested:
                fields.append(f"{name} {nested}")
        if len(fields) >= MAX_SELECTION:
            break
    return "{ " + " ".join(fields or ["__typename"]) + " }"


def _graphql_request(op: dict[str, Any], url: str) -> SampleRequest:
    kind = op["method"].lower()
    name = op["path"]
    chosen = [p for p in op["parameters"] if p["required"] or p.get("example") is not None]
    op_name = name[:1].upper() + name[1:]
    decl = ", ".join(f"${p['name']}: {p['schema']['x-graphql-type']}" for p in chosen)
    args = ", ".join(f"{p['name']}: ${p['name']}" for p in chosen)
    result = op["responses"][0]["content"][0]["schema"] if op["responses"] else {}
    selection = _selection(result)
    document = (
        f"{kind} {op_name}{f'({decl})' if decl else ''} "
        f"{{ {name}{f'({args})' if args else ''}{f' {selection}' if selection else ''} }}"
    )
    variables = {p["name"]: examples.for_parameter(p) for p in chosen}
    body = json.dumps({"query": document, "variables": variables}, ensure_ascii=False)
    return SampleRequest(
        "POST",
        url,
        [Header("Content-Type", "application/json")],
        Auth("Authorization", "Bearer "),
        body,
        "application/json",
    )


def render(language: str, request: SampleRequest) -> str:
    template = _env.get_template(TEMPLATES[language])
    plain = [h for h in request.headers if h.name.lower() != "content-type"]
    return template.render(
        method=request.method,
        url=request.url,
        headers=request.headers,
        plain_headers=plain,
        auth=request.auth,
        body=request.body,
        has_body=request.body is not None,
        content_type=request.content_type or "",
    )
