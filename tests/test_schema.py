from pathlib import Path

from aforo.schema_export import sdl

COMMITTED = Path(__file__).resolve().parents[1] / "schema.graphql"


def test_committed_schema_matches_the_live_schema() -> None:
    assert COMMITTED.read_text() == sdl(), (
        "schema.graphql is stale: run `python -m aforo.schema_export > schema.graphql` and review "
        "the diff (a removed or changed field breaks tenant frontends)"
    )
