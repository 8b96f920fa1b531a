"""Specs at real size: a Stripe-shaped import, an invalid import that does not hold up other
requests, the CPU budget, and reads that stay bounded however components reference each other.
"""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text

from aforo.services import specs
from aforo.services.spec_import import SpecFiles, SpecInvalid, jobs, parse, worker
from tests.spec_shapes import stripe_like
from tests.support import Api, make_tenant
from tests.test_docs import make_product
from tests.test_spec_import_properties import _fan_out
from tests.test_specs import IMPORT


@functools.cache
def stripe_json() -> str:
    return json.dumps(stripe_like())


@functools.cache
def broken_multi_file_root() -> str:
    """DigitalOcean's failure at Stripe's size: a 4 MB root whose 1,843 operations are
    ``$ref``s to files that were not uploaded (indented: problems have real lines)."""
    doc = json.loads(stripe_json())
    for i in range(1843):
        doc["paths"][f"/v2/resource{i}"] = {"get": {"$ref": f"resources/r{i}/list.yml"}}
    return json.dumps(doc, indent=1)


async def _setup(api: Api, app: FastAPI) -> tuple[Any, str, str]:
    t = await make_tenant(api.settings)
    return t, await api.admin_token(t), await make_product(app, t)


async def upload(api: Api, token: str, pid: str, content: bytes) -> Any:
    """The REST upload (GraphQL bodies are capped well below a Stripe-size document)."""
    return await api.client.post(
        "/api/v1/docs/api-specs",
        data={"product_id": pid, "spec_format": "OPENAPI_3"},
        files={"file": ("openapi.json", content, "application/json")},
        headers={"Authorization": f"Bearer {token}"},
    )


async def queries_during(api: Api, key: str, job: Callable[[], Awaitable[Any]]) -> tuple[int, Any]:
    """How many ``{ tenant { name } }`` queries, sent one after the other, complete while
    ``job`` is still running; and the job's result. No clock: a job that blocks the event
    loop lets none complete (the queries wait for the loop), one that does not lets them all."""
    task = asyncio.create_task(job())
    completed = 0
    while not task.done():
        d = await api.data("{ tenant { name } }", storefront=key)
        assert d["tenant"]["name"]
        if not task.done():
            completed += 1
    return completed, await task


async def test_a_large_invalid_import_does_not_hold_up_other_requests(
    api: Api, app: FastAPI
) -> None:
    t, token, pid = await _setup(api, app)
    content = broken_multi_file_root()

    async def imported() -> dict[str, Any]:
        r = await upload(api, token, pid, content.encode())
        assert r.status_code == 422, r.text
        error: dict[str, Any] = r.json()["error"]
        return error

    completed, r = await queries_during(api, t.storefront_key, imported)
    # The import takes a second or more of CPU in the worker; queries of a few ms each go
    # on meanwhile (under load both slow down; the worker runs at a lower priority).
    assert completed >= 10, completed
    assert r["code"] == "SPEC_INVALID"
    # The cause first, named as such; every problem counted, fifty reported, with lines.
    assert r["problems"][0]["message"].startswith(
        "external $refs to 1843 files are not resolved: 'resources/r0/list.yml' (not uploaded)"
    )
    assert "upload every file of the spec" in r["problems"][0]["message"]
    assert r["total"] == 1844 and len(r["problems"]) == 50
    second = r["problems"][1]
    assert second["pointer"] == "/paths/~1v2~1resource0/get/$ref"
    assert second["line"] and second["line"] > 1000  # its own line, in the indented JSON

    # The measure can fail: the same kind of work done on the event loop lets nothing through.
    async def inline() -> None:
        parse("OPENAPI_3", stripe_json())  # a synchronous parse, as imports used to run

    blocked, _ = await queries_during(api, t.storefront_key, inline)
    assert blocked == 0


