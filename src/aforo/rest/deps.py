"""FastAPI dependencies for the REST side-endpoints: the runtime and the gateway caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from aforo.errors import Forbidden, Unauthenticated
from aforo.runtime.state import Runtime
from aforo.services import edge_policy
from aforo.tenancy.context import PrincipalKind, Role, TenantContext


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


async def jwt_user(
    request: Request,
    rt: Annotated[Runtime, Depends(runtime)],
    authorization: Annotated[str | None, Header()] = None,
    x_storefront_key: Annotated[str | None, Header()] = None,
) -> TenantContext:
    """A signed-in user from ``Authorization: Bearer <JWT>`` (same rules as GraphQL); from a
    browser on another origin, only if the tenant allows that origin."""
    ctx = await rt.auth.resolve(x_storefront_key, authorization)
    if ctx is None or ctx.kind is not PrincipalKind.USER:
        raise Unauthenticated("send an Authorization bearer token", code="UNAUTHENTICATED")
    try:
        await edge_policy.admit(request.scope.get("state", {}), rt, ctx.tenant_id, x_storefront_key)
    except edge_policy.OriginNotAllowed as e:
        raise Forbidden(e.message, code=e.code) from e
    return ctx


async def jwt_admin(user: Annotated[TenantContext, Depends(jwt_user)]) -> TenantContext:
    if not user.has(Role.ADMIN):
        raise Forbidden("requires the ADMIN role", code="FORBIDDEN")
    return user


GatewayCaller = Annotated[TenantContext, Depends(gateway_caller)]
JwtUser = Annotated[TenantContext, Depends(jwt_user)]
JwtAdmin = Annotated[TenantContext, Depends(jwt_admin)]
RuntimeDep = Annotated[Runtime, Depends(runtime)]
