"""Billing test kit (no tests here): a tenant selling a metered plan to a developer, usage sent
through the real ingestion endpoint, periods moved into the past, GraphQL calls for invoices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aforo.config import Settings
from aforo.services.billing.periods import add_months
from tests.gateway import (
    create_gateway_token,
    create_key,
    create_plan,
    create_product,
    ok,
    subscribe,
)
from tests.support import Api, TenantFixture, make_tenant
from tests.test_usage_helpers import fetch

# A plan priced every way at once: USD 19.00 a month, calls graduated (first 1,000 free,
# then 0.002, above 10,000 0.001 plus a 1.00 flat fee), tokens per unit after 500 included.
CHARGES = [
    {
        "metric": "api_calls",
        "model": "GRADUATED",
        "tiers": [
            {"upTo": "1000", "unitPrice": "0"},
            {"upTo": "10000", "unitPrice": "0.002"},
            {"unitPrice": "0.001", "flatFee": "1.00"},
        ],
    },
    {"metric": "tokens", "model": "PER_UNIT", "unitPrice": "0.0004", "includedUnits": "500"},
]

LINE = """position kind description metric quantity unitPrice amount { amount minorUnits currency }
          periodStart periodEnd adjustsInvoiceId pricingModel includedUnits billableQuantity
          packages prorated tiers { tier quantity unitPrice flatFee amount }"""
INVOICE = f"""id number status subscriptionId customerEmail currency periodStart periodEnd
              subtotal {{ amount minorUnits }} taxRate tax {{ amount minorUnits }}
              total {{ amount minorUnits }} finalizedAt dueAt paidAt voidedAt paymentReference
              pdfPath lines {{ {LINE} }} events {{ type actorId }}"""


@dataclass
class Billing:
    tenant: TenantFixture
    admin: str
    dev: str
    dev_id: str
    product: str
    plan: str
    sub: str
    key: str
    secret: str  # the key's raw secret
    gateway: str


async def make_billing(
    api: Api, *, email: str = "dev@example.com", t: TenantFixture | None = None, **plan: Any
) -> Billing:
    t = t or await make_tenant(api.settings)
    admin = await api.admin_token(t)
    product = await create_product(api, admin)
    plan_id = await create_plan(
        api, admin, product, monthlyQuota=None, priceCents=1900, charges=CHARGES, **plan
    )
    dev = await api.sign_up(t, email)
    sub = await subscribe(api, dev["accessToken"], plan_id)
    key = await create_key(api, dev["accessToken"], sub)
    gateway = await create_gateway_token(api, admin)
    return Billing(
        t, admin, dev["accessToken"], dev["user"]["id"], product, plan_id, sub,
        key["apiKey"]["id"], key["secret"], gateway,
    )  # fmt: skip


async def another_subscriber(api: Api, b: Billing, email: str) -> tuple[str, str, str]:
    """(token, subscription id, key id) of a second developer on the same plan."""
    dev = await api.sign_up(b.tenant, email)
    sub = await subscribe(api, dev["accessToken"], b.plan)
    key = await create_key(api, dev["accessToken"], sub)
    return dev["accessToken"], sub, key["apiKey"]["id"]


def past_anchor(days: int = 40) -> datetime:
    """A start in the past at 17 minutes past an hour (periods need not begin on the hour)."""
    t = datetime.now(UTC) - timedelta(days=days)
    return t.replace(minute=17, second=0, microsecond=0)


async def backdate(settings: Settings, tenant_id: str, sub_id: str, start: datetime) -> datetime:
    """Move a subscription's anchor and open period to begin at ``start`` (one month long, so
    its end may have passed); returns the period's end."""
    end = add_months(start, 1)
    await fetch(
        settings,
        tenant_id,
        """with s as (update subscriptions set billing_anchor = $2, created_at = $2
                      where id = $1::uuid returning id)
           update billing_periods set period_start = $2, starts_at = $2, period_end = $3,
                  ends_at = $3
           where subscription_id = (select id from s) and status = 'OPEN' returning 1""",
        sub_id,
        start,
        end,
    )
    return end


async def ingest(api: Api, gateway: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    r = await api.client.post(
        "/v1/usage/events",
        json={"events": events},
        headers={"Authorization": f"Bearer {gateway}"},
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["rejected"] == [], body
    return body


def event(n: str, metric: str, quantity: str, at: datetime, consumer: str) -> dict[str, Any]:
    return {
        "event_id": n,
        "metric": metric,
        "quantity": quantity,
        "occurred_at": at.isoformat(),
        "consumer": consumer,
    }


async def close_periods(api: Api, admin: str) -> list[dict[str, Any]]:
    d = await api.data(
        f"mutation {{ closeBillingPeriods {{ invoices {{ {INVOICE} }} }} }}", token=admin
    )
    invoices: list[dict[str, Any]] = d["closeBillingPeriods"]["invoices"]
    return invoices


async def invoice(api: Api, token: str, invoice_id: str) -> dict[str, Any]:
    d = await api.data(
        f"query($id: ID!) {{ invoice(id: $id) {{ {INVOICE} }} }}", {"id": invoice_id}, token=token
    )
    got: dict[str, Any] = d["invoice"]
    return got


async def transition(
    api: Api, admin: str, mutation: str, invoice_id: str, **args: Any
) -> dict[str, Any]:
    """Run finalizeInvoice / voidInvoice / markInvoicePaid; returns the payload (or error)."""
    extra = "".join(f", {k}: ${k}" for k in args)
    decl = "".join(f", ${k}: String{'!' if k == 'reason' else ''}" for k in args)
    d = await api.data(
        f"""mutation($id: ID!{decl}) {{ {mutation}(id: $id{extra}) {{ __typename
              ... on Invoice {{ {INVOICE} }} ... on UserError {{ code message field }} }} }}""",
        {"id": invoice_id, **args},
        token=admin,
    )
    result: dict[str, Any] = d[mutation]
    return result


async def finalize(api: Api, admin: str, invoice_id: str) -> dict[str, Any]:
    done = await transition(api, admin, "finalizeInvoice", invoice_id)
    assert done.pop("__typename") == "Invoice", done
    return done


async def set_settings(api: Api, admin: str, **values: Any) -> dict[str, Any]:
    return await ok(
        api,
        """mutation($i: BillingSettingsInput!) { updateBillingSettings(input: $i) { __typename
             ... on BillingSettings { taxRate taxLabel invoicePrefix paymentTermsDays brandName
                                      brandColor hasLogo address footer }
             ... on UserError { code message field } } }""",
        {"i": values},
        "updateBillingSettings",
        token=admin,
    )
