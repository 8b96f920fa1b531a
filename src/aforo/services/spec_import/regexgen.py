"""A string matching a regular expression, generated deterministically (for example values).

Walks the parse tree of Python's own regex parser (the syntax JSON Schema ``pattern``s use in
practice is the common subset of ECMA-262 and Python's): literals as written, a character
class cycles through its members (``[0-9a-f]{6}`` gives ``012345``, readable and valid), the
first alternative of a choice, the fewest repetitions a quantifier allows (at least one for
``+`` and ``*`` so that ``\\w+`` gives a word, and more when ``minLength`` asks for it). The
result is checked with ``re.search`` (JSON Schema patterns are not anchored); a pattern this
cannot satisfy (lookarounds, back-references that contradict) gives None.
"""

from __future__ import annotations

import importlib
import re
import string
from typing import Any

# Python's own regex parser (``re._parser`` since 3.11; ``sre_parse`` is its deprecated alias,
# the one name typeshed knows).
C: Any = importlib.import_module("re._constants")
P: Any = importlib.import_module("re._parser")

_PRINTABLE = string.ascii_letters + string.digits + "-_.~ "
_CATEGORY = {
    C.CATEGORY_DIGIT: string.digits,
    C.CATEGORY_NOT_DIGIT: string.ascii_letters,
    C.CATEGORY_WORD: string.ascii_letters + string.digits + "_",
    C.CATEGORY_NOT_WORD: "-.~ ",
    C.CATEGORY_SPACE: " ",
    C.CATEGORY_NOT_SPACE: string.ascii_letters + string.digits,
}
MAX_LENGTH = 512


class _Gen:
    def __init__(self, extra: int) -> None:
        self.extra = extra  # repetitions added to open-ended quantifiers (for minLength)
        self.turn = 0
        self.groups: dict[int, str] = {}

    def pick(self, members: str) -> str:
        ch = members[self.turn % len(members)] if members else "a"
        self.turn += 1
        return ch

    def seq(self, items: Any) -> str:
        return "".join(self.one(op, av) for op, av in items)

    def one(self, op: Any, av: Any) -> str:
        if op is C.LITERAL:
            return chr(av)
        if op is C.NOT_LITERAL:
            return "a" if chr(av) != "a" else "b"
        if op is C.ANY:
            return self.pick(string.ascii_lowercase)
        if op is C.IN:
            return self.pick(_members(av))
        if op is C.BRANCH:
            return self.seq(av[1][0])
        if op is C.SUBPATTERN:
            group, _, _, items = av
            text = self.seq(items)
            if group is not None:
                self.groups[group] = text
            return text
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None)):
            low, high, items = av
            count = low if low > 0 else min(1, high)
            if high == C.MAXREPEAT or high > low:
                count = min(max(count, count + self.extra), high)
            return "".join(self.seq(items) for _ in range(min(count, MAX_LENGTH)))
        if op is C.GROUPREF:
            return self.groups.get(av, "")
        if op is C.GROUPREF_EXISTS:
            group, yes, no = av
            return self.seq(yes if group in self.groups else (no or []))
        if op is getattr(C, "ATOMIC_GROUP", None):
            return self.seq(av)
        # anchors (AT), lookarounds (ASSERT, ASSERT_NOT): nothing to emit
        return ""


def _members(items: Any) -> str:
    chars: list[str] = []
    negate = False
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            chars.append(chr(av))
        elif op is C.RANGE:
            lo, hi = av
            chars.extend(chr(c) for c in range(lo, min(hi, lo + 61) + 1))
        elif op is C.CATEGORY:
            chars.extend(_CATEGORY.get(av, "a"))
    if negate:
        excluded = set(chars)
        return "".join(c for c in _PRINTABLE if c not in excluded) or "a"
    # keep a readable order but drop duplicates
    return "".join(dict.fromkeys(chars)) or "a"


def generate(
    pattern: str, min_length: int | None = None, max_length: int | None = None
) -> str | None:
    try:
        parsed = P.parse(pattern)
        compiled = re.compile(pattern)
    except (re.error, RecursionError, OverflowError, ValueError, TypeError):
        return None
    best: str | None = None
    for extra in (0, 1, 2, 4, 8, 16, 32, 64):
        try:
            text = _Gen(extra).seq(parsed)
        except RecursionError:
            return None
        if len(text) > MAX_LENGTH:
            break
        if compiled.search(text) is None:
            return None
        if max_length is not None and len(text) > max_length:
            return best
        best = text
        if min_length is None or len(text) >= min_length:
            return text
    return best if best is not None and (min_length is None or len(best) >= min_length) else None
