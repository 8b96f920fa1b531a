"""One quoting filter per language: a quote, a backslash, a ``$``, a control character or an
emoji in a spec example can never break out of a string literal of a sample."""

from __future__ import annotations

import json
import re
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def has_control(value: Any) -> bool:
    return bool(_CONTROL.search(_text(value)))


def _escaped(value: Any, specials: str) -> str:
    """The text with ``specials`` backslash-escaped and control characters spelled out
    (``\\n``, ``\\r``, ``\\t``, ``\\xHH``): the escapes shells' $'…', Ruby's and PHP's
    double-quoted strings share."""
    out = []
    for ch in _text(value):
        if ch in specials:
            out.append("\\" + ch)
        elif ch in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def q_sh(value: Any) -> str:
    """A shell word: '…', or $'…' (ANSI-C quoting) when it holds control characters (a
    multipart body's CRLFs) so that the sample stays one readable line."""
    s = _text(value)
    if not has_control(s):
        return "'" + s.replace("'", "'\\''") + "'"
    return "$'" + _escaped(s, "\\'") + "'"


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


def _double(value: Any, specials: str) -> str:
    return '"' + _escaped(value, specials) + '"'


def q_rb(value: Any) -> str:
    """Ruby: single quotes, or double quotes with escapes when control characters need
    spelling out (``#`` escaped: no interpolation)."""
    if isinstance(value, bool) or not has_control(value):
        return q_single(value)
    return _double(value, '\\"#')


def q_php(value: Any) -> str:
    """PHP: single quotes, or double quotes with escapes (``$`` escaped: no interpolation)."""
    if isinstance(value, bool) or not has_control(value):
        return q_single(value)
    return _double(value, '\\"$')


FILTERS = {
    "sh": q_sh,
    "sh_dq": q_sh_dq,
    "py": q_json,
    "js": q_json,
    "go": q_json,
    "java": q_java,
    "cs": q_cs,
    "rb": q_rb,
    "php": q_php,
}
