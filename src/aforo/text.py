"""What a text input may contain: one rule for every layer (GraphQL, REST, services).

Control characters (C0 but tab, newline and carriage return; DEL; C1), lone UTF-16 surrogates
(JSON can carry ``"\\ud800"``, and neither UTF-8 nor PostgreSQL can) and the noncharacters
U+FFFE / U+FFFF are refused in every text: NUL alone turned a sign-up into a database error.
Identifiers (emails) refuse more: any whitespace and every invisible formatting character.
"""

from __future__ import annotations

import re
import unicodedata

from aforo.errors import ValidationFailed

CODE = "INVALID_CHARACTERS"
_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})


def bad_character(value: str) -> str | None:
    """A description of the first refused character in ``value`` (None: it is clean)."""
    found = _BAD.search(value)
    if found is None:
        return None
    char = found.group()
    if "\ud800" <= char <= "\udfff":
        return "a lone surrogate"
    return f"the control character U+{ord(char):04X}"


def check_text(value: str, field: str) -> str:
    """``value``, or ``ValidationFailed`` naming ``field`` when it holds a refused character."""
    why = bad_character(value)
    if why is not None:
        raise ValidationFailed(f"{field} contains {why}", field=field, code=CODE)
    return value


def normalize_identifier(value: str, field: str) -> str:
    """NFKC, trimmed and lower-cased; refused when it holds whitespace or an invisible or
    control character (a look-alike address must not become a second account)."""
    check_text(value, field)
    value = unicodedata.normalize("NFKC", value).strip().lower()
    for char in value:
        if unicodedata.category(char) in _INVISIBLE:
            raise ValidationFailed(
                f"{field} contains an invisible character (U+{ord(char):04X})",
                field=field,
                code=CODE,
            )
    return value
