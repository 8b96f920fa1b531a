"""Reading a recorded request back into values, by the OpenAPI 3 rules, written from the
specification's serialisation tables (independently of the sample generator): path, query,
header and cookie parameters by ``style``/``explode``; JSON, form-urlencoded (with
``encoding``) and multipart bodies; the credential by its security scheme."""

from __future__ import annotations

import base64
import contextlib
import email.parser
import email.policy
import json
import re
from typing import Any
from urllib.parse import unquote, unquote_plus

DEFAULT_STYLE = {"path": "simple", "header": "simple", "query": "form", "cookie": "form"}


def kind(schema: dict[str, Any]) -> str:
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "string")
    return str(t or ("object" if "properties" in schema else "string"))


def typed(text: str, schema: dict[str, Any]) -> Any:
    k = kind(schema)
    if k == "integer":
        return int(text)
    if k == "number":
        return float(text)
    if k == "boolean":
        return {"true": True, "false": False}[text]
    return text


def _props(schema: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = schema.get("properties") or {}
    return props


def _pairs(items: list[str], schema: dict[str, Any]) -> dict[str, Any]:
    """k,v,k,v → {k: v} (typed by the property schemas)."""
    props = _props(schema)
    return {items[i]: typed(items[i + 1], props.get(items[i], {})) for i in range(0, len(items), 2)}


def _kv(items: list[str], schema: dict[str, Any]) -> dict[str, Any]:
    """k=v pieces → {k: v}."""
    props = _props(schema)
    out = {}
    for item in items:
        k, _, v = item.partition("=")
        out[unquote(k)] = typed(unquote(v), props.get(unquote(k), {}))
    return out


def split_values(raw: str, schema: dict[str, Any], explode: bool, sep: str = ",") -> Any:
    """A ``simple``-like value: ``a,b`` (array), ``k,v,k,v`` / ``k=v,k=v`` (object)."""
    k = kind(schema)
    if k == "array":
        return [typed(unquote(x), schema.get("items") or {}) for x in raw.split(sep)]
    if k == "object":
        pieces = raw.split(sep)
        if explode:
            return _kv(pieces, schema)
        return _pairs([unquote(p) for p in pieces], schema)
    return typed(unquote(raw), schema)


def path_value(raw: str, name: str, style: str, explode: bool, schema: dict[str, Any]) -> Any:
    k = kind(schema)
    if style == "label":
        assert raw.startswith("."), raw
        rest = raw[1:]
        if k in ("array", "object"):
            return split_values(rest, schema, explode, ".")
        return typed(unquote(rest), schema)
    if style == "matrix":
        assert raw.startswith(";"), raw
        pieces = raw[1:].split(";")
        if k == "object" and explode:
            return _kv(pieces, schema)
        if k == "array" and explode:
            assert all(p.startswith(f"{name}=") for p in pieces), raw
            return [typed(unquote(p.split("=", 1)[1]), schema["items"]) for p in pieces]
        (only,) = pieces
        assert only.startswith(f"{name}="), raw
        return split_values(only.split("=", 1)[1], schema, False)
    return split_values(raw, schema, explode)


def query_pairs(raw_query: str) -> list[tuple[str, str]]:
    """(decoded name, raw value) pairs, in order."""
    out = []
    for piece in raw_query.split("&") if raw_query else []:
        k, _, v = piece.partition("=")
        out.append((unquote_plus(k), v))
    return out


def from_pairs(
    pairs: list[tuple[str, str]],
    name: str,
    style: str,
    explode: bool,
    schema: dict[str, Any],
    *,
    plus: bool = False,
) -> Any:
    """A query parameter (or a form field) from the request's pairs; raises KeyError when
    it was not sent."""
    dec = unquote_plus if plus else unquote
    k = kind(schema)
    if style == "deepObject":
        prefix = f"{name}["
        got = {key[len(prefix) : -1]: dec(v) for key, v in pairs if key.startswith(prefix)}
        if not got:
            raise KeyError(name)
        props = _props(schema)
        return {key: typed(v, props.get(key, {})) for key, v in got.items()}
    if k == "object" and explode and style == "form":
        props = _props(schema)
        got = {key: typed(dec(v), props[key]) for key, v in pairs if key in props}
        if not got:
            raise KeyError(name)
        return got
    values = [v for key, v in pairs if key == name]
    if not values:
        raise KeyError(name)
    if k == "array" and explode:
        return [typed(dec(v), schema.get("items") or {}) for v in values]
    (raw,) = values
    if style in ("spaceDelimited", "pipeDelimited"):
        items = dec(raw).split(" " if style == "spaceDelimited" else "|")
        if k == "object":
            return _pairs(items, schema)
        return [typed(x, schema.get("items") or {}) for x in items]
    if k in ("array", "object"):
        parts = [dec(p) for p in raw.split(",")]
        if k == "array":
            return [typed(p, schema.get("items") or {}) for p in parts]
        return _pairs(parts, schema)
    return typed(dec(raw), schema)


def cookies(header: str | None) -> list[tuple[str, str]]:
    out = []
    for piece in (header or "").split(";"):
        if "=" in piece:
            k, _, v = piece.strip().partition("=")
            out.append((k, v))
    return out


def header_value(raw: str, schema: dict[str, Any], explode: bool) -> Any:
    k = kind(schema)
    if k == "array":
        return [typed(x, schema.get("items") or {}) for x in raw.split(",")]
    if k == "object":
        pieces = raw.split(",")
        return _kv(pieces, schema) if explode else _pairs(pieces, schema)
    return typed(raw, schema)


def multipart(content_type: str, body: bytes) -> list[dict[str, Any]]:
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    parts = []
    for part in msg.iter_parts():
        parts.append(
            {
                "name": part.get_param("name", header="content-disposition"),
                "filename": part.get_filename(),
                "type": part.get_content_type() if part.get("content-type") else None,
                "headers": {k.lower(): v for k, v in part.items()},
                "content": part.get_payload(decode=True).decode(),
            }
        )
    return parts


def body_value(op: dict[str, Any], headers: dict[str, str], body: bytes) -> Any:
    content = op["requestBody"]["content"]
    ctype = headers["content-type"]
    mt = ctype.split(";")[0].strip().lower()
    media = content[next(k for k in content if k.lower() == mt)]
    schema = media.get("schema") or {}
    encoding = media.get("encoding") or {}
    if "json" in mt:
        return json.loads(body)
    if mt == "application/x-www-form-urlencoded":
        pairs = query_pairs(body.decode())
        out = {}
        for name, sub in _props(schema).items():
            e = encoding.get(name, {})
            if "json" in str(e.get("contentType", "")):
                found = [v for k, v in pairs if k == name]
                if found:
                    out[name] = json.loads(unquote_plus(found[0]))
                continue
            style = e.get("style", "form")
            explode = e.get("explode", style == "form")
            with contextlib.suppress(KeyError):  # not sent
                out[name] = from_pairs(pairs, name, style, explode, sub, plus=True)
        return out
    assert mt == "multipart/form-data", mt
    out: dict[str, Any] = {}
    for part in multipart(ctype, body):
        name = part["name"]
        sub = _props(schema).get(name, {})
        declared = encoding.get(name, {})
        if declared.get("contentType"):
            assert part["type"] == declared["contentType"], (name, part["type"])
        for h in declared.get("headers", {}):
            assert h.lower() in part["headers"], (name, h, part["headers"])
        if kind(sub) == "array" and "json" not in str(declared.get("contentType", "")):
            item_schema = sub.get("items") or {}
            out.setdefault(name, []).append(_part_value(part, item_schema))
        else:
            out[name] = _part_value(part, sub)
    return out


def _part_value(part: dict[str, Any], schema: dict[str, Any]) -> Any:
    if part["type"] and "json" in part["type"]:
        return json.loads(part["content"])
    if schema.get("format") == "binary":
        assert part["filename"], part
        return part["content"]
    return typed(part["content"], schema)


def credential(scheme: dict[str, Any], path: str, headers: dict[str, str]) -> str | None:
    """The credential the request carries, as the scheme places it."""
    kind_ = scheme["type"]
    if kind_ == "http" and scheme["scheme"] == "basic":
        value = headers.get("authorization", "")
        if not value.startswith("Basic "):
            return None
        return base64.b64decode(value[6:]).decode()
    if kind_ == "http" or kind_ in ("oauth2", "openIdConnect"):
        value = headers.get("authorization", "")
        return value[7:] if value.startswith("Bearer ") else None
    where, name = scheme["in"], scheme["name"]
    if where == "header":
        return headers.get(name.lower())
    if where == "query":
        found = [unquote_plus(v) for k, v in query_pairs(path.partition("?")[2]) if k == name]
        return found[-1] if found else None
    found = [unquote(v) for k, v in cookies(headers.get("cookie")) if k == name]
    return found[-1] if found else None


def parse_back(
    op: dict[str, Any], prefix: str, path: str, headers: dict[str, str], body: bytes
) -> dict[str, Any]:
    """Every parameter and the body of ``op`` (an OpenAPI operation as the spec wrote it,
    with ``path``) as sent; ``prefix`` is the server's path."""
    raw_path, _, raw_query = path.partition("?")
    template = prefix + op["path"]
    pattern = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]*)", re.escape(template)) + "$"
    match = re.match(pattern, raw_path)
    assert match, (raw_path, template)
    pairs = query_pairs(raw_query)
    jar = cookies(headers.get("cookie"))
    out: dict[str, Any] = {"path": {}, "query": {}, "header": {}, "cookie": {}}
    for p in op.get("parameters") or []:
        where, name, schema = p["in"], p["name"], p.get("schema") or {}
        style = p.get("style", DEFAULT_STYLE[where])
        explode = p.get("explode", style == "form")
        try:
            if where == "path":
                value = path_value(match.group(name), name, style, explode, schema)
            elif where == "query":
                value = from_pairs(pairs, name, style, explode, schema)
            elif where == "header":
                if name.lower() not in headers:
                    continue
                value = header_value(headers[name.lower()], schema, explode)
            else:
                value = from_pairs(jar, name, "form", explode, schema)
        except KeyError:
            continue
        out[where][name] = value
    if op.get("requestBody") and body:
        out["body"] = body_value(op, headers, body)
    return out
