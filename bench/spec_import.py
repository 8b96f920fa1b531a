"""Importing a large OpenAPI spec: a generated document with 600 operations (``--ops``).

Measures, in one run, on a private PostgreSQL cluster:

* parsing + validation + ``$ref`` resolution + extraction, for the JSON and the YAML form, against
  the bare ``json.loads`` / ``yaml`` load of the same text (the floor any importer pays);
* the full import (parse, version row, every operation row, outbox event, commit);
* a re-import of the same content (hash hit: nothing is written);
* generating the code samples of every operation in all 8 languages.

Run: ``python bench/spec_import.py`` (about a minute; ``--ops`` to change the size).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import yaml
from common import private_postgres

from aforo.db import create_engine, sessionmaker, tenant_session
from aforo.models.billing import Product
from aforo.runtime.postgres import OWNER_ROLE
from aforo.services import codesamples, specs, tenants
from aforo.services.spec_import import parse

SCHEMAS = 40


class NoAliases(yaml.SafeDumper):
    """Write shared objects out in full, as hand-written and tool-exported specs are."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def generate(n_ops: int) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for i in range(SCHEMAS):
        props: dict[str, Any] = {
            "id": {"type": "string", "format": "uuid"},
            "name": {"type": "string", "example": f"thing {i}"},
            "count": {"type": "integer", "minimum": 0},
            "tags": {"type": "array", "items": {"type": "string"}},
            "createdAt": {"type": "string", "format": "date-time"},
        }
        if i:
            props["parent"] = {"$ref": f"#/components/schemas/Model{i - 1}"}
        props["self"] = {"$ref": f"#/components/schemas/Model{i}"}  # a cycle per schema
        schemas[f"Model{i}"] = {"type": "object", "required": ["id", "name"], "properties": props}
    paths: dict[str, Any] = {}
    per_path = 5
    for p in range((n_ops + per_path - 1) // per_path):
        model = f"#/components/schemas/Model{p % SCHEMAS}"
        tag = f"resource{p % 25}"
        item_param = {
            "name": "id",
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
        }
        list_params = [
            {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 20}},
            {"name": "cursor", "in": "query", "schema": {"type": "string"}},
        ]
        ok = {"description": "ok", "content": {"application/json": {"schema": {"$ref": model}}}}
        body = {"required": True, "content": {"application/json": {"schema": {"$ref": model}}}}
        paths[f"/r{p}"] = {
            "get": {
                "operationId": f"list{p}",
                "tags": [tag],
                "parameters": list_params,
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {
                            "application/json": {
                                "schema": {"type": "array", "items": {"$ref": model}}
                            }
                        },
                    }
                },
            },
            "post": {
                "operationId": f"create{p}",
                "tags": [tag],
                "requestBody": body,
                "responses": {"201": ok, "422": {"description": "invalid"}},
            },
        }
        paths[f"/r{p}/{{id}}"] = {
            "parameters": [item_param],
            "get": {"operationId": f"get{p}", "tags": [tag], "responses": {"200": ok}},
            "patch": {
                "operationId": f"update{p}",
                "tags": [tag],
                "requestBody": body,
                "responses": {"200": ok},
            },
            "delete": {
                "operationId": f"delete{p}",
                "tags": [tag],
                "responses": {"204": {"description": "gone"}},
            },
        }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Generated", "version": "1.0"},
        "servers": [{"url": "https://api.example.com/v1"}],
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }


def timed(fn: Callable[[], Any], runs: int = 5) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", type=int, default=600)
    args = ap.parse_args()
    doc = generate(args.ops)
    as_json = json.dumps(doc)
    as_yaml = yaml.dump(doc, Dumper=NoAliases, sort_keys=False)
    n = len(parse("OPENAPI_3", as_json).operations)
    kib = 1024
    print(f"spec: {n} operations, JSON {len(as_json) // kib} KiB, YAML {len(as_yaml) // kib} KiB")

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    json_floor = timed(lambda: json.loads(as_json))
    yaml_floor = timed(lambda: yaml.load(as_yaml, Loader=loader))  # noqa: S506 - safe loader
    json_parse = timed(lambda: parse("OPENAPI_3", as_json))
    yaml_parse = timed(lambda: parse("OPENAPI_3", as_yaml))

    with private_postgres("aforo-bench-specs-", fast_unsafe=True) as (pg, _):
        engine = create_engine(pg.url(OWNER_ROLE, "aforo"), pool_size=2)
        maker = sessionmaker(engine)
        async with maker() as s, s.begin():
            tenant = (await tenants.provision_tenant(s, "Bench", slug="bench")).tenant.id
        async with tenant_session(maker, tenant) as s:
            product = Product(tenant_id=tenant, id=uuid.uuid4(), name="Bench", slug="bench")
            s.add(product)
        imports = []
        for i in range(3):
            content = as_yaml + f"\n# run {i}\n"  # new content each time: a real import
            start = time.perf_counter()
            async with tenant_session(maker, tenant) as s:
                done = await specs.import_spec(
                    s, product_id=product.id, format="OPENAPI_3", content=content
                )
                assert done.created
            imports.append(time.perf_counter() - start)
        full = statistics.median(imports)
        start = time.perf_counter()
        async with tenant_session(maker, tenant) as s:
            again = await specs.import_spec(
                s, product_id=product.id, format="OPENAPI_3", content=content
            )
            assert not again.created
        reimport = time.perf_counter() - start
        async with tenant_session(maker, tenant) as s:
            ops = (await specs.operations_by_version_ids(s, [done.version.id]))[0]
            version = done.version
        start = time.perf_counter()
        for op in ops:
            req = codesamples.build_request(
                specs.as_dict(op), servers=version.servers, schemes=version.security_schemes
            )
            for lang in codesamples.LANGUAGES:
                codesamples.render(lang, req)
        samples = time.perf_counter() - start
        await engine.dispose()

    def row(label: str, seconds: float, ratio: float | None = None, of: str = "") -> None:
        tail = f"  {ratio:6.2f}x {of}" if ratio is not None else ""
        print(f"  {label:<34}{seconds * 1000:9.1f} ms{tail}")

    print()
    row("json.loads (floor)", json_floor)
    row("parse + validate, JSON", json_parse, json_parse / json_floor, "json.loads")
    row("yaml C load (floor)", yaml_floor)
    row("parse + validate, YAML", yaml_parse, yaml_parse / yaml_floor, "yaml load")
    row("full import into PostgreSQL", full, full / yaml_parse, "YAML parse")
    row("identical re-import", reimport, reimport / full, "full import")
    row(f"samples, {n} ops x 8 languages", samples)
    verdict = "met" if full < 5 else "MISSED"
    print(f"\naim: a {n}-operation spec imports in seconds: {verdict} ({full:.2f} s)")


if __name__ == "__main__":
    asyncio.run(main())
