"""schemathesis against every REST operation of the served OpenAPI document (``/openapi.json``,
key verification included, in its body and header forms), with real credentials so requests
reach the handlers, with garbage ones and with none: no 5xx, every 4xx a machine-readable
error with a stable code, and every answer one the document lists, its body of the shape the
document gives for that status.

The document declares each route's request bodies; the test adds a raw-bytes alternative to
each, so schemathesis also sends bytes no schema describes."""

from __future__ import annotations

import copy
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import jsonschema
import schemathesis
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.fuzzing import Tally, as_served, describe, in_worker, profile
from tests.gateway import make_key_world
from tests.support import Api

RAW = {"schema": {"type": "string", "format": "binary"}}


def fuzz_document(doc: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    for item in doc["paths"].values():
        for method, op in item.items():
            if method == "post":
                assert "requestBody" in op, op.get("operationId")
                op["requestBody"]["required"] = False
                op["requestBody"]["content"].setdefault("application/octet-stream", RAW)
    return doc


def _deref(node: Any, schemas: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            return _deref(schemas[ref.rsplit("/", 1)[1]], schemas)
        return {k: _deref(v, schemas) for k, v in node.items()}
    if isinstance(node, list):
        return [_deref(v, schemas) for v in node]
    return node


class Contract:
    """The document's promise for each (path, method, status): the body's schema."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.schemas = doc["components"]["schemas"]
        self.doc = doc

    def problem(self, path: str, method: str, response: httpx.Response) -> str | None:
        responses = self.doc["paths"][path][method.lower()]["responses"]
        documented = responses.get(str(response.status_code))
        if documented is None:
            return f"status {response.status_code} not documented ({sorted(responses)})"
        content = documented.get("content", {}).get("application/json")
        if content is None or not content.get("schema"):
            return None
        try:
            body = response.json()
        except ValueError:
            return "documented as JSON, not JSON"
        try:
            jsonschema.validate(body, _deref(content["schema"], self.schemas))
        except jsonschema.ValidationError as e:
            return f"body does not match the document: {e.message}"
        return None


def credentials(path: str, world: Any) -> dict[str, str]:
    """The credential each endpoint family takes: the gateway token for usage ingestion and
    verification, an admin JWT (and the storefront key) for the console's own endpoints."""
    if path.startswith(("/v1/usage", "/v1/keys")):
        return {
            "Authorization": f"Bearer {world.gateway}",
            "X-Gateway-Token": world.gateway,
            "X-Amz-Firehose-Access-Key": world.gateway,
        }
    return {
        "Authorization": f"Bearer {world.admin}",
        "X-Storefront-Key": world.tenant.storefront_key,
    }


AUTH_HEADERS = (
    "authorization",
    "x-gateway-token",
    "x-storefront-key",
    "x-api-key",
    "x-amz-firehose-access-key",
)


def build_request(case: Any, auth: str, world: Any) -> httpx.Request:
    kwargs = case.as_transport_kwargs(base_url="http://console.test")
    headers = {k: str(v) for k, v in (kwargs.get("headers") or {}).items()}
    if auth != "generated":
        headers = {k: v for k, v in headers.items() if k.lower() not in AUTH_HEADERS}
    if auth == "real":
        headers.update(credentials(case.path, world))
        if case.path == "/v1/keys/verify" and case.body is None:
            headers["X-Api-Key"] = world.key
    headers.pop("Content-Length", None)
    headers.pop("content-length", None)
    content: Any = kwargs.get("data")
    if kwargs.get("json") is not None or ("json" in kwargs and content is None):
        return httpx.Request(
            case.method,
            kwargs["url"],
            params=kwargs.get("params"),
            headers=headers,
            json=kwargs["json"],
        )
    if case.media_type == "multipart/form-data":
        return _multipart(case, kwargs, headers)
    if isinstance(content, str):
        content = content.encode()
    return httpx.Request(
        case.method,
        kwargs["url"],
        params=kwargs.get("params"),
        headers=headers,
        **({"data": content} if isinstance(content, dict) else {"content": content}),
    )


def _multipart(case: Any, kwargs: dict[str, Any], headers: dict[str, str]) -> httpx.Request:
    """Encoded here (schemathesis hands non-file values to the file part in negative mode)."""
    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    body = case.body if isinstance(case.body, dict) else {"junk": case.body}
    files: dict[str, tuple[str, bytes]] = {}
    data: dict[str, str] = {}
    for name, value in body.items():
        raw = value if isinstance(value, bytes) else str(value).encode()
        if name == "file":
            files[name] = ("spec.yaml", raw)
        else:
            data[str(name)] = raw.decode(errors="replace")
    return httpx.Request(
        case.method,
        kwargs["url"],
        params=kwargs.get("params"),
        headers=headers,
        data=data,
        files=files or {"none": ("empty.txt", b"")},
    )


async def test_rest_fuzz_no_5xx_and_clear_errors(api: Api, app: FastAPI) -> None:
    world = await make_key_world(api)
    doc = (await api.client.get("/openapi.json")).json()
    contract = Contract(doc)
    schema = schemathesis.openapi.from_dict(fuzz_document(doc))
    operations = [r.ok() for r in schema.get_all_operations()]
    assert {op.path for op in operations} >= {
        "/v1/usage/events",
        "/v1/usage/upload",
        "/api/v1/docs/api-specs",
        "/oauth/token",
        "/v1/keys/verify",
    }
    tally = Tally()

    def run(call: Callable[[Awaitable[Any]], Any]) -> None:
        for op in operations:
            cases = st.one_of(
                op.as_strategy(GenerationMode.POSITIVE), op.as_strategy(GenerationMode.NEGATIVE)
            )

            @profile(60)
            @given(case=cases, auth=st.sampled_from(["real", "real", "generated", "none"]))
            def fuzz(case: Any, auth: str) -> None:
                request = build_request(case, auth, world)
                request.read()
                response = call(client.send(request))
                label = f"{case.method} {case.path} [{auth}]"
                tally.record(label, describe(request), response)
                off = contract.problem(case.path, case.method, response)
                if off is not None:
                    tally.problems.setdefault((label, response.status_code, off), describe(request))

            fuzz()

    crashes: list[str] = []
    async with as_served(app, crashes) as client:
        await in_worker(run)
    print(tally.report("REST"))
    # Operations without inputs run out of distinct examples early; the others use the budget.
    assert tally.requests >= 50 * sum(op.method == "post" for op in operations)
    assert not tally.problems, tally.failures() + "\n" + "\n".join(crashes[:3])


async def test_framework_parameter_checks_answer_with_a_coded_error(api: Api) -> None:
    """Found by the fuzzer: FastAPI's own query checks answered ``{"detail": [...]}``."""
    world = await make_key_world(api)
    r = await api.client.post(
        "/v1/usage/upload",
        params={"format": "csv", "filename": "x" * 301},
        content=b"event_id\n",
        headers={"Authorization": f"Bearer {world.gateway}"},
    )
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "INVALID"
    assert error["field"] == "filename"
    assert "300" in error["message"]
    r = await api.client.post(  # found by the fuzzer: a NUL in the name was a 500
        "/v1/usage/upload",
        params={"format": "csv", "filename": "a\x00b.csv"},
        content=b"event_id\n",
        headers={"Authorization": f"Bearer {world.gateway}"},
    )
    assert r.status_code == 422
    assert r.json()["error"] == {
        "code": "INVALID",
        "message": "filename must not contain control characters",
        "field": "filename",
    }


async def test_upload_with_a_nul_in_a_csv_header_is_refused_cleanly(api: Api) -> None:
    """Found by the fuzzer: the unknown column's name, NUL included, went into the stored
    error and PostgreSQL refused it (a 500)."""
    world = await make_key_world(api)
    r = await api.client.post(
        "/v1/usage/upload",
        params={"format": "csv"},
        content=b"event_id,metric,x\x00y\ne1,calls,1\n",
        headers={"Authorization": f"Bearer {world.gateway}"},
    )
    assert r.status_code == 422, r.text
    body = r.json()
    # Other columns are kept in properties, which cannot hold a NUL: the file is refused.
    assert body["status"] == "FAILED" and body["error"].startswith("INVALID_CSV")
    assert body["errors"] == [
        {
            "row": 1,
            "column": None,
            "code": "INVALID_CSV",
            "message": "a column name holds a NUL character",
        }
    ]


async def test_refused_records_with_nul_characters_are_kept_not_crashed_on(api: Api) -> None:
    """Found by the fuzzer: a refused record's event id (or unknown field name) with a NUL
    in it went into the dead-letter table as is, and PostgreSQL refused it (a 500)."""
    world = await make_key_world(api)
    auth = {"Authorization": f"Bearer {world.gateway}"}
    records = [
        {"event_id": "a\u0000"},
        {"event_id": "b", "metric": "m", "occurred_at": "2026-11-27T10:00:00Z", "x\u0000": 1},
    ]
    body = "\n".join(json.dumps(r) for r in records).encode()
    r = await api.client.post(
        "/v1/usage/upload", params={"format": "ndjson"}, content=body, headers=auth
    )
    # Both refused: REJECTED (422), every bad field listed.
    assert r.status_code == 422 and r.json()["outcome"] == "REJECTED", r.text
    assert r.json()["rejected"] == 2
    assert [(e["row"], e["code"], e["column"]) for e in r.json()["errors"]] == [
        (1, "MISSING_FIELD", "occurred_at"),
        (1, "INVALID_VALUE", "event_id"),
        (2, "INVALID_VALUE", "properties"),
    ]
    r = await api.client.post("/v1/usage/events", json=records, headers=auth)
    assert r.status_code == 422, r.text
    assert r.json()["accepted"] == 0
    assert [x["event_id"] for x in r.json()["rejected"]] == ["a\u0000", "b"]
