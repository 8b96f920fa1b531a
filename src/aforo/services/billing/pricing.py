"""Metered charges: how a quantity of one metric becomes an amount, for each pricing model.

Every model first takes the charge's *included units* off the measured quantity (the free
allowance); what is left is the *billable* quantity. Then:

- ``PER_UNIT``: billable * unit price.
- ``PACKAGE``: ceil(billable / package size) packages * package price (a started package is paid).
- ``GRADUATED``: each tier prices the units that fall in it (tier *i* holds the units above the
  previous tier's ``up_to`` up to and including its own), plus the tier's flat fee when any
  unit falls in it; the amounts add up.
- ``VOLUME``: the tier the whole billable quantity falls in prices every unit, plus that
  tier's flat fee.

A billable quantity of zero costs nothing in every model (no tier is entered, so no flat fee).
Tiers are given in order, each ``up_to`` greater than the last, the last one unbounded.
Amounts here are exact ``Decimal`` in major units; ``round_minor`` turns a line's total into
minor units once (see ``money``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_CEILING, Decimal
from typing import Any

from aforo.errors import ValidationFailed
from aforo.services.billing.money import decimal_value, round_minor

PER_UNIT, PACKAGE, GRADUATED, VOLUME = "PER_UNIT", "PACKAGE", "GRADUATED", "VOLUME"
MODELS = (PER_UNIT, PACKAGE, GRADUATED, VOLUME)
MAX_TIERS = 20
MAX_CHARGES = 20
MAX_UNITS = Decimal(10) ** 15  # included units, package sizes, tier bounds
ZERO = Decimal(0)


@dataclass(frozen=True)
class Tier:
    up_to: Decimal | None  # inclusive upper bound in billable units; None: unbounded (last)
    unit_price: Decimal
    flat_fee: Decimal = ZERO


@dataclass(frozen=True)
class Charge:
    """One metric's price on a plan."""

    metric: str
    model: str
    included_units: Decimal = ZERO
    unit_price: Decimal | None = None  # PER_UNIT
    package_size: Decimal | None = None  # PACKAGE
    package_price: Decimal | None = None  # PACKAGE
    tiers: tuple[Tier, ...] = ()  # GRADUATED, VOLUME

    def spec(self) -> dict[str, Any]:
        """The model-specific part, as stored (decimals as strings: exact in JSON)."""
        if self.model == PER_UNIT:
            return {"unit_price": _s(self.unit_price)}
        if self.model == PACKAGE:
            return {"package_size": _s(self.package_size), "package_price": _s(self.package_price)}
        return {
            "tiers": [
                {
                    "up_to": None if t.up_to is None else _s(t.up_to),
                    "unit_price": _s(t.unit_price),
                    "flat_fee": _s(t.flat_fee),
                }
                for t in self.tiers
            ]
        }

    @classmethod
    def from_stored(
        cls, metric: str, model: str, included: Decimal, spec: Mapping[str, Any]
    ) -> Charge:
        def d(v: Any) -> Decimal | None:
            return None if v is None else Decimal(str(v))

        tiers = tuple(
            Tier(d(t.get("up_to")), Decimal(t["unit_price"]), Decimal(t.get("flat_fee") or 0))
            for t in spec.get("tiers") or ()
        )
        return cls(
            metric=metric,
            model=model,
            included_units=included,
            unit_price=d(spec.get("unit_price")),
            package_size=d(spec.get("package_size")),
            package_price=d(spec.get("package_price")),
            tiers=tiers,
        )


@dataclass(frozen=True)
class TierAmount:
    """One tier's share of a graduated or volume price."""

    tier: int  # 1-based
    first_unit: Decimal  # the tier's lower bound (exclusive): the previous tier's up_to, or 0
    up_to: Decimal | None
    quantity: Decimal  # units priced in this tier
    unit_price: Decimal
    flat_fee: Decimal
    amount: Decimal  # exact, major units


