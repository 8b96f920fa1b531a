"""Search highlights that no input can forge.

PostgreSQL's ``ts_headline`` marks matches with two control characters, STX and ETX. Text inputs
refuse control characters (``aforo.text``), and the text is stripped of both before it reaches
``ts_headline`` (``strip_markers``, for rows stored before that rule), so every marker in its
output is one it placed. Only then is the fragment escaped and the markers become ``<mark>``.
"""

from __future__ import annotations

import html

START, STOP = "\x02", "\x03"
OPTIONS = f"StartSel={START}, StopSel={STOP}"


def strip_markers(sql_text: str) -> str:
    """SQL for a text expression without the two marker characters."""
    return f"translate({sql_text}, chr(2) || chr(3), '')"


def marked_html(fragment: str) -> str:
    """Escaped text, matches in ``<mark>``: safe to render as HTML."""
    return html.escape(fragment).replace(START, "<mark>").replace(STOP, "</mark>")


def plain(fragment: str) -> str:
    """The fragment as plain text (no markers)."""
    return fragment.replace(START, "").replace(STOP, "")
