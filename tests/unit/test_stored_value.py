"""Stored value rules (BIL-09), no I/O: the balance never goes below zero, a statement
balances exactly."""

from __future__ import annotations

from decimal import Decimal

import pytest
from crm_platform.errors import ValidationFailed

from services.billing.domain import stored_value as sv

D = Decimal


def test_movements_sign_and_balance() -> None:
    assert sv.movement(sv.TOP_UP, D("0.00"), D("100.00")) == (D("100.00"), D("100.00"))
    assert sv.movement(sv.SPEND, D("100.00"), D("60.00")) == (D("-60.00"), D("40.00"))
    assert sv.movement(sv.REFUND, D("40.00"), D("40.00")) == (D("-40.00"), D("0.00"))
    assert sv.movement(sv.PAYMENT_REFUND, D("0.00"), D("60.00")) == (D("60.00"), D("60.00"))


@pytest.mark.parametrize("kind", [sv.SPEND, sv.REFUND])
def test_nothing_takes_the_balance_below_zero(kind: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        sv.movement(kind, D("40.00"), D("40.01"))
    assert caught.value.code == "insufficient_balance"
    assert caught.value.extra == {"balance": "40.00", "requested": "40.01"}


@pytest.mark.parametrize("amount", ["0", "-1.00"])
def test_a_movement_is_positive(amount: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        sv.movement(sv.TOP_UP, D("10.00"), D(amount))
    assert caught.value.code == "invalid_amount"


def test_the_currency_is_the_accounts() -> None:
    sv.check_currency("CNY", "CNY")
    with pytest.raises(ValidationFailed) as caught:
        sv.check_currency("CNY", "USD")
    assert caught.value.code == "currency_mismatch"


def test_a_statement_balances_exactly() -> None:
    moves = [D("100.10"), D("-33.33"), D("0.01"), D("-66.78"), D("0.20")]
    st = sv.statement(D("10.00"), moves)
    assert (st.credits, st.debits) == (D("100.31"), D("100.11"))
    assert st.closing == st.opening + sum(moves) == D("10.20")
    assert sv.statement(D("5.00"), []) == sv.Statement(D("5.00"), D("0"), D("0"), D("5.00"))
