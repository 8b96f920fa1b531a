"""Serialising values the way OpenAPI 3 says: by ``style`` and ``explode`` for path, query,
header and cookie parameters (the specification's style table, RFC 6570 underneath), and
``application/x-www-form-urlencoded`` / ``multipart/form-data`` bodies with ``encoding``.

With ``color`` = ``"blue"`` / ``["blue", "black"]`` / ``{"R": 100, "G": 200}``:

=============== ======= ============ ======================== ==========================
style           explode string       array                    object
=============== ======= ============ ======================== ==========================
simple          false   blue         blue,black               R,100,G,200
simple          true    blue         blue,black               R=100,G=200
label           false   .blue        .blue.black              .R.100.G.200
label           true    .blue        .blue.black              .R=100.G=200
matrix          false   ;color=blue  ;color=blue,black        ;color=R,100,G,200
matrix          true    ;color=blue  ;color=blue;color=black  ;R=100;G=200
form            false   color=blue   color=blue,black         color=R,100,G,200
form            true    color=blue   color=blue&color=black   R=100&G=200
spaceDelimited  false   —            color=blue%20black       color=R%20100%20G%20200
pipeDelimited   false   —            color=blue%7Cblack       color=R%7C100%7CG%7C200
deepObject      true    —            —                        color%5BR%5D=100&color%5BG%5D=200
=============== ======= ============ ======================== ==========================

Values are percent-encoded (every character but the unreserved ones, unless
``allowReserved``); the delimiters the style adds are not (``,`` ``.`` ``;`` ``=`` ``&``), except
the space and the pipe of the delimited styles (``%20``, ``%7C``, as OpenAPI 3.1.1 spells them)
and the brackets of ``deepObject`` (``%5B``/``%5D``: RFC 3986 does not allow them raw in a query,
and Java's and Ruby's URI parsers refuse them). Header values are not percent-encoded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aforo.services.spec_import.model import obj

RESERVED = ":/?#[]@!$&'()*+,;="
BOUNDARY = "AforoSampleBoundary7MA4YWxkTrZu0gW"


def scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def enc(value: Any, allow_reserved: bool = False) -> str:
    return quote(scalar(value), safe=RESERVED if allow_reserved else "")


def _flat(value: dict[str, Any], allow_reserved: bool = False) -> list[str]:
    out = []
    for k, v in value.items():
        out += [enc(k, allow_reserved), enc(v, allow_reserved)]
    return out


def path_value(name: str, value: Any, style: str, explode: bool) -> str:
    """What replaces ``{name}`` in the path."""
    if style == "label":
        if isinstance(value, list):
            return "." + ".".join(enc(v) for v in value)
        if isinstance(value, dict):
            if explode:
                return "." + ".".join(f"{enc(k)}={enc(v)}" for k, v in value.items())
            return "." + ".".join(_flat(value))
        return "." + enc(value)
    if style == "matrix":
        if isinstance(value, list):
            if explode:
                return "".join(f";{enc(name)}={enc(v)}" for v in value)
            return f";{enc(name)}=" + ",".join(enc(v) for v in value)
        if isinstance(value, dict):
            if explode:
                return "".join(f";{enc(k)}={enc(v)}" for k, v in value.items())
            return f";{enc(name)}=" + ",".join(_flat(value))
        return f";{enc(name)}={enc(value)}"
    # simple
    if isinstance(value, list):
        return ",".join(enc(v) for v in value)
    if isinstance(value, dict):
        if explode:
            return ",".join(f"{enc(k)}={enc(v)}" for k, v in value.items())
        return ",".join(_flat(value))
    return enc(value)


def query_pairs(
    name: str, value: Any, style: str, explode: bool, allow_reserved: bool = False
) -> list[str]:
    """``name=value`` pieces (already encoded) a query string (or a form body) is made of."""
    n = enc(name)
    if style == "deepObject" and isinstance(value, dict):
        return _deep(n, value, allow_reserved)
    if style in ("spaceDelimited", "pipeDelimited") and not explode:
        sep = "%20" if style == "spaceDelimited" else "%7C"
        if isinstance(value, list):
            return [f"{n}=" + sep.join(enc(v, allow_reserved) for v in value)]
        if isinstance(value, dict):
            return [f"{n}=" + sep.join(_flat(value, allow_reserved))]
    # form (and the delimited styles' exploded forms, which are form's)
    if isinstance(value, list):
        if explode:
            return [f"{n}={enc(v, allow_reserved)}" for v in value] if value else [f"{n}="]
        return [f"{n}=" + ",".join(enc(v, allow_reserved) for v in value)]
    if isinstance(value, dict):
        if explode:
            return [f"{enc(k)}={enc(v, allow_reserved)}" for k, v in value.items()]
        return [f"{n}=" + ",".join(_flat(value, allow_reserved))]
    return [f"{n}={enc(value, allow_reserved)}"]


def _deep(prefix: str, value: dict[str, Any], allow_reserved: bool) -> list[str]:
    out = []
    for k, v in value.items():
        key = f"{prefix}%5B{enc(k)}%5D"
        if isinstance(v, dict):
            out += _deep(key, v, allow_reserved)
        elif isinstance(v, list):
            out += [f"{key}={enc(x, allow_reserved)}" for x in v]
        else:
            out.append(f"{key}={enc(v, allow_reserved)}")
    return out


def header_value(value: Any, explode: bool) -> str:
    if isinstance(value, list):
        return ",".join(scalar(v) for v in value)
    if isinstance(value, dict):
        if explode:
            return ",".join(f"{k}={scalar(v)}" for k, v in value.items())
        return ",".join(x for k, v in value.items() for x in (str(k), scalar(v)))
    return scalar(value)


def cookie_pairs(name: str, value: Any, explode: bool) -> list[str]:
    """Cookies (``form`` style): an exploded array is one cookie per value, an exploded
    object one cookie per property (OpenAPI 3.2 spells this ``style: cookie``)."""
    if isinstance(value, list):
        if explode:
            return [f"{name}={enc(v)}" for v in value]
        return [f"{name}=" + ",".join(enc(v) for v in value)]
    if isinstance(value, dict):
        if explode:
            return [f"{k}={enc(v)}" for k, v in value.items()]
        return [f"{name}=" + ",".join(_flat(value))]
    return [f"{name}={enc(value)}"]


# -- bodies ----------------------------------------------------------------------------------
def _json_type(content_type: str | None) -> bool:
    return bool(content_type) and "json" in str(content_type).lower()


def form_body(value: Any, encoding: dict[str, Any]) -> str:
    """``application/x-www-form-urlencoded``: each property as a query parameter would be
    (``form``, exploded: an array is ``MediaUrl=a&MediaUrl=b``), or as its ``encoding``
    says (``deepObject`` for ``metadata[key]=value``; a JSON ``contentType``)."""
    if not isinstance(value, dict):
        return enc(value)
    pairs: list[str] = []
    for prop, v in value.items():
        e = obj(encoding.get(prop))
        if _json_type(e.get("contentType")) and isinstance(v, dict | list):
            pairs.append(f"{enc(prop)}={enc(json.dumps(v, ensure_ascii=False))}")
            continue
        style = e.get("style", "form")
        explode = e.get("explode", style == "form")
        pairs += query_pairs(prop, v, style, bool(explode), bool(e.get("allowReserved", False)))
    return "&".join(pairs)


@dataclass
class Part:
    name: str
    content: str
    content_type: str | None = None
    filename: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)


def _binary(schema: Any) -> bool:
    return isinstance(schema, dict) and (
        schema.get("format") == "binary"
        or "contentMediaType" in schema
        or schema.get("contentEncoding") in ("binary", "base64")
    )


def multipart_parts(
    value: Any,
    props: dict[str, Any],
    encoding: dict[str, Any],
    header_values: dict[str, list[tuple[str, str]]],
) -> list[Part]:
    """``multipart/form-data``: one part per property, one per item of an array; the part's
    Content-Type is the ``encoding``'s, else text/plain for primitives, application/json for
    objects, application/octet-stream (with a file name) for binary strings. ``props`` are the
    resolved property schemas; ``header_values`` the ``encoding`` headers, already chosen."""
    if not isinstance(value, dict):
        return [Part("file", scalar(value))]
    parts: list[Part] = []
    for prop, v in value.items():
        e = obj(encoding.get(prop))
        schema = obj(props.get(prop))
        items = obj(schema.get("items"))
        explicit = e.get("contentType")
        for item in v if isinstance(v, list) and not _json_type(explicit) else [v]:
            binary = _binary(items if isinstance(v, list) else schema)
            if explicit:
                ctype: str | None = str(explicit).split(",")[0].strip()
            elif binary:
                ctype = "application/octet-stream"
            elif isinstance(item, dict | list):
                ctype = "application/json"
            else:
                ctype = None  # text/plain, the default of a form part
            content = (
                json.dumps(item, ensure_ascii=False)
                if isinstance(item, dict | list)
                else scalar(item)
            )
            parts.append(
                Part(
                    prop,
                    content,
                    ctype,
                    filename=f"{prop}.bin" if binary or (ctype and "octet" in ctype) else None,
                    headers=list(header_values.get(prop, [])),
                )
            )
    return parts


def _disposition_name(name: str) -> str:
    return name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def multipart_body(parts: list[Part], boundary: str = BOUNDARY) -> str:
    out = []
    for p in parts:
        disposition = f'form-data; name="{_disposition_name(p.name)}"'
        if p.filename:
            disposition += f'; filename="{_disposition_name(p.filename)}"'
        lines = [f"--{boundary}", f"Content-Disposition: {disposition}"]
        if p.content_type:
            lines.append(f"Content-Type: {p.content_type}")
        lines += [f"{k}: {v}" for k, v in p.headers]
        out.append("\r\n".join(lines) + "\r\n\r\n" + p.content + "\r\n")
    return "".join(out) + f"--{boundary}--\r\n"
