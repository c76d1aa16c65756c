"""Allocation of payments and refunds (BIL-03), no I/O."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from crm_platform.errors import ValidationFailed

from services.billing.domain.allocation import (
    Applied,
    OpenInvoice,
    allocate_oldest_first,
    check_requested,
    plan_refund,
)

D = Decimal


def _inv(id_: str, due: date, outstanding: str) -> OpenInvoice:
    return OpenInvoice(id_, f"INV-{id_}", date(2026, 1, 1), due, D(outstanding))


INVOICES = [_inv("b", date(2026, 3, 1), "50.00"), _inv("a", date(2026, 2, 1), "30.00"),
            _inv("c", date(2026, 4, 1), "20.00")]


def test_oldest_due_first_with_partial_and_credit_left() -> None:
    got, left = allocate_oldest_first(D("60.00"), INVOICES)
    assert got == [("a", D("30.00")), ("b", D("30.00"))] and left == 0
    got, left = allocate_oldest_first(D("130.00"), INVOICES)
    assert got == [("a", D("30.00")), ("b", D("50.00")), ("c", D("20.00"))]
    assert left == D("30.00")
    assert allocate_oldest_first(D("10"), []) == ([], D("10"))


def test_requested_allocations_are_checked() -> None:
    by_id = {i.id: i for i in INVOICES}
    assert check_requested(D("40"), [("b", D("10")), ("b", D("15"))], by_id) == [("b", D("25"))]
    for bad, code in (([("x", D("1"))], "invalid_allocation"),
                      ([("a", D("0"))], "invalid_allocation"),
                      ([("a", D("30.01"))], "over_allocation"),
                      ([("a", D("30")), ("b", D("20"))], "over_allocation")):
        with pytest.raises(ValidationFailed) as err:
            check_requested(D("40"), bad, by_id)
        assert err.value.code == code


def test_refund_takes_the_balance_first_then_latest_due() -> None:
    applied = [Applied("a", date(2026, 2, 1), D("30")), Applied("b", date(2026, 3, 1),
                                                                 D("50"))]
    assert plan_refund(D("10"), D("100"), D("20"), applied) == (D("10"), [])
    assert plan_refund(D("60"), D("100"), D("20"), applied) == (D("20"), [("b", D("40"))])
    assert plan_refund(D("100"), D("100"), D("20"), applied) == (
        D("20"), [("b", D("50")), ("a", D("30"))])
    with pytest.raises(ValidationFailed) as err:
        plan_refund(D("100.01"), D("100"), D("20"), applied)
    assert err.value.code == "over_refund"
    with pytest.raises(ValidationFailed):
        plan_refund(D("0"), D("100"), D("20"), applied)
