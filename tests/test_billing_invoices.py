"""Invoices from usage: a period closed after usage came in through the ingestion endpoint,
reconciled line by line with the usage totals; late usage; transitions, numbering, audit."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP
from decimal import Decimal as D
from typing import Any

import asyncpg
import pytest

from aforo.services.billing.periods import add_months
from aforo.services.billing.rollups import floor_hour
from tests.gateway import app_of, queries, statements, verify
from tests.support import Api
from tests.test_billing_helpers import (
    INVOICE,
    another_subscriber,
    backdate,
    close_periods,
    event,
    finalize,
    ingest,
    invoice,
    make_billing,
    past_anchor,
    set_settings,
    transition,
)
from tests.test_usage_helpers import fetch


def lines_by(inv: dict[str, Any]) -> dict[tuple[str, str | None], dict[str, Any]]:
    return {(x["kind"], x["metric"]): x for x in inv["lines"]}


async def usage_total(api: Api, admin: str, sub: str, metric: str, lo: str, hi: str) -> D:
    d = await api.data(
        """query($f: UsageFilter!) { usage(filter: $f, granularity: HOUR) { total } }""",
        {"f": {"subscriptionId": sub, "metric": metric, "from": lo, "to": hi}},
        token=admin,
    )
    return D(d["usage"]["total"])


async def test_period_close_bills_the_usage_the_rollups_counted_exactly(api: Api) -> None:
    b = await make_billing(api)
    _, other_sub, other_key = await another_subscriber(api, b, "other@example.com")
    await set_settings(api, b.admin, taxRate="21", taxLabel="VAT", paymentTermsDays=14)
    start = past_anchor(40)
    end = await backdate(api.settings, b.tenant.id, b.sub, start)
    await backdate(api.settings, b.tenant.id, other_sub, start)
    k = b.key
    await ingest(
        api,
        b.gateway,
        [
            event("c1", "api_calls", "4000", start + timedelta(minutes=1), k),
            event("c2", "api_calls", "5000", start + timedelta(days=10), k),
            event("c3", "api_calls", "2500", end - timedelta(hours=2), k),
            # Hours are the grain: the hour the period ends in belongs to the next period,
            event("c4", "api_calls", "7", end - timedelta(minutes=10), k),
            # and usage before the period's first hour to none of this one.
            event("c5", "api_calls", "100", start - timedelta(hours=2), k),
            event("t1", "tokens", "300.5", start + timedelta(days=1), k),
            event("t2", "tokens", "1000", start + timedelta(days=2), k),
            event("o1", "api_calls", "999999", start + timedelta(days=3), other_key),  # not ours
            event("x1", "storage_gb", "50", start + timedelta(days=3), k),  # no charge for it
        ],
    )
    # The same batch again (a gateway retry) counts nothing twice, so bills nothing twice.
    assert (
        await ingest(
            api, b.gateway, [event("c2", "api_calls", "5000", start + timedelta(days=10), k)]
        )
    )["duplicates"] == 1

    drafted = await close_periods(api, b.admin)
    assert len(drafted) == 2  # one per subscription whose period ended
    inv = next(i for i in drafted if i["subscriptionId"] == b.sub)
    assert inv["status"] == "DRAFT" and inv["number"] is None
    assert (inv["periodStart"], inv["periodEnd"]) == (start.isoformat(), end.isoformat())
    lines = lines_by(inv)
    assert [x["kind"] for x in inv["lines"]] == ["FIXED_FEE", "USAGE", "USAGE"]

    # Every metered line equals what the usage query says for the same hours, exactly.
    lo, hi = floor_hour(start).isoformat(), floor_hour(end).isoformat()
    for metric, expected in (("api_calls", D(11500)), ("tokens", D("1300.5"))):
        line = lines[("USAGE", metric)]
        assert (line["periodStart"], line["periodEnd"]) == (lo, hi)
        assert D(line["quantity"]) == expected
        assert await usage_total(api, b.admin, b.sub, metric, lo, hi) == expected

    # Worked out by hand: 1,000 free; 9,000 at 0.002 = 18.00; 1,500 at 0.001 + 1.00 = 2.50.
    calls = lines[("USAGE", "api_calls")]
    assert calls["amount"] == {"amount": "20.50", "minorUnits": "2050", "currency": "USD"}
    assert [(t["tier"], D(t["quantity"]), D(t["amount"])) for t in calls["tiers"]] == [
        (1, 1000, D(0)),
        (2, 9000, D("18.000")),
        (3, 1500, D("2.500")),
    ]
    tokens = lines[("USAGE", "tokens")]  # 800.5 billable after 500 included, at 0.0004
    assert (tokens["billableQuantity"], tokens["amount"]["minorUnits"]) == ("800.5", "32")
    fee = lines[("FIXED_FEE", None)]
    assert (fee["amount"]["minorUnits"], fee["prorated"]) == ("1900", False)
    assert inv["subtotal"] == {"amount": "39.82", "minorUnits": "3982"}
    assert inv["taxRate"] == "21" and inv["tax"]["minorUnits"] == "836"  # 836.22
    assert inv["total"] == {"amount": "48.18", "minorUnits": "4818"}
    assert [e["type"] for e in inv["events"]] == ["drafted"]

    # The next period is open from the end of this one; closing again closes nothing.
    d = await api.data(
        "{ mySubscriptions { id currentPeriod { startsAt endsAt periodStart } } }", token=b.dev
    )
    assert d["mySubscriptions"][0]["currentPeriod"]["startsAt"] == end.isoformat()
    assert await close_periods(api, b.admin) == []
    count = await fetch(api.settings, b.tenant.id, "select count(*) as n from invoices")
    assert count[0]["n"] == 2


async def test_late_usage_is_an_adjustment_on_the_next_invoice_never_an_edit(api: Api) -> None:
    b = await make_billing(api)
    start = past_anchor(40)
    end = await backdate(api.settings, b.tenant.id, b.sub, start)
    await ingest(
        api, b.gateway, [event("a", "api_calls", "2000", start + timedelta(days=1), b.key)]
    )
    (first,) = await close_periods(api, b.admin)
    first = await finalize(api, b.admin, first["id"])
    assert first["number"] == "INV-000001" and first["dueAt"] == first["finalizedAt"]
    assert lines_by(first)[("USAGE", "api_calls")]["amount"]["minorUnits"] == "200"

    # Usage of the closed period arrives late.
    late = start + timedelta(days=5)
    await ingest(
        api,
        b.gateway,
        [
            event("late1", "api_calls", "9500", late, b.key),
            event("late2", "tokens", "600", late, b.key),
        ],
    )
    assert await invoice(api, b.dev, first["id"]) == first  # the finalized invoice is untouched

    # The database refuses edits of a finalized invoice, whoever tries.
    for sql in (
        "update invoices set total_minor = 1 where id = $1::uuid",
        "update invoices set status = 'DRAFT' where id = $1::uuid",
        "update invoice_lines set amount_minor = 0 where invoice_id = $1::uuid",
        "delete from invoice_lines where invoice_id = $1::uuid",
        "delete from invoices where id = $1::uuid",
    ):
        with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError):
            await fetch(api.settings, b.tenant.id, sql, first["id"])
    with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError):
        await fetch(
            api.settings,
            b.tenant.id,
            """insert into invoice_lines (tenant_id, invoice_id, position, kind, description,
                   quantity, amount_minor, billing_period_id, period_start, period_end)
               select tenant_id, id, 99, 'USAGE', 'x', 1, 1, billing_period_id, now(), now()
               from invoices where id = $1::uuid""",
            first["id"],
        )

    # Priced as the difference the late units make under the old period's plan:
    # 11,500 calls cost 20.50, 2,000 cost 2.00: 18.50; 600 tokens (100 billable) cost 0.04.
    up = await api.data(
        """query($s: ID!) { upcomingInvoice(subscriptionId: $s) { periodStart periodEnd
              lines { kind metric quantity adjustsInvoiceId amount { minorUnits } }
              subtotal { minorUnits } } }""",
        {"s": b.sub},
        token=b.dev,
    )
    adjustments = [x for x in up["upcomingInvoice"]["lines"] if x["kind"] == "ADJUSTMENT"]
    assert [
        (x["metric"], x["quantity"], x["amount"]["minorUnits"], x["adjustsInvoiceId"])
        for x in adjustments
    ] == [
        ("api_calls", "9500", "1850", first["id"]),
        ("tokens", "600", "4", first["id"]),
    ]

    # Cancelled at once: the keys stop at once and the final invoice carries the
    # adjustments, its fee prorated, and the usage up to now (this hour's too).
    recent = datetime.now(UTC) - timedelta(seconds=5)
    await ingest(api, b.gateway, [event("now", "tokens", "1500", recent, b.key)])
    assert (await verify(api, b.gateway, b.secret))[1]["code"] == "VALID"
    await api.data(
        "mutation($id: ID!) { cancelSubscription(id: $id) { __typename } }",
        {"id": b.sub},
        token=b.dev,
    )
    assert (await verify(api, b.gateway, b.secret))[1]["code"] == "REVOKED"
    d = await api.data(
        f"query($s: ID!) {{ invoices(subscriptionId: $s) {{ {INVOICE} }} }}",
        {"s": b.sub},
        token=b.dev,
    )
    final, again = d["invoices"]
    assert again == first
    got = lines_by(final)
    assert got[("ADJUSTMENT", "api_calls")]["amount"]["minorUnits"] == "1850"
    tokens = got[("USAGE", "tokens")]  # 1,000 billable at 0.0004
    assert (tokens["quantity"], tokens["amount"]["minorUnits"]) == ("1500", "40")
    assert got[("ADJUSTMENT", "tokens")]["periodStart"] == floor_hour(start).isoformat()
    fee = got[("FIXED_FEE", None)]
    assert fee["prorated"] and fee["periodStart"] == end.isoformat()
    used = datetime.fromisoformat(fee["periodEnd"]) - end
    whole = add_months(start, 2) - end  # the second period, from its start
    assert fee["amount"]["minorUnits"] == str(prorated(1900, used, whole))
    assert final["status"] == "DRAFT" and final["periodEnd"] == fee["periodEnd"]
    body = await api.gql(
        "query($s: ID!) { upcomingInvoice(subscriptionId: $s) { total { amount } } }",
        {"s": b.sub},
        token=b.dev,
    )
    assert body["errors"][0]["extensions"]["code"] == "CONFLICT"  # nothing is upcoming now


def prorated(fee: int, used: timedelta, whole: timedelta) -> int:
    micros = timedelta(microseconds=1)
    exact = D(fee) * D(used // micros) / D(whole // micros)
    return int(exact.quantize(D(1), rounding=ROUND_HALF_UP))


async def test_transitions_number_without_gaps_are_audited_and_emitted(api: Api) -> None:
    b = await make_billing(api)
    subs = [b.sub]
    tokens = {b.sub: b.dev}
    for n in range(2):
        token, sub, _ = await another_subscriber(api, b, f"dev{n}@example.com")
        subs.append(sub)
        tokens[sub] = token
    start = past_anchor(40)
    for sub in subs:
        await backdate(api.settings, b.tenant.id, sub, start)
    await set_settings(api, b.admin, invoicePrefix="ACME-2026", paymentTermsDays=30)
    drafted = {i["subscriptionId"]: i["id"] for i in await close_periods(api, b.admin)}
    assert set(drafted) == set(subs)
    a, bb, c = (drafted[s] for s in subs)

    # Finalized at once, and one of them twice: numbers 1-3, each once, the repeat refused.
    results = await asyncio.gather(
        *(transition(api, b.admin, "finalizeInvoice", i) for i in (a, bb, c, a))
    )
    numbers = sorted(r["number"] for r in results if r["__typename"] == "Invoice")
    assert numbers == ["ACME-2026-000001", "ACME-2026-000002", "ACME-2026-000003"]
    refused = [r for r in results if r["__typename"] == "UserError"]
    assert [(r["code"], r["field"]) for r in refused] == [("CONFLICT", "id")]
    fin = next(r for r in results if r["__typename"] == "Invoice" and r["id"] == c)
    due = datetime.fromisoformat(fin["dueAt"]) - datetime.fromisoformat(fin["finalizedAt"])
    assert due == timedelta(days=30)

    paid = await transition(api, b.admin, "markInvoicePaid", a, paymentReference="pi_3Kx")
    assert (paid["status"], paid["paymentReference"]) == ("PAID", "pi_3Kx") and paid["paidAt"]
    voided = await transition(api, b.admin, "voidInvoice", bb, reason="goodwill credit")
    assert voided["status"] == "VOID" and voided["voidedAt"]
    for mutation, invoice_id, args in (
        ("markInvoicePaid", a, {}),  # paid already
        ("voidInvoice", a, {"reason": "x"}),  # a paid invoice stays paid
        ("finalizeInvoice", bb, {}),
        ("markInvoicePaid", bb, {}),  # void
    ):
        got = await transition(api, b.admin, mutation, invoice_id, **args)
        assert (got["__typename"], got["code"]) == ("UserError", "CONFLICT"), (mutation, got)
    got = await transition(api, b.admin, "voidInvoice", c, reason=" ")
    assert (got["code"], got["field"]) == ("INVALID", "reason")
    got = await transition(api, b.admin, "finalizeInvoice", "00000000-0000-0000-0000-000000000000")
    assert (got["code"], got["field"]) == ("NOT_FOUND", "id")

    # Each transition is on the invoice's audit trail, with who did it.
    admin_id = (await api.data("{ me { id } }", token=b.admin))["me"]["id"]
    mine = await invoice(api, b.dev, a)
    assert [(e["type"], e["actorId"]) for e in mine["events"]] == [
        ("drafted", None),  # the billing job
        ("finalized", admin_id),
        ("paid", admin_id),
    ]
    # ... and on the outbox, topic aforo.billing.events, for a payment provider to consume.
    rows = await fetch(
        api.settings,
        b.tenant.id,
        """select type, payload from outbox where topic = 'aforo.billing.events'
           and type like 'invoice.%' order by seq""",
    )
    kinds = [r["type"] for r in rows]
    assert sorted(set(kinds)) == [
        "invoice.drafted",
        "invoice.finalized",
        "invoice.paid",
        "invoice.voided",
    ]
    assert (kinds.count("invoice.drafted"), kinds.count("invoice.finalized")) == (3, 3)
    finalized = [json.loads(r["payload"]) for r in rows if r["type"] == "invoice.finalized"]
    event_c = next(p for p in finalized if p["invoice_id"] == c)
    assert event_c["amount_due"] == fin["total"]["amount"] and event_c["currency"] == "USD"
    assert event_c["number"] == fin["number"] and event_c["customer_email"] == "dev1@example.com"
    assert not any(b.secret in r["payload"] or b.gateway in r["payload"] for r in rows)

    # Who reads what: the admin every invoice, a developer their own only. A page of invoices
    # with their lines and audit trails costs three statements, however many invoices.
    with statements(app_of(api)) as seen:
        listed = await api.data(
            "{ invoices { id status lines { amount { amount } } events { type } } }",
            token=b.admin,
        )
    assert len(queries(seen)) == 3, queries(seen)
    assert {i["id"] for i in listed["invoices"]} == {a, bb, c}
    assert [i["id"] for i in (await api.data("{ invoices { id } }", token=b.dev))["invoices"]] == [
        a
    ]
    stranger = tokens[subs[1]]
    body = await api.gql("query($id: ID!) { invoice(id: $id) { id } }", {"id": a}, token=stranger)
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    body = await api.gql(
        "query($s: ID!) { upcomingInvoice(subscriptionId: $s) { total { amount } } }",
        {"s": b.sub},
        token=stranger,
    )
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    got = await api.data(
        "query($s: ID!) { invoices(subscriptionId: $s) { id } }", {"s": b.sub}, token=stranger
    )
    assert got["invoices"] == []
    d = await api.data("{ invoices(status: PAID) { id } }", token=b.admin)
    assert [i["id"] for i in d["invoices"]] == [a]
