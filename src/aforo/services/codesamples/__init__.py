"""Code samples for every operation, in 8 languages, from one template per language.

The request is worked out once (``build_request``) following OpenAPI's serialisation rules
(``serialize``: ``style``/``explode`` per parameter location, form and multipart bodies with
their ``encoding``), with values that satisfy the schemas (``spec_import.examples``); every
template only spells it out. Templates are Jinja2 with autoescape off, so every value goes
through the language's quoting filter (``quoting``).

Credentials are read at run time, never written into a sample: a bearer token or API key from
``$API_KEY`` (in a header, the query string or a cookie, as the spec's scheme says); HTTP Basic
from ``$API_USERNAME`` and ``$API_PASSWORD``, base64-encoded by the sample itself.

Which parameters: every required one, plus optional ones that carry an example, a default or
an enum, and, when that leaves the query empty, the first two optional query parameters (a
search endpoint is shown searching). Deprecated optional parameters are left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import jinja2

from aforo.services.codesamples import graphql as graphql_samples
from aforo.services.codesamples import serialize
from aforo.services.codesamples.quoting import FILTERS, q_sh
from aforo.services.spec_import import examples, schemas

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
USER_ENV = "API_USERNAME"
PASSWORD_ENV = "API_PASSWORD"  # noqa: S105 - the name of a variable, not a secret
DEFAULT_SERVER = "https://api.example.com"
# OpenAPI: header parameters with these names are ignored (the request says them otherwise)
IGNORED_HEADERS = {"accept", "content-type", "authorization"}
DEFAULT_STYLE = {"path": "simple", "header": "simple", "query": "form", "cookie": "form"}
MAX_OPTIONAL = 5
SAMPLE_DEPTH = 4  # levels of components a sample's values may need

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("aforo.services.codesamples", "templates"),
    autoescape=False,  # noqa: S701 - not HTML; every value passes a language quoting filter
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=False,
)
_env.filters.update(FILTERS)


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
    """``header``: ``name: prefix + $env``; ``query``: the URL + ``prefix`` + the encoded
    ``$env``; ``basic``: ``Authorization: Basic base64($API_USERNAME:$API_PASSWORD)``."""

    name: str
    prefix: str = ""
    env: str = ENV_VAR
    kind: str = "header"
    user_env: str = USER_ENV
    password_env: str = PASSWORD_ENV

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
    parts: list[serialize.Part] | None = None  # a multipart body, part by part (curl -F)
    values: dict[str, Any] = field(default_factory=dict)  # what was chosen, by location


def _auth(
    security: list[dict[str, Any]], schemes: dict[str, Any], cookies: list[str], has_query: bool
) -> Auth | None:
    """The first scheme of the first alternative a sample can carry."""
    for requirement in security:
        scheme = schemes.get(requirement.get("scheme", ""))
        if not scheme:
            continue
        kind = scheme.get("type")
        http = str(scheme.get("scheme", "")).lower()
        if kind == "http" and http == "basic":
            return Auth("Authorization", kind="basic")
        if (kind == "http" and http == "bearer") or kind in ("oauth2", "openIdConnect"):
            return Auth("Authorization", "Bearer ")
        if kind == "http":
            return Auth("Authorization", f"{scheme.get('scheme')} ")
        if kind == "apiKey" and scheme.get("in") == "header":
            return Auth(scheme["name"])
        if kind == "apiKey" and scheme.get("in") == "query":
            sep = "&" if has_query else "?"
            return Auth(scheme["name"], f"{sep}{serialize.enc(scheme['name'])}=", kind="query")
        if kind == "apiKey" and scheme.get("in") == "cookie":
            # one Cookie header: the other cookies, then the credential
            return Auth("Cookie", "".join(f"{c}; " for c in cookies) + f"{scheme['name']}=")
    return None


def _server(op: dict[str, Any], servers: list[dict[str, Any]], override: str | None) -> str:
    url = override or next((s["url"] for s in op.get("servers") or []), None)
    url = url or next((s["url"] for s in servers), None) or DEFAULT_SERVER
    if not url.lower().startswith(("http://", "https://")):
        url = DEFAULT_SERVER + "/" + url.lstrip("/")
    return url.rstrip("/")


def _chosen(params: list[dict[str, Any]]) -> list[dict[str, Any]]:
    required = [p for p in params if p["required"]]
    shown = [
        p
        for p in params
        if not p["required"]
        and not p.get("deprecated")
        and (p.get("example") is not None or _hinted(p.get("schema")))
    ][:MAX_OPTIONAL]
    if not any(p["in"] == "query" for p in required + shown):
        shown += [
            p
            for p in params
            if p["in"] == "query" and not p["required"] and not p.get("deprecated")
        ][:2]
    picked = {id(p) for p in required + shown}
    return [p for p in params if id(p) in picked]


def _hinted(schema: Any) -> bool:
    return isinstance(schema, dict) and any(
        k in schema for k in ("example", "examples", "default", "enum")
    )


def _body(
    op: dict[str, Any], components: dict[str, Any]
) -> tuple[str | None, str | None, list[serialize.Part] | None, Any]:
    body = op.get("requestBody")
    if not body or not body.get("content"):
        return None, None, None, None
    contents = body["content"]
    media = next((c for c in contents if "json" in c["mediaType"].lower()), None)
    if media is not None:
        value = examples.for_media(media, components)
        return json.dumps(value, ensure_ascii=False), media["mediaType"], None, value
    for c in contents:
        mt = c["mediaType"].lower()
        if mt.startswith("application/x-www-form-urlencoded"):
            value = examples.for_media(c, components)
            return serialize.form_body(value, c.get("encoding") or {}), c["mediaType"], None, value
        if mt.startswith("multipart/"):
            value = examples.for_media(c, components)
            schema, _ = schemas.resolve(c.get("schema") or {}, components)
            merged = schemas.merged(schema, components)
            props = {
                k: schemas.resolve(v, components)[0]
                for k, v in ((merged or {}).get("properties") or {}).items()
            }
            encoding = c.get("encoding") or {}
            headers = {
                prop: [
                    (
                        h["name"],
                        serialize.header_value(examples.for_parameter(h, components), False),
                    )
                    for h in e.get("headers") or []
                    if h["name"].lower() != "content-type"
                ]
                for prop, e in encoding.items()
                if isinstance(e, dict)
            }
            parts = serialize.multipart_parts(value, props, encoding, headers)
            ctype = f"{c['mediaType']}; boundary={serialize.BOUNDARY}"
            return serialize.multipart_body(parts), ctype, parts, value
    media = contents[0]
    value = examples.for_media(media, components)
    return serialize.scalar(value if value is not None else ""), media["mediaType"], None, value


def build_request(
    op: dict[str, Any],
    *,
    servers: list[dict[str, Any]],
    schemes: dict[str, Any],
    server_url: str | None = None,
    graphql: bool = False,
    components: dict[str, Any] | None = None,
) -> SampleRequest:
    """``components``: the component bodies the operation's schemas reach (by ref); without
    them, referenced schemas give no value."""
    components = components or {}
    base = _server(op, servers, server_url)
    if graphql:
        return _graphql_request(op, base, components)
    path = op["path"]
    query: list[str] = []
    headers: list[Header] = []
    cookies: list[str] = []
    values: dict[str, dict[str, Any]] = {"path": {}, "query": {}, "header": {}, "cookie": {}}
    for p in _chosen(op["parameters"]):
        if p["in"] == "header" and p["name"].lower() in IGNORED_HEADERS:
            continue
        value = examples.for_parameter(p, components)
        values[p["in"]][p["name"]] = value
        style = p.get("style") or DEFAULT_STYLE[p["in"]]
        explode = bool(p.get("explode", style == "form"))
        if p["in"] == "path":
            rendered = serialize.path_value(p["name"], value, style, explode)
            path = path.replace("{" + p["name"] + "}", rendered)
        elif p["in"] == "query":
            query += serialize.query_pairs(
                p["name"], value, style, explode, bool(p.get("allowReserved"))
            )
        elif p["in"] == "header":
            headers.append(Header(p["name"], serialize.header_value(value, explode)))
        elif p["in"] == "cookie":
            cookies += serialize.cookie_pairs(p["name"], value, explode)
    url = base + path + ("?" + "&".join(query) if query else "")
    auth = _auth(op.get("security") or [], schemes, cookies, bool(query))
    if cookies and not (auth and auth.name == "Cookie"):
        headers.append(Header("Cookie", "; ".join(cookies)))
    body, content_type, parts, body_value = _body(op, components)
    if content_type:
        headers.append(Header("Content-Type", content_type))
    request = SampleRequest(op["method"], url, headers, auth, body, content_type, parts, values)
    if body is not None:
        request.values["body"] = body_value
    return request


def _graphql_request(op: dict[str, Any], url: str, components: dict[str, Any]) -> SampleRequest:
    document, variables = graphql_samples.document(op, components)
    body = json.dumps({"query": document, "variables": variables}, ensure_ascii=False)
    return SampleRequest(
        "POST",
        url,
        [Header("Content-Type", "application/json")],
        Auth("Authorization", "Bearer "),
        body,
        "application/json",
        values={"query": document, "variables": variables},
    )


def _form_arg(part: serialize.Part) -> str:
    """A ``curl --form`` argument: the value double-quoted (curl's own syntax), so ``;``,
    ``,``, a leading ``@`` or ``<`` are taken literally."""
    value = part.content.replace("\\", "\\\\").replace('"', '\\"')
    arg = f'{part.name}="{value}"'
    if part.filename:
        arg += f";filename={part.filename}"
    if part.content_type:
        arg += f";type={part.content_type}"
    for k, v in part.headers:
        arg += f';headers="{k}: {v}"'
    return q_sh(arg)


def render(language: str, request: SampleRequest) -> str:
    template = _env.get_template(TEMPLATES[language])
    plain = [h for h in request.headers if h.name.lower() != "content-type"]
    curl_headers = request.headers
    if request.parts is not None:  # curl writes its own multipart Content-Type
        curl_headers = plain
    return template.render(
        method=request.method,
        url=request.url,
        headers=request.headers,
        plain_headers=plain,
        curl_headers=curl_headers,
        auth=request.auth,
        body=request.body,
        has_body=request.body is not None,
        content_type=request.content_type or "",
        form_args=[_form_arg(p) for p in request.parts] if request.parts is not None else None,
        globoff=any(c in request.url for c in "[]{}"),
    )
