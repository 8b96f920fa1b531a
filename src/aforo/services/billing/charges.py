"""A plan's metered charges, as stored: written once with the plan, read when billing."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.models.billing import PlanCharge
from aforo.services.billing.pricing import Charge


async def save_charges(
    session: AsyncSession, plan_id: uuid.UUID, charges: Sequence[Charge]
) -> None:
    """Store a new plan's (validated) charges, in the order given."""
    if not charges:
        return
    await session.execute(
        insert(PlanCharge),
        [
            {
                "tenant_id": session.info["tenant_id"],
                "plan_id": plan_id,
                "position": i,
                "metric": c.metric,
                "model": c.model,
                "included_units": c.included_units,
                "spec": c.spec(),
            }
            for i, c in enumerate(charges)
        ],
    )


async def charges_by_plan_ids(
    session: AsyncSession, plan_ids: Sequence[uuid.UUID]
) -> list[list[Charge]]:
    """Each plan's charges in order, one list per plan id, in key order (one statement)."""
    grouped: dict[uuid.UUID, list[Charge]] = defaultdict(list)
    rows = await session.scalars(
        select(PlanCharge)
        .where(PlanCharge.plan_id.in_(list(plan_ids)))
        .order_by(PlanCharge.plan_id, PlanCharge.position)
    )
    for r in rows:
        grouped[r.plan_id].append(Charge.from_stored(r.metric, r.model, r.included_units, r.spec))
    return [grouped.get(i, []) for i in plan_ids]
