"""Money: exact decimals with a currency, never floats.

Amounts cross RPC and events as decimal strings (``"1234.50"``) with an ISO 4217 currency
code beside them; inside a service they are ``Decimal`` rounded to the currency's minor
unit with banker-free half-up rounding (what invoices and receipts use).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from crm_platform.errors import ValidationFailed

# Minor units of the currencies a Chinese enterprise CRM meets; anything else has 2.
_MINOR_UNITS: dict[str, int] = {"JPY": 0, "KRW": 0, "VND": 0, "KWD": 3, "BHD": 3}
ZERO = Decimal("0")
# what a NUMERIC(18, 2) money column holds before the point: an amount must stay below
# 10^16 (beyond it the insert overflowed, and the rounding itself raised for huge values)
MAX_INTEGER_DIGITS = 16
LIMIT = Decimal(10) ** MAX_INTEGER_DIGITS


def minor_units(currency: str) -> int:
    return _MINOR_UNITS.get(currency.upper(), 2)


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def rounded(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded half-up to the currency's minor unit."""
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def parse(value: object, currency: str, *, field: str = "amount",
          allow_negative: bool = False) -> Decimal:
    """A client's amount as an exact Decimal; floats are refused (they are not exact),
    as are more decimals than the currency has."""
    if isinstance(value, float):
        raise ValidationFailed(f"{field} must be a decimal string, not a float",
                               code="invalid_amount", extra={"field": field})
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed(f"{field} is not a decimal number", code="invalid_amount",
                               extra={"field": field}) from None
    if not amount.is_finite():
        raise ValidationFailed(f"{field} is not a finite number", code="invalid_amount",
                               extra={"field": field})
    # before rounding: quantizing 1E+40 to cents is past the decimal context's precision.
    # An amount below the limit passes the decimals check only if rounding leaves it as
    # it is, so the rounded amount is below the limit too.
    if abs(amount) >= LIMIT:
        raise ValidationFailed(
            f"{field} is too large (at most {MAX_INTEGER_DIGITS} digits before the point)",
            code="invalid_amount", extra={"field": field})
    if amount != rounded(amount, currency):
        raise ValidationFailed(
            f"{field} has more decimals than {currency} allows ({minor_units(currency)})",
            code="invalid_amount", extra={"field": field})
    if amount < 0 and not allow_negative:
        raise ValidationFailed(f"{field} must not be negative", code="invalid_amount",
                               extra={"field": field})
    return rounded(amount, currency)


def text(amount: Decimal, currency: str) -> str:
    """The wire form: a plain decimal string with exactly the currency's decimals."""
    return format(rounded(amount, currency), "f")
