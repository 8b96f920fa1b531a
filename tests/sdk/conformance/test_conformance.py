"""One conformance suite for every SDK: each scenario file runs through the Python, Node.js, Go
and Java harnesses side by side, against the real console behind fault-injecting proxies."""

from __future__ import annotations

import json

import pytest

from tests.sdk.conformance import toolchains
from tests.sdk.conformance.runner import Language, run, scenarios
from tests.sdk.conftest import Console


@pytest.fixture(scope="session")
def languages() -> list[Language]:
    toolchains.build_node()
    toolchains.build_go()
    toolchains.build_java()
    return [
        toolchains.python_language(),
        toolchains.node_language(),
        toolchains.go_language(),
        toolchains.java_language(),
    ]


SPECS = {p.stem: json.loads(p.read_text()) for p in scenarios()}


@pytest.mark.parametrize("name", sorted(SPECS))
async def test_scenario(name: str, languages: list[Language], console: Console) -> None:
    failures = await run(SPECS[name], name.split("-", 1)[0], languages, console)
    assert not failures, "\n\n".join(f"[{name}] {why}" for name, why in failures.items())
