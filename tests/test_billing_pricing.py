"""Prices, money and periods against amounts worked out by hand (no database here).

Every expected amount below was computed on paper from the rules in docs/billing.md: included
units first, then the model, exact decimals, one half-up rounding per line to the minor unit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from aforo.errors import ValidationFailed
from aforo.models.billing import BillingPeriod, Plan
from aforo.services.billing.lines import fixed_fee
from aforo.services.billing.money import exponent, round_minor, tax_minor, to_major
from aforo.services.billing.periods import add_months, bounds
from aforo.services.billing.pricing import (
    GRADUATED,
    PACKAGE,
    PER_UNIT,
    VOLUME,
    Charge,
    Tier,
    price,
    validate_charges,
)
from aforo.services.billing.rollups import ceil_hour, floor_hour, metered_window

TIERS = (
    Tier(D(100), D("0.10"), D("2.00")),  # units 1-100 at 0.10, plus 2.00 once entered
    Tier(D(1000), D("0.05")),  # units 101-1000 at 0.05
    Tier(None, D("0.01"), D("1.00")),  # above 1000 at 0.01, plus 1.00 once entered
)

# (charge, quantity, currency, amount in minor units)
CASES = [
    # per unit: USD 0.002 a call
    (Charge("calls", PER_UNIT, unit_price=D("0.002")), "0", "USD", 0),
    (Charge("calls", PER_UNIT, unit_price=D("0.002")), "1", "USD", 0),  # 0.2 cents -> 0
    (Charge("calls", PER_UNIT, unit_price=D("0.002")), "2500", "USD", 500),
    (Charge("calls", PER_UNIT, unit_price=D("0.002")), "2503", "USD", 501),  # 5.006 -> 5.01
    (Charge("calls", PER_UNIT, unit_price=D("0.002")), "2502.5", "USD", 501),  # tie 5.005 up
    (Charge("calls", PER_UNIT, unit_price=D("0.002")), "2502.4", "USD", 500),  # 5.0048 down
    (Charge("calls", PER_UNIT, D(1000), unit_price=D("0.002")), "1000", "USD", 0),  # included
    (Charge("calls", PER_UNIT, D(1000), unit_price=D("0.002")), "3500", "USD", 500),
    (Charge("calls", PER_UNIT, unit_price=D("0.5")), "3", "JPY", 2),  # 1.5 yen, tie up
    (Charge("calls", PER_UNIT, unit_price=D("0.5")), "5", "JPY", 3),  # 2.5 yen, tie up
    (Charge("calls", PER_UNIT, unit_price=D("0.0015")), "3", "KWD", 5),  # 4.5 fils -> 5
    # package: USD 5.00 per started 1,000
    (Charge("calls", PACKAGE, package_size=D(1000), package_price=D(5)), "0", "USD", 0),
    (Charge("calls", PACKAGE, package_size=D(1000), package_price=D(5)), "1", "USD", 500),
    (Charge("calls", PACKAGE, package_size=D(1000), package_price=D(5)), "1000", "USD", 500),
    (Charge("calls", PACKAGE, package_size=D(1000), package_price=D(5)), "1001", "USD", 1000),
    (
        Charge("calls", PACKAGE, D(100), package_size=D(1000), package_price=D(5)),
        "1100",
        "USD",
        500,
    ),
    (
        Charge("calls", PACKAGE, D(100), package_size=D(1000), package_price=D(5)),
        "1101",
        "USD",
        1000,
    ),
    (Charge("gb", PACKAGE, package_size=D("0.5"), package_price=D("0.10")), "1.2", "USD", 30),
    # graduated: each tier prices its own units
    (Charge("calls", GRADUATED, tiers=TIERS), "0", "USD", 0),
    (Charge("calls", GRADUATED, tiers=TIERS), "1", "USD", 210),  # 0.10 + 2.00
    (Charge("calls", GRADUATED, tiers=TIERS), "100", "USD", 1200),  # 10.00 + 2.00
    (Charge("calls", GRADUATED, tiers=TIERS), "101", "USD", 1205),  # + 0.05
    (Charge("calls", GRADUATED, tiers=TIERS), "1000", "USD", 5700),  # 12.00 + 45.00
    (Charge("calls", GRADUATED, tiers=TIERS), "1001", "USD", 5801),  # + 0.01 + 1.00
    (Charge("calls", GRADUATED, tiers=TIERS), "1500", "USD", 6300),  # 57 + 5 + 1
    (Charge("calls", GRADUATED, D(50), tiers=TIERS), "150", "USD", 1200),  # 100 billable
    (Charge("t", GRADUATED, tiers=(Tier(None, D("0.015")),)), "1", "USD", 2),  # 1.5 c tie
    # volume: the tier the whole quantity reaches prices every unit
    (Charge("calls", VOLUME, tiers=TIERS), "0", "USD", 0),
    (Charge("calls", VOLUME, tiers=TIERS), "1", "USD", 210),
    (Charge("calls", VOLUME, tiers=TIERS), "100", "USD", 1200),
    (Charge("calls", VOLUME, tiers=TIERS), "101", "USD", 505),  # 101 x 0.05
    (Charge("calls", VOLUME, tiers=TIERS), "1000", "USD", 5000),
    (Charge("calls", VOLUME, tiers=TIERS), "1001", "USD", 1101),  # 1001 x 0.01 + 1.00
    (Charge("calls", VOLUME, D(50), tiers=TIERS), "150", "USD", 1200),
]


@pytest.mark.parametrize(("charge", "quantity", "currency", "minor"), CASES)
def test_every_model_prices_as_worked_out_by_hand(
    charge: Charge, quantity: str, currency: str, minor: int
) -> None:
    assert price(charge, D(quantity), currency).amount_minor == minor


def test_graduated_breakdown_shows_each_tier() -> None:
    got = price(Charge("calls", GRADUATED, tiers=TIERS), D(1001), "USD")
    assert [(t.tier, t.first_unit, t.up_to, t.quantity, t.amount) for t in got.tiers] == [
        (1, 0, 100, 100, D("12.00")),
        (2, 100, 1000, 900, D("45.00")),
        (3, 1000, None, 1, D("1.01")),
    ]
    assert got.amount == D("58.01") and got.billable == 1001
    vol = price(Charge("calls", VOLUME, tiers=TIERS), D(101), "USD")
    assert [(t.tier, t.quantity, t.unit_price) for t in vol.tiers] == [(2, 101, D("0.05"))]
    pkg = price(
        Charge("c", PACKAGE, D(100), package_size=D(1000), package_price=D(5)), D(1101), "USD"
    )
    assert (pkg.billable, pkg.packages) == (1001, 2)


def test_money_exponents_rounding_and_tax() -> None:
    assert [exponent(c) for c in ("USD", "EUR", "JPY", "KRW", "KWD", "BHD", "CLF")] == [
        2,
        2,
        0,
        0,
        3,
        3,
        4,
    ]
    for bad in ("usd", "XAU", "ABC", ""):
        with pytest.raises(ValidationFailed):
            exponent(bad)
    assert [to_major(1234, c) for c in ("USD", "JPY", "KWD")] == [
        D("12.34"),
        D("1234"),
        D("1.234"),
    ]
    assert str(to_major(5, "USD")) == "0.05"
    assert round_minor(D("0.005"), "USD") == 1 and round_minor(D("0.0049"), "USD") == 0
    assert tax_minor(1005, D("8.875")) == 89  # 89.19375
    assert tax_minor(5, D(10)) == 1  # 0.5 -> 1, half up
    assert tax_minor(12345, D(0)) == 0


def test_calendar_month_ends_and_leap_years() -> None:
    jan31 = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)
    assert add_months(jan31, 1) == datetime(2026, 2, 28, 9, 30, tzinfo=UTC)
    assert add_months(jan31, 2) == datetime(2026, 3, 31, 9, 30, tzinfo=UTC)  # from the anchor
    assert add_months(jan31, 3) == datetime(2026, 4, 30, 9, 30, tzinfo=UTC)
    assert add_months(datetime(2028, 1, 31, tzinfo=UTC), 1) == datetime(2028, 2, 29, tzinfo=UTC)
    assert add_months(datetime(2026, 12, 15, tzinfo=UTC), 1) == datetime(2027, 1, 15, tzinfo=UTC)
    leap = datetime(2028, 2, 29, tzinfo=UTC)
    assert bounds(leap, "YEAR", 1) == (
        datetime(2029, 2, 28, tzinfo=UTC),
        datetime(2030, 2, 28, tzinfo=UTC),
    )
    assert bounds(leap, "YEAR", 4)[0] == datetime(2032, 2, 29, tzinfo=UTC)
    assert bounds(jan31, "MONTH", 1) == (add_months(jan31, 1), add_months(jan31, 2))


def _stretch(
    start: datetime, end: datetime, p0: datetime, p1: datetime, final: bool = False
) -> BillingPeriod:
    return BillingPeriod(period_start=p0, period_end=p1, starts_at=start, ends_at=end, final=final)


def test_fixed_fee_is_prorated_to_the_second_and_rounded_half_up() -> None:
    p0, p1 = datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC)  # 31 days
    plan = Plan(price_cents=1001, currency="USD")
    assert fixed_fee(plan, _stretch(p0, p1, p0, p1)) == (1001, {"prorated": False})
    half = p0 + timedelta(days=15, hours=12)  # 15.5 of 31 days: 500.5 cents
    amount, detail = fixed_fee(plan, _stretch(p0, half, p0, p1))
    assert amount == 501 and detail["prorated"] and detail["seconds"] == "1339200"
    assert fixed_fee(plan, _stretch(half, p1, p0, p1))[0] == 501  # each side rounds on its own
    third = Plan(price_cents=3000, currency="USD")
    assert fixed_fee(third, _stretch(p0, p0 + timedelta(days=10), p0, p1))[0] == 968  # 967.74


def test_stretches_share_out_every_hour_once() -> None:
    p0 = datetime(2027, 1, 1, 10, 37, tzinfo=UTC)
    change = datetime(2027, 1, 9, 14, 20, tzinfo=UTC)
    p1 = datetime(2027, 2, 1, 10, 37, tzinfo=UTC)
    a, b = _stretch(p0, change, p0, p1), _stretch(change, p1, p0, p1)
    wa, wb = metered_window(a), metered_window(b)
    assert (wa.start, wa.end) == (floor_hour(p0), datetime(2027, 1, 9, 14, tzinfo=UTC))
    assert (wb.start, wb.end) == (wa.end, datetime(2027, 2, 1, 10, tzinfo=UTC))
    # The subscription's last stretch also bills the hour it ends in.
    last = metered_window(_stretch(change, p1, p0, p1, final=True))
    assert last.end == ceil_hour(p1) == datetime(2027, 2, 1, 11, tzinfo=UTC)


BAD = [
    (Charge(" ", PER_UNIT, unit_price=D(1)), "charges[0].metric"),
    (Charge("m", "FLAT", unit_price=D(1)), "charges[0].model"),
    (Charge("m", PER_UNIT), "charges[0].unitPrice"),
    (Charge("m", PER_UNIT, unit_price=D(-1)), "charges[0].unitPrice"),
    (Charge("m", PER_UNIT, unit_price=D(1 / 10)), "charges[0].unitPrice"),  # 55 places
    (Charge("m", PER_UNIT, unit_price=D(1), tiers=TIERS), "charges[0].tiers"),
    (Charge("m", PER_UNIT, D(-5), unit_price=D(1)), "charges[0].includedUnits"),
    (Charge("m", PACKAGE, package_size=D(0), package_price=D(1)), "charges[0].packageSize"),
    (Charge("m", PACKAGE, package_size=D(10)), "charges[0].packagePrice"),
    (Charge("m", GRADUATED), "charges[0].tiers"),
    (Charge("m", GRADUATED, tiers=(Tier(D(10), D(1)),)), "charges[0].tiers[0].upTo"),
    (
        Charge("m", VOLUME, tiers=(Tier(D(10), D(1)), Tier(D(10), D(1)), Tier(None, D(1)))),
        "charges[0].tiers[1].upTo",
    ),
    (Charge("m", VOLUME, tiers=(Tier(None, D(1)), Tier(None, D(1)))), "charges[0].tiers[0].upTo"),
    (Charge("m", VOLUME, tiers=(Tier(None, D(1), D(-1)),)), "charges[0].tiers[0].flatFee"),
]


@pytest.mark.parametrize(("charge", "field"), BAD)
def test_bad_charges_name_the_offending_field(charge: Charge, field: str) -> None:
    with pytest.raises(ValidationFailed) as e:
        validate_charges([charge])
    assert e.value.field == field


def test_one_charge_per_metric() -> None:
    ok = Charge("m", PER_UNIT, unit_price=D(1))
    with pytest.raises(ValidationFailed) as e:
        validate_charges([ok, ok])
    assert e.value.field == "charges[1].metric"
    assert validate_charges([ok, Charge("n", PER_UNIT, unit_price=D("0.000000000001"))])
