"""Stored value (BIL-09, 储值卡): a customer's prepaid balance in one currency.

- a top-up adds money received (with its payment method); a spend pays an invoice with
  it, as a payment of method ``stored_value`` in the normal allocation; a refund gives
  unused balance back; a refunded stored-value payment puts its money back;
- the balance is the sum of the account's entries and is never negative: a spend or a
  refund over the balance is refused (422 ``insufficient_balance``), and the account's
  row lock makes two spends at once see each other's effect;
- entries are immutable; a statement for any period is opening + movements = closing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from crm_platform.errors import ValidationFailed
from crm_platform.money import ZERO

TOP_UP, SPEND, REFUND, PAYMENT_REFUND = "top_up", "spend", "refund", "payment_refund"
# what each kind does to the balance
SIGNS = {TOP_UP: 1, SPEND: -1, REFUND: -1, PAYMENT_REFUND: 1}


def check_currency(account_currency: str, currency: str) -> None:
    if currency != account_currency:
        raise ValidationFailed(f"the account holds {account_currency}, not {currency}",
                               code="currency_mismatch",
                               extra={"account_currency": account_currency})


def movement(kind: str, balance: Decimal, amount: Decimal) -> tuple[Decimal, Decimal]:
    """(signed amount of the entry, balance after it); a movement taking more than the
    balance is refused."""
    if amount <= 0:
        raise ValidationFailed("amount must be more than zero", code="invalid_amount")
    signed = SIGNS[kind] * amount
    after = balance + signed
    if after < 0:
        raise ValidationFailed(
            f"the balance is {balance}; {amount} cannot be taken from it",
            code="insufficient_balance",
            extra={"balance": str(balance), "requested": str(amount)})
    return signed, after


@dataclass(frozen=True)
class Statement:
    opening: Decimal
    credits: Decimal
    debits: Decimal
    closing: Decimal


def statement(opening: Decimal, movements: Iterable[Decimal]) -> Statement:
    """Opening balance plus the period's movements is the closing balance, exactly."""
    credits = debits = ZERO
    for amount in movements:
        if amount >= 0:
            credits += amount
        else:
            debits -= amount
    return Statement(opening, credits, debits, opening + credits - debits)
