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

from aforo.services import specs
from aforo.services.spec_import import SpecInvalid, parse, worker
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
                limits=worker.Limits(cpu_s=0.05),
            )
        except SpecInvalid as e:
            refused = e
        else:  # pragma: no cover - the assertion below says what went wrong
            refused = None
    assert refused is not None and refused.code == "SPEC_TOO_COMPLEX"
    assert "0.05 s of CPU time" in refused.message
    async with rt.transaction(uuid.UUID(t.id)) as s:  # the same worker serves the next import
        done = await specs.import_spec(
            s,
            product_id=uuid.UUID(pid),
            format="OPENAPI_3",
            content=json.dumps({"openapi": "3.1.0", "info": {"title": "t", "version": "1"}}),
        )
    assert done.created and done.version.operation_count == 0
