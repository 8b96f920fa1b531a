"""Closing periods is idempotent: several closers at once (the service's job on two
instances' worth of tasks, an admin, the command line) close each period once, and a database
restart in the middle of a close loses nothing and doubles nothing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
from typer.testing import CliRunner

from aforo.cli import app as cli
from aforo.runtime.postgres import EmbeddedPostgres
from aforo.services.billing import close_due_periods
from aforo.services.billing.periods import add_months
from tests.gateway import app_of
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
from tests.test_cli import _env
from tests.test_usage_helpers import dsn, fetch


def run_cli(api: Api, *args: str) -> Any:
    """The command in this process (the CLI tests run it as a subprocess; this one runs it
    beside other closers), with the environment a user would give it."""
    result = CliRunner().invoke(cli, list(args), env=_env(api.settings))
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


async def state(api: Api, tenant_id: str) -> dict[str, Any]:
    (row,) = await fetch(
        api.settings,
        tenant_id,
        """select (select count(*) from invoices) as invoices,
                  (select count(distinct billing_period_id) from invoices) as invoiced,
                  (select count(*) from invoice_lines) as lines,
                  (select count(*) from billing_periods where status = 'CLOSED') as closed,
                  (select count(*) from billing_periods where status = 'OPEN') as open,
                  (select count(*) from outbox where type = 'invoice.drafted') as events""",
    )
    return {k: int(v) for k, v in row.items()}


async def test_concurrent_closers_close_every_period_once(api: Api) -> None:
    b = await make_billing(api)
    subs = [b.sub] + [(await another_subscriber(api, b, f"d{n}@example.com"))[1] for n in range(3)]
    start = past_anchor(70)  # two periods of each subscription are due
    for s in subs:
        await backdate(api.settings, b.tenant.id, s, start)
    await ingest(api, b.gateway, [event("u", "api_calls", "5000", start, b.key)])
    runtime = app_of(api).state.runtime

    results = await asyncio.gather(
        *(close_due_periods(runtime) for _ in range(3)),
        close_periods(api, b.admin),
        asyncio.to_thread(run_cli, api, "billing", "close", "--json"),
    )
    drafted = [str(i) for r in results[:3] for i in r]
    drafted += [i["id"] for i in results[3]] + results[4]["invoices"]
    assert len(drafted) == len(set(drafted)) == 8  # each invoice drafted by exactly one closer
    assert await state(api, b.tenant.id) == {
        "invoices": 8,
        "invoiced": 8,
        "lines": 8 * 3,  # fee, calls, tokens
        "closed": 8,
        "open": 4,
        "events": 8,
    }
    third = add_months(start, 2)
    rows = await fetch(
        api.settings, b.tenant.id, "select period_start from billing_periods where status = 'OPEN'"
    )
    assert {r["period_start"] for r in rows} == {third}
    # The usage was billed once, in the first period.
    billed = await fetch(
        api.settings,
        b.tenant.id,
        "select sum(quantity) as q from invoice_lines where metric = 'api_calls'",
    )
    assert billed[0]["q"] == 5000
    assert await close_due_periods(runtime) == [] and await close_periods(api, b.admin) == []


async def test_a_database_restart_mid_close_loses_and_doubles_nothing(
    api: Api, pg: EmbeddedPostgres
) -> None:
    b = await make_billing(api)
    start = past_anchor(40)
    end = await backdate(api.settings, b.tenant.id, b.sub, start)
    await ingest(api, b.gateway, [event("u", "api_calls", "3000", start, b.key)])
    runtime = app_of(api).state.runtime

    # Another transaction holds the row the close will write last (the next period), so the
    # close blocks after drafting the invoice and its lines, uncommitted.
    blocker = await asyncpg.connect(dsn(api.settings))
    tx = blocker.transaction()
    await tx.start()
    await blocker.execute("select set_config('app.tenant_id', $1, true)", b.tenant.id)
    await blocker.execute(
        """insert into billing_periods (tenant_id, subscription_id, plan_id, seq, period_start,
               period_end, starts_at, ends_at, status)
           select tenant_id, subscription_id, plan_id, 1, $2, $3, $2, $3, 'CLOSED'
           from billing_periods where subscription_id = $1::uuid""",
        b.sub,
        end,
        add_months(start, 2),
    )
    closer = asyncio.create_task(close_due_periods(runtime))
    owner_url = (api.settings.migration_database_url or "").replace("+asyncpg", "")
    owner = await asyncpg.connect(owner_url)  # the cluster's superuser, in this database
    try:
        for _ in range(200):
            waiting = await owner.fetch(
                """select query from pg_stat_activity
                   where wait_event_type = 'Lock' and query like '%billing_periods%'"""
            )
            if waiting:
                break
            await asyncio.sleep(0.05)
        assert waiting and "insert" in waiting[0]["query"].lower(), "the close never blocked"
        # How far it got: its invoice is written, in its open transaction.
        locks = await owner.fetchval(
            """select count(*) from pg_locks l join pg_class c on c.oid = l.relation
               where c.relname = 'invoice_lines' and l.mode = 'RowExclusiveLock'"""
        )
        assert locks >= 1
    finally:
        await owner.close()
    pg.stop()
    pg.start()
    assert await closer == []  # it failed with the server, and said so in the log
    blocker.terminate()
    assert await state(api, b.tenant.id) == {
        "invoices": 0, "invoiced": 0, "lines": 0, "closed": 0, "open": 1, "events": 0
    }  # fmt: skip

    # Run again: closed once, exactly as it would have been.
    (invoice_id,) = await close_due_periods(runtime)
    assert await state(api, b.tenant.id) == {
        "invoices": 1, "invoiced": 1, "lines": 3, "closed": 1, "open": 1, "events": 1
    }  # fmt: skip
    d = await api.data(
        "query($id: ID!) { invoice(id: $id) { lines { metric quantity } total { minorUnits } } }",
        {"id": str(invoice_id)},
        token=b.admin,
    )
    assert d["invoice"]["lines"][1] == {"metric": "api_calls", "quantity": "3000"}
    assert d["invoice"]["total"]["minorUnits"] == str(1900 + 400)  # 2,000 x 0.002
    assert await close_due_periods(runtime) == []
