"""Content negotiation: the q-values of an ``Accept``-style header, one reading for every
header that ranks choices (``Accept`` for GraphQL-over-HTTP's media type, ``Accept-Encoding``
for compression)."""

from __future__ import annotations


def qvalues(header: str | None) -> dict[str, float]:
    """Each listed item (lower case) and its q-value: 1 when not given, 0 when malformed, a
    ``q`` among several parameters found wherever it is. An item listed twice keeps its first
    rank. Ties go to the item listed first: each later one ranks a millionth lower."""
    ranks: dict[str, float] = {}
    for i, item in enumerate((header or "").lower().split(",")):
        name, *params = [p.strip() for p in item.split(";")]
        if not name:
            continue
        q = 1.0
        for p in params:
            if p.startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        ranks.setdefault(name, q - i * 1e-6)
    return ranks
