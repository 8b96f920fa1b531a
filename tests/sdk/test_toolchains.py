"""Each SDK's own tests with its own toolchain, and the shape of what would be published:
`node --test`, `go vet` and `go test`, the Java tests on a plain `java` runner (jar manifest
included), `npm pack` contents, and the type declarations as ESM and CommonJS consumers see
them."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.sdk.conformance import toolchains

NODE = toolchains.NODE


@pytest.fixture(scope="module")
def node() -> Path:
    return toolchains.build_node()


def _run(cmd: list[str], cwd: Path, timeout: float = 300) -> str:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    out = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(cmd)}: exit {done.returncode}\n{out[-4000:]}"
    return out


def test_node_unit_tests(node: Path) -> None:
    files = sorted(str(p) for p in (NODE / "metering" / "test").glob("*.test.mjs"))
    out = _run(["node", "--test", *files], NODE)
    assert "# fail 0" in out and "# pass 0" not in out


def test_go_vet_and_unit_tests() -> None:
    toolchains.build_go()  # runs go vet
    out = _run(["go", "test", "-count=1", "./..."], toolchains.GO)
    assert "ok  \tgithub.com/aforo/metering-go" in out


def test_java_unit_tests_and_jar_manifest() -> None:
    toolchains.build_java()
    out = _run(
        ["java", "-cp", toolchains.java_classpath(), "com.aforo.metering.MeteringTest"],
        toolchains.JAVA,
    )
    assert "ok testJarManifest" in out and " 0 failed" in out


def _packed(package: str) -> set[str]:
    out = _run(["npm", "pack", "--dry-run", "--json", "--workspace", package], NODE)
    (info,) = json.loads(out[out.index("[") :])
    return {f["path"] for f in info["files"]}


def test_npm_pack_contents(node: Path) -> None:
    for pkg in ("metering", "mcp-metering"):
        files = _packed(pkg)
        for build in ("esm", "cjs"):
            assert {f"dist/{build}/index.js", f"dist/{build}/index.d.ts"} <= files, files
        assert {"dist/cjs/package.json", "README.md", "package.json"} <= files
        assert not any(f.startswith(("src/", "test/", "conformance/")) for f in files), files
        assert not any(f.endswith("tsbuildinfo") for f in files), files
    proxy = _packed("mcp-proxy")
    assert {"dist/cli.js", "README.md", "package.json"} <= proxy
    manifest = json.loads((NODE / "mcp-proxy" / "package.json").read_text())
    assert manifest["bin"] == {"aforo-mcp-proxy": "dist/cli.js"}
    assert (NODE / "mcp-proxy" / "dist" / "cli.js").read_text().startswith("#!/usr/bin/env node")
    for pkg in ("metering", "mcp-metering"):
        manifest = json.loads((NODE / pkg / "package.json").read_text())
        runtime = set(manifest.get("dependencies", {}))
        assert runtime <= {"@aforo/metering"}, runtime  # nothing from outside


CONSUMER = """import {{ Metering, meterExpress, type Stats }} from "@aforo/metering";
import {{ McpMetering, meterServer }} from "@aforo/mcp-metering";
const m = new Metering({{ url: "https://c.example", token: "t" }});
const id: Promise<string> = m.record("api_calls", 1, {{ subscriptionId: "x", latencyMs: 3 }});
const s: Stats = m.stats;
const mw = meterExpress(m, {{ metric: "api_calls" }});
const mcp = new McpMetering({{ url: "https://c.example", token: "t", agentId: "a" }});
{extra}
export {{ id, s, mw, mcp, meterServer }};
"""


def test_type_declarations_resolve_for_esm_and_commonjs_consumers(node: Path) -> None:
    """One consumer as ESM (.mts) and one as CommonJS (.cts): each resolves its own build's
    declarations through the exports map, and misuse is a type error in both."""
    wrong = (
        "// @ts-expect-error: an unknown field is a type error\n"
        'm.recordNowait("x", 1, { colour: "red" });'
    )
    with tempfile.TemporaryDirectory(dir=NODE) as tmp:
        d = Path(tmp)
        frameworks = (
            'import Fastify from "fastify";\nimport express from "express";\n'
            'void Fastify().register(meterFastify, { metering: m, metric: "api_calls" });\n'
            "express().use(meterExpress(m));\n"
        )
        (d / "consumer.mts").write_text(
            CONSUMER.replace("import {{ Metering", "import {{ meterFastify, Metering").format(
                extra=wrong + "\n" + frameworks
            )
        )
        (d / "consumer.cts").write_text(CONSUMER.format(extra=wrong))
        config = {
            "compilerOptions": {
                "module": "NodeNext",
                "moduleResolution": "NodeNext",
                "strict": True,
                "noEmit": True,
                "skipLibCheck": True,  # the declarations are tsc's own output; their use is checked
                "types": ["node"],
            },
            "files": ["consumer.mts", "consumer.cts"],
        }
        (d / "tsconfig.json").write_text(json.dumps(config))
        out = _run(
            [
                str(NODE / "node_modules" / ".bin" / "tsc"),
                "-p",
                "tsconfig.json",
                "--traceResolution",
            ],
            d,
        )
    for build in ("esm", "cjs"):
        assert f"metering/dist/{build}/index.d.ts" in out  # each consumer got its own build