@dataclass(frozen=True)
class Priced:
    quantity: Decimal  # measured
    billable: Decimal  # after the included units
    amount: Decimal  # exact, major units
    amount_minor: int  # rounded once
    unit_price: Decimal | None = None  # PER_UNIT: the price; VOLUME: the chosen tier's
    packages: Decimal | None = None  # PACKAGE
    tiers: tuple[TierAmount, ...] = field(default=())

    def detail(self, charge: Charge) -> dict[str, Any]:
        """What an invoice line keeps to show how its amount came about."""
        out: dict[str, Any] = {
            "model": charge.model,
            "included_units": _s(charge.included_units),
            "billable": _s(self.billable),
        }
        if charge.model == PACKAGE:
            out.update(
                package_size=_s(charge.package_size),
                package_price=_s(charge.package_price),
                packages=_s(self.packages),
            )
        if self.tiers:
            out["tiers"] = [
                {
                    "tier": t.tier,
                    "first_unit": _s(t.first_unit),
                    "up_to": None if t.up_to is None else _s(t.up_to),
                    "quantity": _s(t.quantity),
                    "unit_price": _s(t.unit_price),
                    "flat_fee": _s(t.flat_fee),
                    "amount": _s(t.amount),
                }
                for t in self.tiers
            ]
        return out


def _s(d: Decimal | None) -> str | None:
    return None if d is None else format(d, "f")


def price(charge: Charge, quantity: Decimal, currency: str) -> Priced:
    """The amount ``quantity`` units of ``charge.metric`` cost in one period."""
    billable = max(quantity - charge.included_units, ZERO)
    if charge.model == PER_UNIT:
        assert charge.unit_price is not None
        exact = billable * charge.unit_price
        return Priced(quantity, billable, exact, round_minor(exact, currency), charge.unit_price)
    if charge.model == PACKAGE:
        assert charge.package_size is not None and charge.package_price is not None
        packages = (billable / charge.package_size).to_integral_value(rounding=ROUND_CEILING)
        exact = packages * charge.package_price
        return Priced(
            quantity,
            billable,
            exact,
            round_minor(exact, currency),
            charge.package_price,
            packages=packages,
        )
    if charge.model == GRADUATED:
        parts = _graduated(charge.tiers, billable)
    elif charge.model == VOLUME:
        parts = _volume(charge.tiers, billable)
    else:
        raise ValueError(f"unknown pricing model {charge.model}")
    exact = sum((p.amount for p in parts), ZERO)
    unit = parts[0].unit_price if charge.model == VOLUME and parts else None
    return Priced(quantity, billable, exact, round_minor(exact, currency), unit, tiers=parts)


def _graduated(tiers: Sequence[Tier], billable: Decimal) -> tuple[TierAmount, ...]:
    parts: list[TierAmount] = []
    lower = ZERO
    for i, t in enumerate(tiers, 1):
        if billable <= lower:
            break
        upper = billable if t.up_to is None else min(billable, t.up_to)
        units = upper - lower
        parts.append(
            TierAmount(
                i,
                lower,
                t.up_to,
                units,
                t.unit_price,
                t.flat_fee,
                units * t.unit_price + t.flat_fee,
            )
        )
        if t.up_to is None:
            break
        lower = t.up_to
    return tuple(parts)


def _volume(tiers: Sequence[Tier], billable: Decimal) -> tuple[TierAmount, ...]:
    if billable <= 0:
        return ()
    lower = ZERO
    for i, t in enumerate(tiers, 1):
        if t.up_to is None or billable <= t.up_to:
            amount = billable * t.unit_price + t.flat_fee
            return (TierAmount(i, lower, t.up_to, billable, t.unit_price, t.flat_fee, amount),)
        lower = t.up_to
    raise AssertionError("the last tier is unbounded")  # validate_charge guarantees it


