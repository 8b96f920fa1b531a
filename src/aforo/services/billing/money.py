"""Money: ISO 4217 currencies and their minor units, exact decimal arithmetic, one rounding rule.

An amount owed is an integer count of the currency's minor unit (cents for USD, yen for JPY,
fils for KWD): ``minor = major * 10**exponent``. Unit prices may be finer than a minor unit (an
API call at USD 0.0004) and are ``Decimal`` in major units. No float is ever involved.

Rounding (documented in docs/billing.md): a line's amount is computed exactly and rounded once,
to the currency's minor unit, half up (a tie goes away from zero: 0.005 USD -> 0.01); the
subtotal is the sum of the rounded lines, so the lines always add up to it; tax is the subtotal
times the rate, rounded by the same rule; the total is subtotal plus tax.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from aforo.errors import ValidationFailed

# ISO 4217 active codes whose minor unit is not 2 decimal places; every other code listed in
# TWO_PLACES has 2. Fund codes (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW) are included;
# precious metals and testing codes (XAU, XTS, XXX, ...) have no minor unit and are refused.


def _codes(names: str) -> list[str]:
    return names.split()


EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        _codes("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"), 0
    ),
    **dict.fromkeys(_codes("BHD IQD JOD KWD LYD OMR TND"), 3),
    **dict.fromkeys(_codes("CLF UYW"), 4),
}
TWO_PLACES = _codes(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP
    BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD
    FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD
    KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD
    NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP
    SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED
    VES WST XCD XCG YER ZAR ZMW ZWG
    """
)
EXPONENTS.update(dict.fromkeys(TWO_PLACES, 2))

PRICE_PLACES = 12  # unit prices: at most 12 decimal places (Stripe's unit_amount_decimal has 12)
MAX_PRICE = Decimal(10) ** 12  # per unit, package or tier, in major units: beyond is a typo


def exponent(currency: str) -> int:
    try:
        return EXPONENTS[currency]
    except KeyError:
        raise ValidationFailed(
            "not an ISO 4217 currency with a minor unit (such as USD, EUR, JPY)",
            field="currency",
        ) from None


def places(currency: str) -> int:
    """The currency's exponent; 2 for a code no longer accepted (plans made before codes were
    checked against ISO 4217 keep being billed, in hundredths)."""
    return EXPONENTS.get(currency, 2)


def round_minor(major: Decimal, currency: str) -> int:
    """An exact amount in major units -> whole minor units, half up (the one rounding rule)."""
    scaled = major.scaleb(places(currency))
    return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_major(minor: int, currency: str) -> Decimal:
    """Minor units -> major units at the currency's exponent (1234 USD -> Decimal('12.34'))."""
    n = places(currency)
    return Decimal(minor).scaleb(-n).quantize(Decimal(1).scaleb(-n))


def tax_minor(subtotal_minor: int, rate_percent: Decimal) -> int:
    """Tax on a subtotal at a percentage rate, rounded half up to a whole minor unit."""
    exact = Decimal(subtotal_minor) * rate_percent / 100
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def decimal_value(value: Decimal, field: str, *, maximum: Decimal = MAX_PRICE) -> Decimal:
    """A finite, non-negative decimal with at most ``PRICE_PLACES`` places."""
    if not value.is_finite() or value < 0:
        raise ValidationFailed("must be a non-negative number", field=field)
    if value > maximum:
        raise ValidationFailed(f"must be at most {maximum}", field=field)
    exp = value.normalize().as_tuple().exponent
    if isinstance(exp, int) and exp < -PRICE_PLACES:
        # A JSON number such as 0.1 arrives as the float's binary expansion: say what to do.
        raise ValidationFailed(
            f'at most {PRICE_PLACES} decimal places (send amounts as strings, e.g. "0.1")',
            field=field,
        )
    return value
