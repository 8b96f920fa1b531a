from aforo.services.markdown import render


def test_raw_html_is_escaped_not_rendered() -> None:
    out = render("hello <script>alert(1)</script> <b>x</b>").html
    assert "<script>" not in out and "<b>" not in out
    assert "&lt;script&gt;" in out


def test_unsafe_link_schemes_are_neutralised() -> None:
    for url in ("javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,x", "vbscript:x"):
        out = render(f"[click]({url})").html
        assert "href" not in out, (url, out)
    ok = render("[a](https://example.com/x) [b](/docs/y) [c](mailto:a@b.co)").html
    assert ok.count("href=") == 3


def test_headings_get_unique_anchors_and_tables_render() -> None:
    r = render("# Intro\n\n## Setup\n\n## Setup\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert [(h.level, h.anchor) for h in r.headings] == [(1, "intro"), (2, "setup"), (2, "setup-1")]
    assert '<h2 id="setup-1">' in r.html
    assert "<table>" in r.html
