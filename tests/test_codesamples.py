"""Generated code samples really run: every language's sample is executed against a local
recording server, which must receive exactly the intended method, path, query, headers and body.

Languages run in parallel subprocesses; Go compiles all samples in one ``go build``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from tests.support import Api, make_tenant
from tests.test_docs import make_product
from tests.test_outbound import LocalServer, Recorded, local_server  # noqa: F401 - fixture

LANGS = ["CURL", "NODE", "PYTHON", "JAVA", "GO", "RUBY", "PHP", "CSHARP"]
TRICKY = 'Rex "the dog" \\ o\'neil $HOME `id` ü ✓ 🐶\nline2\t#{x} %s'


def spec_yaml(base: str) -> str:
    body_example = json.dumps(
        {"name": TRICKY, "tags": ["a", "ß"], "price": 9.5, "ok": True}, ensure_ascii=False
    )
    return f"""openapi: 3.1.0
info: {{title: Items, version: "1"}}
servers: [{{url: "{base}/v1"}}]
components:
  securitySchemes:
    bearer: {{type: http, scheme: bearer}}
    key: {{type: apiKey, in: header, name: X-API-Key}}
    session: {{type: apiKey, in: cookie, name: session}}
paths:
  /items/{{itemId}}:
    get:
      operationId: getItem
      security: [{{bearer: []}}]
      parameters:
        - {{name: itemId, in: path, required: true, schema: {{type: string}}, example: "a b/ü"}}
        - {{name: q, in: query, required: true, schema: {{type: string}}, example: "x&y=1 ü"}}
        - name: tag
          in: query
          required: true
          schema: {{type: array, items: {{type: string}}}}
          example: [red, "blue green"]
        - {{name: X-Trace, in: header, required: true, schema: {{type: string}}, example: "t-'1'"}}
        - {{name: verbose, in: query, schema: {{type: boolean}}}}
      responses: {{"200": {{description: ok}}}}
    delete:
      operationId: deleteItem
      security: [{{session: []}}]
      parameters:
        - {{name: itemId, in: path, required: true, schema: {{type: integer}}, example: 42}}
      responses: {{"204": {{description: gone}}}}
  /items:
    post:
      operationId: createItem
      security: [{{key: []}}]
      requestBody:
        required: true
        content:
          application/json:
            schema: {{type: object}}
            example: {body_example}
      responses: {{"201": {{description: created}}}}
"""


GRAPHQL = """
type Query { item(id: ID!): Item }
type Mutation { rename(id: ID!, name: String! = "x"): Item! }
type Item { id: ID! name: String! owner: User }
type User { id: ID! }
"""

OPS = """query($id: ID!) { apiSpec(id: $id) { currentVersion { operations {
  key sampleRequest { method url headers { name value } authHeader authEnvVar body }
  codeSamples { language code } } } } }"""


async def _import(api: Api, token: str, pid: str, fmt: str, content: str, **kw: Any) -> str:
    d = await api.data(
        """mutation($i: ImportSpecInput!) { importSpec(input: $i) {
             ... on SpecImported { spec { id } } ... on SpecInvalid { message }
             ... on UserError { message } } }""",
        {"i": {"productId": pid, "format": fmt, "content": content, **kw}},
        token=token,
    )
    assert "spec" in d["importSpec"], d
    spec_id: str = d["importSpec"]["spec"]["id"]
    return spec_id


async def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=240)
    return proc.returncode or 0, out.decode(errors="replace")


def _env(key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["API_KEY"] = key
    env.setdefault("HOME", tempfile.gettempdir())
    return env


async def _language(lang: str, samples: list[tuple[str, str]], work: Path) -> list[str]:
    """Run one language's samples (sequentially); returns failure messages."""
    d = work / lang.lower()
    d.mkdir()
    failures: list[str] = []

    async def check(cmd: list[str], cwd: Path, key: str, what: str) -> None:
        rc, out = await _run(cmd, cwd, _env(key))
        if rc != 0:
            failures.append(f"{lang} {what}: exit {rc}\n{out[-2000:]}")

    if lang == "GO":
        (d / "go.mod").write_text("module samples\n\ngo 1.19\n")
        for i, (_, code) in enumerate(samples):
            (d / f"op{i}").mkdir()
            (d / f"op{i}" / "main.go").write_text(code)
        rc, out = await _run(["go", "build", "-o", "bin/", "./..."], d, _env("build"))
        if rc != 0:
            return [f"GO build: {out[-3000:]}"]
        for i, (key, _) in enumerate(samples):
            await check([str(d / "bin" / f"op{i}")], d, key, f"op{i}")
        return failures
    for i, (key, code) in enumerate(samples):
        od = d / f"op{i}"
        od.mkdir()
        if lang == "CURL":
            (od / "s.sh").write_text(code)
            await check(["bash", "s.sh"], od, key, f"op{i}")
        elif lang == "PYTHON":
            (od / "s.py").write_text(code)
            await check(["python3", "s.py"], od, key, f"op{i}")
        elif lang == "NODE":
            (od / "s.mjs").write_text(code)
            await check(["node", "s.mjs"], od, key, f"op{i}")
        elif lang == "JAVA":
            (od / "Main.java").write_text(code)
            await check(["java", "Main.java"], od, key, f"op{i}")
        elif lang == "RUBY":
            (od / "s.rb").write_text(code)
            await check(["ruby", "s.rb"], od, key, f"op{i}")
        elif lang == "PHP":
            (od / "s.php").write_text(code)
            await check(["php", "s.php"], od, key, f"op{i}")
        elif lang == "CSHARP":
            (od / "Program.cs").write_text(code)
            rc, out = await _run(
                ["mcs", "-r:System.Net.Http.dll", "-out:p.exe", "Program.cs"], od, _env(key)
            )
            if rc != 0:
                failures.append(f"CSHARP op{i} compile: {out[-2000:]}")
                continue
            await check(["mono", "p.exe"], od, key, f"op{i}")
    return failures


