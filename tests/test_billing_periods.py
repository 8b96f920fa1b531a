"""Billing periods: plan changes mid-period, cancellation at period end or at once, the
billing job that rolls periods over (in the service and from the command line)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from aforo.config import Settings
from aforo.services.billing.periods import add_months
from tests.conftest import with_settings
from tests.gateway import create_plan, create_product, serving, verify
from tests.support import Api
from tests.test_billing_helpers import (
    another_subscriber,
    backdate,
    close_periods,
    event,
    ingest,
    make_billing,
    past_anchor,
)
from tests.test_billing_invoices import prorated
from tests.test_usage_helpers import fetch

SUB = """id status cancelAtPeriodEnd cancelledAt plan { id }
         currentPeriod { startsAt endsAt periodStart periodEnd planId }"""


async def change(api: Api, token: str, sub: str, plan: str) -> dict[str, Any]:
    d = await api.data(
        f"""mutation($s: ID!, $p: ID!) {{ changeSubscriptionPlan(subscriptionId: $s, planId: $p) {{
              __typename ... on Subscription {{ {SUB} }} ... on UserError {{ code field }} }} }}""",
        {"s": sub, "p": plan},
        token=token,
    )
    result: dict[str, Any] = d["changeSubscriptionPlan"]
    return result


async def cancel(api: Api, token: str, sub: str, at_period_end: bool = False) -> dict[str, Any]:
    d = await api.data(
        f"""mutation($s: ID!, $e: Boolean!) {{ cancelSubscription(id: $s, atPeriodEnd: $e) {{
              __typename ... on Subscription {{ {SUB} }} ... on UserError {{ code field }} }} }}""",
        {"s": sub, "e": at_period_end},
        token=token,
    )
    result: dict[str, Any] = d["cancelSubscription"]
    return result


async def test_a_plan_change_closes_the_old_charges_and_opens_new_ones(api: Api) -> None:
    b = await make_billing(api)
    pro = await create_plan(api, b.admin, b.product, slug="pro", name="Pro", priceCents=4900)
    other_product = await create_product(api, b.admin, slug="maps")
    elsewhere = await create_plan(api, b.admin, other_product, slug="maps")
    in_euros = await create_plan(api, b.admin, b.product, slug="eu", currency="EUR")
    start = datetime.now(UTC) - timedelta(days=10)
    end = await backdate(api.settings, b.tenant.id, b.sub, start)
    await ingest(
        api, b.gateway, [event("u1", "api_calls", "1500", start + timedelta(days=1), b.key)]
    )

    for plan, field in ((elsewhere, "planId"), (in_euros, "planId"), (b.plan, "planId")):
        got = await change(api, b.dev, b.sub, plan)
        assert (got["__typename"], got["code"], got["field"]) == ("UserError", "CONFLICT", field)
    moved = await change(api, b.dev, b.sub, pro)
    assert moved["plan"]["id"] == pro
    now = moved["currentPeriod"]
    assert (now["planId"], now["periodStart"], now["periodEnd"], now["endsAt"]) == (
        pro,
        start.isoformat(),
        end.isoformat(),
        end.isoformat(),
    )
    changed_at = datetime.fromisoformat(now["startsAt"])

    # The old plan's stretch is invoiced now: its fee prorated, its usage so far.
    d = await api.data(
        """query($s: ID!) { invoices(subscriptionId: $s) { periodStart periodEnd
             lines { kind metric quantity prorated amount { minorUnits } } } }""",
        {"s": b.sub},
        token=b.dev,
    )
    (old,) = d["invoices"]
    assert (old["periodStart"], old["periodEnd"]) == (start.isoformat(), now["startsAt"])
    fee, calls, tokens = old["lines"]
    assert fee["prorated"] and fee["amount"]["minorUnits"] == str(
        prorated(1900, changed_at - start, end - start)
    )
    assert (calls["quantity"], calls["amount"]["minorUnits"]) == ("1500", "100")  # 500 x 0.002
    assert tokens["quantity"] == "0"
    # The new plan's runs to the end of the period: its own fee, prorated from the change.
    up = await api.data(
        """query($s: ID!) { upcomingInvoice(subscriptionId: $s) { periodStart periodEnd
             lines { kind prorated amount { minorUnits } } total { minorUnits } } }""",
        {"s": b.sub},
        token=b.dev,
    )
    (line,) = up["upcomingInvoice"]["lines"]  # Pro has no metered charges
    assert line["prorated"] and line["amount"]["minorUnits"] == str(
        prorated(4900, end - changed_at, end - start)
    )
    # Someone else's subscription cannot be moved.
    other = await api.sign_up(b.tenant, "other@example.com")
    got = await change(api, other["accessToken"], b.sub, b.plan)
    assert (got["code"], got["field"]) == ("NOT_FOUND", "subscriptionId")


async def test_the_job_rolls_periods_over_and_ends_those_cancelled_at_period_end(
    settings: Settings,
) -> None:
    async with serving(with_settings(settings, billing_interval_s=0.1)) as api:
        b = await make_billing(api)
        start = past_anchor(20)
        end = await backdate(api.settings, b.tenant.id, b.sub, start)
        scheduled = await cancel(api, b.dev, b.sub, at_period_end=True)
        assert (scheduled["status"], scheduled["cancelAtPeriodEnd"]) == ("ACTIVE", True)
        assert (await cancel(api, b.dev, b.sub, at_period_end=True))["code"] == "CONFLICT"
        resumed = await api.data(
            """mutation($s: ID!) { resumeSubscription(id: $s) {
                 ... on Subscription { cancelAtPeriodEnd } } }""",
            {"s": b.sub},
            token=b.dev,
        )
        assert resumed["resumeSubscription"]["cancelAtPeriodEnd"] is False
        await cancel(api, b.dev, b.sub, at_period_end=True)
        assert (await verify(api, b.gateway, b.secret))[1]["code"] == "VALID"
        up = await api.data(
            """query($s: ID!) { upcomingInvoice(subscriptionId: $s) {
                 endsSubscription periodEnd } }""",
            {"s": b.sub},
            token=b.dev,
        )
        assert up["upcomingInvoice"] == {"endsSubscription": True, "periodEnd": end.isoformat()}

        # Usage in the hour the period ends is billed too: there is no next period to take it.
        start = past_anchor(40)
        end = add_months(start, 1)
        await ingest(
            api, b.gateway, [event("last", "api_calls", "1200", end - timedelta(minutes=10), b.key)]
        )
        # Both periods end (moved into the past here): the job acts on its own. Another
        # subscriber two periods behind gets both closed.
        _, other, _ = await another_subscriber(api, b, "other@example.com")
        behind = past_anchor(70)
        await backdate(api.settings, b.tenant.id, other, behind)
        await backdate(api.settings, b.tenant.id, b.sub, start)
        for _ in range(150):
            rows = await fetch(
                settings,
                b.tenant.id,
                "select subscription_id::text as sub, period_start from invoices order by 2",
            )
            if len(rows) == 3:
                break
            await asyncio.sleep(0.1)
        assert sorted((r["sub"], r["period_start"]) for r in rows) == sorted(
            [(other, behind), (other, add_months(behind, 1)), (b.sub, start)]
        )
        d = await api.data(f"{{ subscriptions {{ {SUB} }} }}", token=b.admin)
        subs = {x["id"]: x for x in d["subscriptions"]}
        assert subs[other]["currentPeriod"]["periodStart"] == add_months(behind, 2).isoformat()
        mine = subs[b.sub]
        assert (mine["status"], mine["cancelledAt"], mine["currentPeriod"]) == (
            "CANCELLED",
            end.isoformat(),
            None,
        )
        assert (await verify(api, b.gateway, b.secret))[1]["code"] == "REVOKED"
        d = await api.data(
            """query($s: ID!) { invoices(subscriptionId: $s) { id
                 lines { metric quantity amount { minorUnits } } } }""",
            {"s": b.sub},
            token=b.dev,
        )
        (final,) = d["invoices"]
        calls = next(x for x in final["lines"] if x["metric"] == "api_calls")
        assert (calls["quantity"], calls["amount"]["minorUnits"]) == ("1200", "40")
        assert await close_periods(api, b.admin) == []
        rows = await fetch(
            settings,
            b.tenant.id,
            "select payload from outbox where type = 'subscription.cancelled'",
        )
        payload = json.loads(rows[0]["payload"])
        assert payload["at_period_end"] is True and payload["final_invoice_id"] == final["id"]