async def test_stripe_size_import_and_bounded_reads(api: Api, app: FastAPI) -> None:
    t, token, pid = await _setup(api, app)
    content = stripe_json()
    assert len(content) > 4_000_000
    r = await upload(api, token, pid, content.encode())
    assert r.status_code == 201, r.text
    assert r.json()["operations"] == 452
    spec_id = r.json()["spec_id"]
    q = """query($id: ID!) { apiSpec(id: $id) { currentVersion { operationCount
        componentCounts components(first: 3) { name kind }
        operations(first: 2) { key cursor responses { status content { schema } } } } } }"""
    d = await api.data(q, {"id": spec_id}, storefront=t.storefront_key)
    v = d["apiSpec"]["currentVersion"]
    assert v["operationCount"] == 452
    assert v["componentCounts"] == {"schemas": 1001, "securitySchemes": 2}
    assert [c["name"] for c in v["components"]] == ["account_0", "balance_0", "charge_0"]
    listing = v["operations"][0]["responses"][0]["content"][0]["schema"]
    # A list of objects whose fields reference ~1,000 schemas through anyOf: expanded two
    # levels by default (the item, the objects its fields name), deeper ones left as $refs.
    item = listing["properties"]["data"]["items"]
    assert item["x-component"] == "account_0" and "properties" in item
    second = [p["anyOf"][1] for p in item["properties"].values() if "anyOf" in p]
    assert second and all("properties" in x and "x-component" in x for x in second)
    third = [p["anyOf"][1] for x in second for p in x["properties"].values() if "anyOf" in p]
    assert third and all(set(x) >= {"$ref", "x-component"} and "properties" not in x for x in third)
    # The whole read, at the deepest depth allowed, stays bounded (the request's node budget).
    q_deep = """query($id: ID!) { apiSpec(id: $id) { currentVersion {
        operations(first: 50) { responses(depth: 8) { content { schema } } } } } }"""
    raw = await api.client.post(
        "/graphql",
        json={"query": q_deep, "variables": {"id": spec_id}},
        headers={"X-Storefront-Key": t.storefront_key},
    )
    assert raw.status_code == 200 and "errors" not in raw.json()
    assert len(raw.content) < 20_000_000, len(raw.content)


async def test_fan_out_is_stored_once_and_read_bounded(api: Api, app: FastAPI) -> None:
    """Each schema using the next one twice, 40 deep: 2^40 nodes if expanded, 41 stored."""
    t, token, pid = await _setup(api, app)
    d = await api.data(
        IMPORT, {"i": {"productId": pid, "format": "OPENAPI_3", "content": _fan_out()}}, token=token
    )
    spec_id = d["importSpec"]["spec"]["id"]
    q = """query($id: ID!, $d: Int!) { apiSpec(id: $id) { currentVersion {
        componentCounts operations { responses(depth: $d) { content { schema } } } } } }"""
    deep = await api.data(q, {"id": spec_id, "d": 8}, storefront=t.storefront_key)
    v = deep["apiSpec"]["currentVersion"]
    assert v["componentCounts"] == {"schemas": 41}
    schema = v["operations"][0]["responses"][0]["content"][0]["schema"]
    node, levels = schema, 0
    while "properties" in node:
        node, levels = node["properties"]["a"], levels + 1
    assert levels == 8 and node["x-component"] == "S8" and "$ref" in node  # depth 8, then a ref
    bad = await api.gql(q, {"id": spec_id, "d": 99}, storefront=t.storefront_key)
    assert bad["errors"][0]["extensions"]["code"] == "INVALID"


async def test_cpu_budget_refuses_and_the_worker_lives_on(api: Api, app: FastAPI) -> None:
    t, _token, pid = await _setup(api, app)
    rt = app.state.runtime
    async with rt.transaction(uuid.UUID(t.id)) as s:
        try:
            await specs.import_spec(
                s,
                product_id=uuid.UUID(pid),
                format="OPENAPI_3",
                content=stripe_json(),
                # far below the job's own need (parsing the JSON alone takes longer)
                limits=worker.Limits(cpu_s=0.01),
            )
        except SpecInvalid as e:
            refused = e
        else:  # pragma: no cover - the assertion below says what went wrong
            refused = None
    assert refused is not None and refused.code == "SPEC_TOO_COMPLEX"
    assert "0.01 s of CPU time" in refused.message
    async with rt.transaction(uuid.UUID(t.id)) as s:  # the same worker serves the next import
        done = await specs.import_spec(
            s,
            product_id=uuid.UUID(pid),
            format="OPENAPI_3",
            content=json.dumps({"openapi": "3.1.0", "info": {"title": "t", "version": "1"}}),
        )
    assert done.created and done.version.operation_count == 0


