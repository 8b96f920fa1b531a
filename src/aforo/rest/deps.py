"""FastAPI dependencies for the REST side-endpoints: the runtime and the gateway caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from aforo.runtime.state import Runtime
from aforo.tenancy.context import TenantContext


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


async def gateway_caller(
    rt: Annotated[Runtime, Depends(runtime)],
    authorization: Annotated[str | None, Header()] = None,
    x_gateway_token: Annotated[str | None, Header()] = None,
) -> TenantContext:
    """The tenant comes from the gateway token (``Authorization: Bearer gwt_…`` or
    ``X-Gateway-Token``), never from the payload."""
    raw = x_gateway_token
    if raw is None and authorization:
        scheme, _, value = authorization.partition(" ")
        raw = value.strip() if scheme.lower() == "bearer" else None
    return await rt.auth.gateway(raw)


GatewayCaller = Annotated[TenantContext, Depends(gateway_caller)]
RuntimeDep = Annotated[Runtime, Depends(runtime)]
