"""Runs generated code samples with the real toolchains, one process per language.

Every sample of a language reads the same credential (``API_KEY=key-<LANG>``; HTTP Basic:
``API_USERNAME=user-<LANG>``), and the samples of a language run one after the other, so the
recording server tells languages apart by credential and samples by order. Starting an
interpreter or a compiler costs more than a sample, so each language hosts all its samples in
one process: Python, Node, Ruby and PHP load each sample file in turn from a small driver;
Go's ``main`` functions are renamed and called in turn from one program; Java's classes go in
a package each and one JVM runs them; C#'s in a namespace each with one launcher. The sample
text is otherwise run as generated; curl samples run as they are, one shell each.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from pathlib import Path

LANGS = ["CURL", "NODE", "PYTHON", "JAVA", "GO", "RUBY", "PHP", "CSHARP"]
TOOLS = ("bash", "curl", "python3", "node", "java", "javac", "go", "ruby", "php", "mcs", "mono")
PASSWORD = "pw:with colon"


def env_for(lang: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["API_KEY"] = f"key-{lang}"
    env["API_USERNAME"] = f"user-{lang}"
    env["API_PASSWORD"] = PASSWORD
    env.setdefault("HOME", tempfile.gettempdir())
    return env


async def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=300)
    return proc.returncode or 0, out.decode(errors="replace")


async def run_language(lang: str, samples: list[str], work: Path) -> list[str]:
    """Run one language's samples in order; returns failure messages."""
    d = work / lang.lower()
    d.mkdir()
    env = env_for(lang)
    failures: list[str] = []

    async def check(cmd: list[str], cwd: Path, what: str) -> None:
        rc, out = await _run(cmd, cwd, env)
        if rc != 0:
            failures.append(f"{lang} {what}: exit {rc}\n{out[-3000:]}")

    if lang == "GO":
        (d / "go.mod").write_text("module samples\n\ngo 1.19\n")
        calls = []
        for i, code in enumerate(samples):
            (d / f"s{i}.go").write_text(code.replace("func main() {", f"func sample{i}() {{", 1))
            calls.append(f"\tsample{i}()")
        (d / "main.go").write_text("package main\n\nfunc main() {\n" + "\n".join(calls) + "\n}\n")
        await check(["go", "build", "-o", "all", "."], d, "build")
        if not failures:
            await check([str(d / "all")], d, "run")
        return failures
    if lang == "JAVA":
        for i, code in enumerate(samples):
            (d / f"op{i}").mkdir()
            (d / f"op{i}" / "Main.java").write_text(f"package op{i};\n" + code)
        (d / "Runner.java").write_text(
            "public class Runner {\n  public static void main(String[] a) throws Exception {\n"
            '    for (String c : a) Class.forName(c).getMethod("main", String[].class)'
            ".invoke(null, (Object) new String[0]);\n  }\n}\n"
        )
        sources = ["Runner.java", *(f"op{i}/Main.java" for i in range(len(samples)))]
        # C1 only: javac and a short-lived JVM start twice as fast without the C2 compiler
        quick = ["-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC"]
        await check(["javac", *quick, "-d", "out", *sources], d, "compile")
        if not failures:
            await check(
                [
                    "java",
                    *(q.removeprefix("-J") for q in quick),
                    "-cp",
                    "out",
                    "Runner",
                    *(f"op{i}.Main" for i in range(len(samples))),
                ],
                d,
                "run",
            )
        return failures
    if lang == "CSHARP":
        for i, code in enumerate(samples):
            head, sep, rest = code.partition("class Program")
            (d / f"S{i}.cs").write_text(f"{head}namespace Op{i} {{\n{sep}{rest}\n}}\n")
        calls = "\n".join(f"        Run(typeof(Op{i}.Program));" for i in range(len(samples)))
        (d / "Launcher.cs").write_text(
            "using System; using System.Reflection;\nclass Launcher {\n"
            '    static void Run(Type t) { t.GetMethod("Main", BindingFlags.Static | '
            "BindingFlags.NonPublic | BindingFlags.Public).Invoke(null, null); }\n"
            f"    static void Main() {{\n{calls}\n    }}\n}}\n"
        )
        files = ["Launcher.cs", *(f"S{i}.cs" for i in range(len(samples)))]
        await check(
            ["mcs", "-r:System.Net.Http.dll", "-main:Launcher", "-out:all.exe", *files],
            d,
            "compile",
        )
        if not failures:
            await check(["mono", "all.exe"], d, "run")
        return failures
    if lang == "CURL":
        for i, code in enumerate(samples):
            (d / f"s{i}.sh").write_text(code)
            await check(["bash", f"s{i}.sh"], d, f"sample {i}")
        return failures
    suffix, driver, cmd = DRIVERS[lang]
    names = []
    for i, code in enumerate(samples):
        names.append(f"s{i}.{suffix}")
        (d / names[-1]).write_text(code)
    (d / f"driver.{suffix}").write_text(driver)
    await check([*cmd, f"driver.{suffix}", *names], d, "run")
    return failures


DRIVERS = {
    "PYTHON": (
        "py",
        "import runpy\nimport sys\n\nfor f in sys.argv[1:]:\n"
        "    runpy.run_path(f, run_name='__main__')\n",
        ["python3"],
    ),
    "NODE": (
        "mjs",
        "import { pathToFileURL } from 'node:url';\nimport { resolve } from 'node:path';\n"
        "for (const f of process.argv.slice(2)) {\n"
        "  await import(pathToFileURL(resolve(f)).href);\n}\n",
        ["node"],
    ),
    "RUBY": ("rb", "ARGV.dup.each { |f| load File.expand_path(f) }\n", ["ruby"]),
    "PHP": (
        "php",
        "<?php\nforeach (array_slice($argv, 1) as $f) {\n"
        "    (function () use ($f) { include $f; })();\n}\n",
        ["php"],
    ),
}


async def run_all(plan: dict[str, list[str]]) -> list[str]:
    """Every language's samples (languages in parallel)."""
    with tempfile.TemporaryDirectory(prefix="samples-") as tmp:
        results = await asyncio.gather(
            *(run_language(lang, samples, Path(tmp)) for lang, samples in plan.items())
        )
    return [f for r in results for f in r]


def strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)