def _expected_auth(op_key: str, run_key: str) -> tuple[str, str]:
    if op_key == "POST /items":
        return "x-api-key", run_key
    if op_key == "DELETE /items/{itemId}":
        return "cookie", f"session={run_key}"
    return "authorization", f"Bearer {run_key}"


def _find(requests: list[Recorded], header: str, value: str) -> list[Recorded]:
    return [r for r in requests if r.headers.get(header) == value]


async def test_samples_run_in_every_language(
    api: Api,
    app: FastAPI,
    local_server: LocalServer,  # noqa: F811
) -> None:
    missing = [
        t
        for t in ("bash", "curl", "python3", "node", "java", "go", "ruby", "php", "mcs", "mono")
        if shutil.which(t) is None
    ]
    assert not missing, f"toolchains missing (see .ci/apt-packages): {missing}"
    t = await make_tenant(api.settings)
    token = await api.admin_token(t)
    pid = await make_product(app, t)
    base = f"http://127.0.0.1:{local_server.port}"
    rest_id = await _import(api, token, pid, "OPENAPI_3", spec_yaml(base))
    gql_id = await _import(api, token, pid, "GRAPHQL", GRAPHQL, serverUrl=f"{base}/graphql")
    ops: list[dict[str, Any]] = []
    for sid in (rest_id, gql_id):
        d = await api.data(OPS, {"id": sid}, storefront=t.storefront_key)
        ops += d["apiSpec"]["currentVersion"]["operations"]
    by_key = {o["key"]: o for o in ops}
    # what the samples must send, checked independently of the generator first
    get = by_key["GET /items/{itemId}"]["sampleRequest"]
    assert (
        get["url"]
        == f"{base}/v1/items/a%20b%2F%C3%BC?q=x%26y%3D1%20%C3%BC&tag=red&tag=blue%20green"
    )
    post = by_key["POST /items"]["sampleRequest"]
    assert json.loads(post["body"])["name"] == TRICKY
    rename = json.loads(by_key["mutation rename"]["sampleRequest"]["body"])
    assert rename == {
        "query": "mutation Rename($id: ID!) { rename(id: $id) { id name owner { id } } }",
        "variables": {"id": "string"},
    }
    for o in ops:  # no credential is ever written into a sample
        assert all("run-" not in s["code"] for s in o["codeSamples"])
    chosen = [
        "GET /items/{itemId}",
        "POST /items",
        "DELETE /items/{itemId}",
        "mutation rename",
        "query item",
    ]
    plan: dict[str, list[tuple[str, str]]] = {lang: [] for lang in LANGS}
    for lang in LANGS:
        for i, key in enumerate(chosen):
            code = next(s["code"] for s in by_key[key]["codeSamples"] if s["language"] == lang)
            plan[lang].append((f"run-{lang}-{i}", code))
    with tempfile.TemporaryDirectory(prefix="samples-") as tmp:
        results = await asyncio.gather(*(_language(lang, plan[lang], Path(tmp)) for lang in LANGS))
    failures = [f for r in results for f in r]
    assert not failures, "\n\n".join(failures)
    problems = []
    for lang in LANGS:
        for i, key in enumerate(chosen):
            run_key = f"run-{lang}-{i}"
            want = by_key[key]["sampleRequest"]
            header, value = _expected_auth(key, run_key)
            got = _find(local_server.requests, header, value)
            if len(got) != 1:
                problems.append(f"{lang} {key}: {len(got)} matching requests")
                continue
            r = got[0]
            url = want["url"][len(base) :]
            checks = {
                "method": (r.method, want["method"]),
                "path+query": (r.path, url),
                "body": (r.body.decode(), want["body"] or ""),
            }
            for h in want["headers"]:
                checks[h["name"]] = (r.headers.get(h["name"].lower()), h["value"])
            for what, (seen, expected) in checks.items():
                if seen != expected:
                    problems.append(f"{lang} {key} {what}: got {seen!r}, want {expected!r}")
    assert not problems, "\n".join(problems)
    # and the intended values themselves, spelled out
    for lang in LANGS:
        r = _find(local_server.requests, "authorization", f"Bearer run-{lang}-0")[0]
        assert r.headers["x-trace"] == "t-'1'"
        r = _find(local_server.requests, "x-api-key", f"run-{lang}-1")[0]
        assert (
            json.loads(r.body)["name"] == TRICKY and r.headers["content-type"] == "application/json"
        )
        r = _find(local_server.requests, "cookie", f"session=run-{lang}-2")[0]
        assert (r.method, r.path, r.body) == ("DELETE", "/v1/items/42", b"")


@pytest.mark.parametrize("lang", LANGS)
def test_every_language_reads_the_key_from_the_environment(lang: str) -> None:
    from aforo.services import codesamples

    req = codesamples.SampleRequest(
        "GET", "https://api.example.com/x", [], codesamples.Auth("Authorization", "Bearer ")
    )
    code = codesamples.render(lang, req)
    assert "API_KEY" in code and "Bearer" in code
