from __future__ import annotations

import strawberry

from aforo.schema.base import STAFF_ADMIN, AppInfo, parse_id, read
from aforo.schema.integration import IntegrationGuide
from aforo.services import integration


def _console_url(info: AppInfo) -> str:
    """The console's public URL: AFORO_PUBLIC_URL when the operator set it (behind a proxy the
    request's own URL may be an internal one), else the URL this request came in on."""
    configured = info.context.runtime.settings.public_url
    return configured or str(info.context.request.base_url)


@strawberry.type
class Query:
    @strawberry.field(
        permission_classes=STAFF_ADMIN,
        description="Ready-to-paste integration code for a product, per tier and language or "
        "gateway, with this console's URLs and the tenant's ids (never a secret).",
    )
    async def integration_guide(self, info: AppInfo, product_id: strawberry.ID) -> IntegrationGuide:
        pid = parse_id(product_id, "productId")
        url = _console_url(info)
        guide = await read(info, lambda s: integration.guide(s, pid, url))
        return IntegrationGuide.of(guide)
