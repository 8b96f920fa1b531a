"""``POST /v1/usage/events``, ``/v1/usage/mcp`` and ``/v1/usage/gateways/*``.

Every endpoint authenticates with the tenant's gateway token; the tenant comes from that
credential, never from the payload. Answers:
``{"outcome": "ACCEPTED"|"PARTIAL"|"REJECTED", "accepted", "duplicates", "rejected": [...]}``
(200 when the envelope was usable, 400/413/415 when it was not, nothing ingested then).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from aforo.errors import DomainError
from aforo.ingest import apigee, aws, azure, canonical, http, kong, mcp, mulesoft, pipeline
from aforo.ingest.canonical import Unusable
from aforo.rest.deps import GatewayCaller, RuntimeDep
from aforo.services.usage.events import Parsed
from aforo.tenancy.context import TenantContext

router = APIRouter(prefix="/v1/usage", tags=["usage"])


async def _ingest(
    request: Request,
    rt: RuntimeDep,
    caller: TenantContext,
    source: str,
    parse: Callable[[bytes, str], Parsed],
    limit: int = http.MAX_BATCH_BODY,
) -> JSONResponse:
    try:
        body = await http.read(request, limit)
        with canonical.gc_paused():
            parsed = parse(body, request.headers.get("content-type", "application/json").lower())
    except Unusable as e:
        return JSONResponse(pipeline.unusable(e.code, e.message), status_code=e.status)
    except DomainError as e:
        return JSONResponse(pipeline.unusable(e.code, e.message), status_code=e.status)
    try:
        result = await pipeline.submit(rt, caller, source, parsed)
    except KafkaError as e:  # not acknowledged: the sender must retry (ids make it safe)
        refused = pipeline.unusable("BROKER_UNAVAILABLE", f"usage queue unavailable: {e}")
        return JSONResponse(refused, status_code=503)
    queued = pipeline.PRODUCER_KEY in rt.extra
    answer = pipeline.body(result, free=parsed.free, queued=queued)
    return JSONResponse(answer, status_code=pipeline.status(answer["outcome"]))


@router.post("/events", summary="Canonical usage events: a JSON batch or NDJSON (≤ 10 000)")
async def post_events(request: Request, rt: RuntimeDep, caller: GatewayCaller) -> JSONResponse:
    return await _ingest(
        request, rt, caller, "rest", lambda b, ct: canonical.parse_batch(b, ct, "rest")
    )


@router.post(
    "/mcp",
    summary="MCP exchange records or raw transcripts (stdio, streamable HTTP, HTTP+SSE, HAR); "
    "tools/call is metered",
)
async def post_mcp(request: Request, rt: RuntimeDep, caller: GatewayCaller) -> JSONResponse:
    query = dict(request.query_params)
    return await _ingest(request, rt, caller, mcp.SOURCE, lambda b, ct: mcp.parse(b, ct, query))


@router.post("/gateways/kong", summary="Kong http-log plugin bodies")
async def post_kong(request: Request, rt: RuntimeDep, caller: GatewayCaller) -> JSONResponse:
    return await _ingest(request, rt, caller, kong.SOURCE, lambda b, _: kong.parse(b))


@router.post("/gateways/azure", summary="Azure API Management logs forwarded from Event Hubs")
async def post_azure(request: Request, rt: RuntimeDep, caller: GatewayCaller) -> JSONResponse:
    return await _ingest(request, rt, caller, azure.SOURCE, lambda b, _: azure.parse(b))


@router.post("/gateways/apigee", summary="Records with Apigee analytics field names")
async def post_apigee(request: Request, rt: RuntimeDep, caller: GatewayCaller) -> JSONResponse:
    return await _ingest(request, rt, caller, apigee.SOURCE, apigee.parse)


@router.post("/gateways/mulesoft", summary="Anypoint (MuleSoft) API Analytics events")
async def post_mulesoft(request: Request, rt: RuntimeDep, caller: GatewayCaller) -> JSONResponse:
    return await _ingest(request, rt, caller, mulesoft.SOURCE, mulesoft.parse)


# -- AWS: the Kinesis Data Firehose HTTP endpoint delivery contract --------------------------
def _firehose(request_id: str | None, status: int, error: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"requestId": request_id or "", "timestamp": int(time.time() * 1000)}
    if error:
        body["errorMessage"] = error
    return JSONResponse(body, status_code=status)


@router.post("/gateways/aws", summary="API Gateway access logs via Kinesis Data Firehose")
async def post_aws(
    request: Request,
    rt: RuntimeDep,
    x_amz_firehose_request_id: Annotated[str | None, Header()] = None,
    x_amz_firehose_access_key: Annotated[str | None, Header()] = None,
    x_gateway_token: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    request_id = x_amz_firehose_request_id
    try:
        caller = await rt.auth.gateway(x_amz_firehose_access_key or x_gateway_token)
    except DomainError as e:
        return _firehose(request_id, e.status, e.message)
    try:
        body = await http.read(request, http.MAX_GATEWAY_BODY)
        body_request_id, parsed = aws.parse(body)
    except (Unusable, DomainError) as e:
        # The delivery itself is unreadable (truncated?): Firehose retries it, which is right.
        return _firehose(request_id, e.status, e.message)
    try:
        await pipeline.submit(rt, caller, aws.SOURCE, parsed)
    except KafkaError as e:
        return _firehose(request_id, 503, f"usage queue unavailable: {e}")
    return _firehose(request_id or body_request_id, 200)
