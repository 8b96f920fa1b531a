"""Invoice PDFs over REST, and the billing job run for the app's lifetime.

``GET /v1/billing/invoices/{id}.pdf`` answers with the PDF to a signed-in caller who may read
the invoice (``Authorization: Bearer``, the same session as GraphQL), or to anyone holding a
signed link (``?token=``, from ``Invoice.pdfUrl``, valid for five minutes).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import Response

from aforo.errors import NotFound, Unauthenticated
from aforo.rest.deps import RuntimeDep
from aforo.runtime.state import Runtime
from aforo.runtime.tasks import stop_tasks
from aforo.services import billing
from aforo.services.billing import closing, pdf
from aforo.tenancy.context import PrincipalKind, Role

router = APIRouter(prefix="/v1/billing", tags=["billing"])


@router.get(
    "/invoices/{invoice_id}.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def invoice_pdf(
    invoice_id: str,
    rt: RuntimeDep,
    token: str | None = None,
    authorization: Annotated[str | None, Header()] = None,
    x_storefront_key: Annotated[str | None, Header()] = None,
) -> Response:
    """An invoice as a PDF under the tenant's brand."""
    try:
        iid = uuid.UUID(invoice_id)
    except ValueError:
        raise NotFound("no invoice with that id", field="id") from None
    if token:
        # The link names one invoice of one tenant: it reads that invoice, nothing else.
        tenant_id = pdf.link_tenant(rt.auth.ring, rt.auth.issuer, token, iid)
        viewer = billing.Viewer(user_id=None, is_admin=True)
    else:
        ctx = await rt.auth.resolve(x_storefront_key, authorization)
        if ctx is None or ctx.kind is not PrincipalKind.USER or ctx.user_id is None:
            raise Unauthenticated(
                "send the session's Authorization bearer token, or use a signed link",
                code="UNAUTHENTICATED",
            )
        tenant_id = ctx.tenant_id
        viewer = billing.Viewer(user_id=ctx.user_id, is_admin=ctx.has(Role.ADMIN))
    async with rt.transaction(tenant_id) as s:
        invoice, data = await billing.invoice_pdf(s, viewer, iid)
    name = invoice.number or f"draft-{str(invoice.id)[:8]}"
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="invoice-{name}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )


@contextlib.asynccontextmanager
async def lifespan(runtime: Runtime, state: Any) -> AsyncIterator[None]:
    """Close due billing periods every ``AFORO_BILLING_INTERVAL`` seconds."""
    interval = runtime.settings.billing_interval_s
    if interval <= 0:
        yield
        return
    task = asyncio.create_task(closing.loop(runtime, interval), name="billing-job")
    state.billing_job = task
    try:
        yield
    finally:
        await stop_tasks([task])
