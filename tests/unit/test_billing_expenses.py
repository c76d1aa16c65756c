"""Expense state machine and approver rule (BIL-08), statements (BIL-07), no I/O."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from crm_platform.errors import Forbidden, StateViolation, ValidationFailed

from services.billing.domain import expenses
from services.billing.domain.statements import Movement, column_totals, statement


def test_expense_lifecycle() -> None:
    status = "draft"
    for action in ("submit", "reject", "submit", "approve"):
        status = expenses.EXPENSE.next(status, action)
    assert status == "approved"
    with pytest.raises(StateViolation):
        expenses.EXPENSE.next("approved", "reject")
    with pytest.raises(StateViolation):
        expenses.EXPENSE.next("draft", "approve")
    with pytest.raises(StateViolation):
        expenses.EXPENSE.check("submitted", "edit")
    expenses.EXPENSE.check("rejected", "edit")


def test_who_approves() -> None:
    expenses.check_approver("rep", "mgr", manages_submitter=True, company_wide=False)
    expenses.check_approver("rep", "fin", manages_submitter=False, company_wide=True)
    with pytest.raises(Forbidden):
        expenses.check_approver("rep", "other-mgr", manages_submitter=False,
                                company_wide=False)
    with pytest.raises(Forbidden):
        expenses.check_approver("mgr", "mgr", manages_submitter=True, company_wide=True)
    with pytest.raises(ValidationFailed):
        expenses.check_decision("reject", "  ")
    expenses.check_decision("approve", None)


def test_statement_running_balance() -> None:
    d = Decimal
    moves = [Movement(date(2026, 1, 5), "payment", "p1", "PAY-1", d("0"), d("30")),
             Movement(date(2026, 1, 1), "invoice", "i1", "INV-1", d("100"), d("0")),
             Movement(date(2026, 1, 9), "refund", "r1", "PAY-1", d("5"), d("0"))]
    lines, debit, credit, closing = statement(d("10"), moves)
    assert [line.balance for line in lines] == [d("110"), d("80"), d("85")]
    assert (debit, credit, closing) == (d("105"), d("30"), d("85"))
    rows = [{"a": d("0.1"), "b": d("1")}, {"a": d("0.2"), "b": d("2")}]
    assert column_totals(rows, ["a", "b"]) == {"a": d("0.3"), "b": d("3")}