async def test_rows_are_stored_exactly_as_serialised(api: Api, app: FastAPI) -> None:
    """Rows travel to PostgreSQL as a few long values per statement (``jobs.Rows``), several
    statements at this size, and are taken apart there: every stored JSON text is still the
    compact serialisation of what was parsed, byte for byte, in order; a missing request body
    is SQL null, also when it is the only row of its statement."""
    t, _token, pid = await _setup(api, app)
    doc = stripe_like(150, 700)
    # the separator character, quotes and backslashes in text; an integer past 64 bits
    doc["paths"]["/odd"] = {
        "get": {
            "summary": 'a\u001eb "q" \\',
            "description": "\u001e",
            "tags": ["t\u001e"],
            "responses": {
                "200": {
                    "description": "ok \u001e",
                    "content": {"application/json": {"example": {"n": 2**70}}},
                }
            },
        }
    }
    lone = {
        "openapi": "3.1.0",
        "info": {"title": "lone", "version": "1"},
        "paths": {"/x": {"get": {"responses": {"204": {"description": "none"}}}}},
    }
    rt = app.state.runtime
    for content in (json.dumps(doc), json.dumps(lone)):
        expected = parse("OPENAPI_3", content)
        async with rt.transaction(uuid.UUID(t.id)) as s:
            done = await specs.import_spec(
                s, product_id=uuid.UUID(pid), format="OPENAPI_3", content=content
            )
            v = {"v": done.version.id}
            ops = (
                await s.execute(
                    text(
                        """select position, key, summary, description, tags,
                        parameters::text, request_body::text, responses::text, security::text
                        from spec_operations where version_id = :v order by position"""
                    ),
                    v,
                )
            ).all()
            comps = (
                await s.execute(
                    text(
                        """select position, kind, name, ref, body::text from spec_components
                        where version_id = :v order by position"""
                    ),
                    v,
                )
            ).all()
        assert [o[0] for o in ops] == list(range(len(expected.operations)))
        for row, op in zip(ops, expected.operations, strict=True):
            assert row[1:5] == (op["key"], op["summary"], op["description"], op["tags"])
            assert row[5] == jobs.dumps(op["parameters"])
            body = op["requestBody"]
            assert row[6] == (None if body is None else jobs.dumps(body))
            assert row[7] == jobs.dumps(op["responses"])
            servers = [{"server": x} for x in op["servers"]]  # they ride along with security
            assert row[8] == jobs.dumps([*op["security"], *servers])
        assert [c[0] for c in comps] == list(range(len(expected.components)))
        for row_c, c in zip(comps, expected.components, strict=True):
            assert row_c[1:] == (c["kind"], c["name"], c["ref"], jobs.dumps(c["body"]))
        if content != json.dumps(lone):
            assert sum(len(c[4]) for c in comps) > 2 * jobs.CHUNK_BYTES  # several statements
            odd = next(o for o in ops if o[1] == "GET /odd")
            assert odd[2] == 'a\u001eb "q" \\' and '"n":1180591620717411303424' in odd[7]
        else:
            assert len(ops) == 1 and ops[0][6] is None


# Modules as a job evaluated in the worker process sees them.
_WORKER = "__import__('aforo.services.spec_import.worker', fromlist=['_'])"
_JOBS = "__import__('aforo.services.spec_import.jobs', fromlist=['_'])"


async def test_a_parsed_tree_is_freed_after_the_reply_not_kept() -> None:
    """The import job hands its parsed tree to the worker to free once the reply is sent
    (the caller does not wait for a million objects to be freed): it is held during the
    job, through the very list the worker's loop empties (the loop runs as the imported
    module, not as a second copy of it under ``__main__``), and gone by the next job."""
    files = SpecFiles.single(json.dumps(stripe_like(20, 40)).encode())
    during = f"({_JOBS}.prepare('OPENAPI_3', files, None).operation_count, {_WORKER}._after_reply)"
    count, held = await worker.run(eval, during, {"files": files})
    assert count == 20 and len(held) == 1 and held[0].operations  # the parsed spec
    assert await worker.run(eval, f"{_WORKER}._after_reply") == []