# -- validation --------------------------------------------------------------------------------
def validate_charge(c: Charge, where: str) -> Charge:
    """Check one charge; ``where`` prefixes the offending field (``charges[2]``)."""
    metric = c.metric.strip()
    if not metric or len(metric) > 200 or any(ord(ch) < 32 for ch in metric):
        raise ValidationFailed("1-200 printable characters", field=f"{where}.metric")
    if c.model not in MODELS:
        raise ValidationFailed(f"one of {', '.join(MODELS)}", field=f"{where}.model")
    included = decimal_value(c.included_units, f"{where}.includedUnits", maximum=MAX_UNITS)
    out = Charge(metric=metric, model=c.model, included_units=included)
    if c.model == PER_UNIT:
        if c.unit_price is None:
            raise ValidationFailed(
                "a per-unit charge needs a unitPrice", field=f"{where}.unitPrice"
            )
        _only(c, where, "unitPrice")
        return replace(out, unit_price=decimal_value(c.unit_price, f"{where}.unitPrice"))
    if c.model == PACKAGE:
        if c.package_size is None or c.package_size <= 0:
            raise ValidationFailed("a positive number of units", field=f"{where}.packageSize")
        if c.package_price is None:
            raise ValidationFailed(
                "a package charge needs a packagePrice", field=f"{where}.packagePrice"
            )
        _only(c, where, "packageSize", "packagePrice")
        size = decimal_value(c.package_size, f"{where}.packageSize", maximum=MAX_UNITS)
        pp = decimal_value(c.package_price, f"{where}.packagePrice")
        return replace(out, package_size=size, package_price=pp)
    _only(c, where, "tiers")
    return replace(out, tiers=_validate_tiers(c.tiers, where))


def _only(c: Charge, where: str, *allowed: str) -> None:
    """A field of another model is a mistake worth saying, not something to ignore."""
    given = {
        "unitPrice": c.unit_price is not None,
        "packageSize": c.package_size is not None,
        "packagePrice": c.package_price is not None,
        "tiers": bool(c.tiers),
    }
    for name, present in given.items():
        if present and name not in allowed:
            raise ValidationFailed(f"not used by a {c.model} charge", field=f"{where}.{name}")


def _validate_tiers(tiers: Sequence[Tier], where: str) -> tuple[Tier, ...]:
    if not tiers:
        raise ValidationFailed("at least one tier", field=f"{where}.tiers")
    if len(tiers) > MAX_TIERS:
        raise ValidationFailed(f"at most {MAX_TIERS} tiers", field=f"{where}.tiers")
    out: list[Tier] = []
    previous = ZERO
    for i, t in enumerate(tiers):
        f = f"{where}.tiers[{i}]"
        last = i == len(tiers) - 1
        if t.up_to is None and not last:
            raise ValidationFailed("only the last tier is unbounded", field=f"{f}.upTo")
        if t.up_to is not None:
            if last:
                raise ValidationFailed(
                    "the last tier must be unbounded (no upTo)", field=f"{f}.upTo"
                )
            up = decimal_value(t.up_to, f"{f}.upTo", maximum=MAX_UNITS)
            if up <= previous:
                raise ValidationFailed("each upTo must be greater than the last", field=f"{f}.upTo")
            previous = up
        out.append(
            Tier(
                t.up_to,
                decimal_value(t.unit_price, f"{f}.unitPrice"),
                decimal_value(t.flat_fee, f"{f}.flatFee"),
            )
        )
    return tuple(out)


def validate_charges(charges: Sequence[Charge]) -> list[Charge]:
    if len(charges) > MAX_CHARGES:
        raise ValidationFailed(f"at most {MAX_CHARGES} charges", field="charges")
    out = [validate_charge(c, f"charges[{i}]") for i, c in enumerate(charges)]
    seen: set[str] = set()
    for i, c in enumerate(out):
        if c.metric in seen:
            raise ValidationFailed("one charge per metric", field=f"charges[{i}].metric")
        seen.add(c.metric)
    return out
