"""Stored value (BIL-09, 储值卡): a customer's prepaid balance in one currency.

- a top-up adds money received (with its payment method); a spend pays an invoice with
  it, as a payment of method ``stored_value`` in the normal allocation; a refund gives
  unused balance back; a refunded stored-value payment puts its money back;
- the balance is the sum of the account's entries and is never negative: a spend or a
  refund over the balance is refused (422 ``insufficient_balance``), and the account's
  row lock makes two spends at once see each other's effect;
- entries are immutable; a statement for any period is opening + movements = closing;
- a top-up may carry a bonus (充值赠送) by the configured tiers: top up at least
  ``min_amount``, get ``bonus`` (the highest tier reached, once per top-up). The bonus is
  held apart from the principal (the money paid in): the balance is principal + bonus,
  each never below zero;
- a spend takes principal and bonus in proportion to what the account holds (rounded to
  the currency's minor unit, the principal's part half-up). Why proportional, as most
  retail prepaid systems (and the accounting of a prepaid bonus as a discount) do: each
  spend's revenue is its principal part, the same share every time (the bonus is a
  discount spread over what the top-up buys); taking the bonus first would let a
  customer spend the gift and then have every yuan paid in refunded, and taking the
  principal first books the early spends at full price and the last ones free;
- a refund of unused balance pays out principal only (at most the principal held) and
  forfeits the bonus in the same share of the principal it refunds (refund all the
  principal: all the bonus goes); the entry shows both parts;
- a refunded stored-value payment puts back its spend's parts in the spend's proportion
  (worked out on the running total of what was put back, so rounding never returns more
  principal than the spend took).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from crm_platform.errors import ValidationFailed
from crm_platform.money import ZERO
from crm_platform.states import refused

TOP_UP, SPEND, REFUND, PAYMENT_REFUND = "top_up", "spend", "refund", "payment_refund"
# what each kind does to the balance
SIGNS = {TOP_UP: 1, SPEND: -1, REFUND: -1, PAYMENT_REFUND: 1}


# what a member card's account may still do while the card is not active: a frozen card's
# money waits for it; a cancelled card's unused principal may be refunded. A refunded
# payment always puts its money back.
CARD_ALLOWS = {"frozen": frozenset({PAYMENT_REFUND}),
               "cancelled": frozenset({REFUND, PAYMENT_REFUND})}


def check_card(card_status: str | None, kind: str) -> None:
    """A movement of ``kind`` on an account whose card is ``card_status`` (None: the
    customer's own account): refused, as the card refuses a redemption, unless the
    status allows it (409 ``invalid_transition``, ``current_state`` the card's)."""
    allowed = CARD_ALLOWS.get(card_status or "")
    if card_status is not None and allowed is not None and kind not in allowed:
        raise refused("member card", card_status, kind, ("active",))


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


# -- principal and bonus ---------------------------------------------------------------------
@dataclass(frozen=True)
class Parts:
    """An amount as principal (money paid in) and bonus (given on top-up)."""

    principal: Decimal
    bonus: Decimal

    @property
    def total(self) -> Decimal:
        return self.principal + self.bonus


@dataclass(frozen=True)
class BonusTier:
    """Top up at least ``min_amount``, get ``bonus`` on top."""

    min_amount: Decimal
    bonus: Decimal


def check_bonus_tiers(tiers: Sequence[BonusTier]) -> None:
    seen: set[Decimal] = set()
    for t in tiers:
        if t.min_amount <= 0 or t.bonus <= 0:
            raise ValidationFailed("a top-up bonus tier has a positive min_amount and bonus",
                                   code="invalid_bonus_tier")
        if t.min_amount in seen:
            raise ValidationFailed(f"two top-up bonus tiers start at {t.min_amount}",
                                   code="invalid_bonus_tier")
        seen.add(t.min_amount)


def top_up_bonus(amount: Decimal, tiers: Iterable[BonusTier]) -> Decimal:
    """The bonus of the highest tier ``amount`` reaches (once: not per multiple)."""
    reached = [t for t in tiers if amount >= t.min_amount]
    return max(reached, key=lambda t: t.min_amount).bonus if reached else ZERO


def _insufficient(held: Decimal, amount: Decimal, **extra: str) -> ValidationFailed:
    return ValidationFailed(f"the balance is {held}; {amount} cannot be taken from it",
                            code="insufficient_balance",
                            extra={"balance": str(held), "requested": str(amount), **extra})


def spend_parts(amount: Decimal, held: Parts, quantum: Decimal) -> Parts:
    """The principal and bonus a spend of ``amount`` takes: in proportion to ``held``."""
    if amount <= 0:
        raise ValidationFailed("amount must be more than zero", code="invalid_amount")
    if amount > held.total:
        raise _insufficient(held.total, amount)
    if amount == held.total:
        return held
    if held.bonus <= 0:
        return Parts(amount, ZERO)
    principal = min((amount * held.principal / held.total).quantize(quantum, ROUND_HALF_UP),
                    held.principal)
    bonus = amount - principal
    if bonus > held.bonus:  # rounding: the principal takes the difference
        bonus, principal = held.bonus, amount - held.bonus
    return Parts(principal, bonus)


def refund_parts(amount: Decimal, held: Parts, quantum: Decimal) -> Parts:
    """A refund of unused balance: ``amount`` of principal paid out and the bonus it
    forfeits (the same share of the bonus as of the principal)."""
    if amount <= 0:
        raise ValidationFailed("amount must be more than zero", code="invalid_amount")
    if amount > held.principal:
        raise _insufficient(held.total, amount, refundable=str(held.principal))
    if amount == held.principal:
        return held
    forfeited = (held.bonus * amount / held.principal).quantize(quantum, ROUND_HALF_UP)
    return Parts(amount, min(forfeited, held.bonus))


def returned_parts(amount: Decimal, returned_before: Decimal, spent: Parts,
                   quantum: Decimal) -> Parts:
    """What refunding ``amount`` more of a stored-value payment puts back, when
    ``returned_before`` of it was put back already: the spend's parts in proportion, on
    the running total."""
    if spent.total <= 0:
        return Parts(amount, ZERO)

    def principal_of(returned: Decimal) -> Decimal:
        share = (spent.principal * min(returned, spent.total) / spent.total)
        return min(share.quantize(quantum, ROUND_HALF_UP), spent.principal)

    principal = principal_of(returned_before + amount) - principal_of(returned_before)
    return Parts(principal, amount - principal)


def apply(held: Parts, signed: Parts) -> Parts:
    """The parts after a movement; neither goes below zero."""
    after = Parts(held.principal + signed.principal, held.bonus + signed.bonus)
    if after.principal < 0 or after.bonus < 0:
        raise _insufficient(held.total, -signed.total)
    return after
