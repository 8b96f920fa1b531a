"""Builds each SDK once per test session with its own toolchain, and says how to start its
conformance harness. A missing toolchain fails the tests (CI installs them: .ci/apt-packages)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from tests.sdk.conformance.runner import ROOT, Language

NODE = ROOT / "sdks" / "node"


def _need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    assert not missing, f"toolchains missing (see .ci/apt-packages): {missing}"


def _run(cmd: list[str], cwd: Path, timeout: float = 600) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    output = done.stdout[-3000:] + done.stderr[-3000:]
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{output}"


def _stamp_ok(stamp: Path, inputs: list[Path]) -> tuple[bool, str]:
    h = hashlib.sha256()
    for base in inputs:
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for f in files:
            if "node_modules" in f.parts or "dist" in f.parts:
                continue
            h.update(str(f.relative_to(ROOT)).encode())
            h.update(f.read_bytes())
    digest = h.hexdigest()
    return stamp.exists() and stamp.read_text() == digest, digest


def build_node() -> Path:
    """`npm ci` (when the lock file changed) and the TypeScript builds of every package."""
    _need("node", "npm")
    lock = NODE / "package-lock.json"
    installed = NODE / "node_modules" / ".package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        _run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], NODE)
    fresh, digest = _stamp_ok(NODE / "node_modules" / ".aforo-build", [NODE])
    if not fresh:
        _run(["npm", "run", "--silent", "build"], NODE)
        (NODE / "node_modules" / ".aforo-build").write_text(digest)
    if not (NODE / "node_modules" / ".bin" / "aforo-mcp-proxy").exists():
        # npm links a package's bin only once its file exists, i.e. after the build
        _run(["npm", "install", "--offline", "--no-audit", "--no-fund", "--loglevel=error"], NODE)
    return NODE


def node_language() -> Language:
    return Language(
        "node",
        ["node", str(NODE / "metering" / "conformance" / "harness.mjs")],
        ["express", "fastify", "http"],
    )


def python_language() -> Language:
    harness = [sys.executable, "-m", "tests.sdk.conformance.python_harness"]
    return Language("python", harness, ["asgi"])


GO = ROOT / "sdks" / "go"


def go_build_dir() -> Path:
    return GO / "build"  # ignored by git


def build_go() -> Path:
    """`go vet`, then the harness binary (standard library only: no module download)."""
    _need("go")
    out = go_build_dir()
    out.mkdir(exist_ok=True)
    _run(["go", "vet", "./..."], GO)
    _run(["go", "build", "-o", str(out / "conformance"), "./internal/conformance"], GO)
    return out


def go_language() -> Language:
    return Language("go", [str(go_build_dir() / "conformance")], ["servemux"])


JAVA = ROOT / "sdks" / "java"
# Debian's jars: the filter compiles against the Jakarta Servlet API; tests run on Tomcat.
SERVLET_API = "/usr/share/java/jakarta-servlet-api.jar"
TOMCAT = ["/usr/share/java/tomcat10-embed-core.jar", "/usr/share/java/jakarta-annotation-api.jar"]


def build_java() -> Path:
    """`javac` and `jar` through sdks/java/build.sh (no Maven Central); returns the jar."""
    _need("javac", "jar", "java")
    fresh, digest = _stamp_ok(JAVA / "build" / ".aforo-build", [JAVA / "src", JAVA / "build.sh"])
    if not fresh:
        _run(["bash", "build.sh"], JAVA)
        (JAVA / "build" / ".aforo-build").write_text(digest)
    (jar,) = (JAVA / "build").glob("metering-*.jar")
    return jar


def java_classpath() -> str:
    (jar,) = (JAVA / "build").glob("metering-*.jar")
    return ":".join([str(jar), str(JAVA / "build" / "test-classes"), *TOMCAT])


def java_language() -> Language:
    return Language(
        "java",
        ["java", "-cp", java_classpath(), "com.aforo.metering.ConformanceHarness"],
        ["servlet"],
    )


STOREFRONT = ROOT / "sdks" / "storefront"


def _npm_ci(folder: Path) -> None:
    """`npm ci` when the lock file is newer than the install."""
    installed = folder / "node_modules" / ".package-lock.json"
    lock = folder / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        _run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], folder)


def _built(output: Path, sources: list[Path]) -> bool:
    """Whether ``output`` is newer than every source file (CI's build step or an earlier test
    run built it)."""
    if not output.exists():
        return False
    built = output.stat().st_mtime
    for base in sources:
        files = [base] if base.is_file() else base.rglob("*")
        if any(f.is_file() and f.stat().st_mtime > built for f in files):
            return False
    return True


def build_storefront() -> Path:
    """`@aforo/storefront`: `npm ci` and `tsc` into dist/ (unless already built)."""
    _need("node", "npm")
    _npm_ci(STOREFRONT)
    sources = [STOREFRONT / "src", STOREFRONT / "tsconfig.json", STOREFRONT / "package.json"]
    if not _built(STOREFRONT / "dist" / "index.js", sources):
        _run(["npm", "run", "--silent", "build"], STOREFRONT)
    return STOREFRONT


PORTAL = ROOT / "portal"


def build_portal() -> Path:
    """The reference portal on the SDK: `npm ci` and the Vite build into portal/dist."""
    build_storefront()
    _npm_ci(PORTAL)
    files = ("src", "public", "index.html", "vite.config.ts", "package.json")
    sources = [PORTAL / p for p in files]
    if not _built(PORTAL / "dist" / "index.html", [*sources, STOREFRONT / "dist"]):
        _run(["npm", "run", "--silent", "build"], PORTAL)
    return PORTAL / "dist"
