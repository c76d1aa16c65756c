"""Payment plans and invoice lines (BIL-01, BIL-02): exact splits, no I/O."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from crm_platform.errors import Conflict, StateViolation, ValidationFailed

from services.billing.domain import invoices, plans

D = Decimal


def test_thirty_seventy_split_with_due_dates() -> None:
    terms = plans.parse_terms({"installments": [{"percent": "30", "due_days": 0},
                                                {"percent": "70", "due_days": 30}]})
    got = plans.split_installments(D("1234.50"), "CNY", terms, date(2026, 1, 31))
    assert [(i.number, i.amount, i.due_date) for i in got] == [
        (1, D("370.35"), date(2026, 1, 31)), (2, D("864.15"), date(2026, 3, 2))]
    assert sum(i.amount for i in got) == D("1234.50")


def test_remainder_goes_to_the_last_installment() -> None:
    terms = plans.parse_terms({"installments": [{"percent": "33.3333", "due_days": 0},
                                                {"percent": "33.3333", "due_days": 10},
                                                {"percent": "33.3334", "due_days": 20}]})
    got = plans.split_installments(D("100.00"), "CNY", terms, date(2026, 1, 1))
    assert [i.amount for i in got] == [D("33.33"), D("33.33"), D("33.34")]
    yen = plans.split_installments(D("1000"), "JPY", plans.parse_terms(
        {"installments": [{"percent": "50", "due_days": 0}, {"percent": "50",
                                                              "due_days": 5}]}), date(2026, 1, 1))
    assert [i.amount for i in yen] == [D("500"), D("500")]


@pytest.mark.parametrize("amount", ["0.01", "0.05", "999999999.99", "10.01", "7.77"])
def test_shares_always_sum_exactly(amount: str) -> None:
    weights = [D("0.001"), D("49.999"), D("50"), D("0.0001")]
    shares = plans.split_amounts(D(amount), "CNY", weights)
    assert sum(shares) == D(amount) and all(s >= 0 for s in shares)


def test_missing_or_empty_terms_mean_all_at_confirmation() -> None:
    for raw in (None, {}, {"installments": []}):
        terms = plans.parse_terms(raw)
        assert terms == [plans.Term(D("100"), 0)]
    got = plans.split_installments(D("50.00"), "CNY", plans.parse_terms(None),
                                   date(2026, 5, 1))
    assert len(got) == 1 and got[0].amount == D("50.00") and got[0].due_date == date(2026, 5, 1)


def test_installments_are_ordered_by_due_days() -> None:
    terms = plans.parse_terms({"installments": [{"percent": "70", "due_days": 30},
                                                {"percent": "30", "due_days": 0}]})
    got = plans.split_installments(D("100.00"), "CNY", terms, date(2026, 1, 1))
    assert [(i.number, i.due_days, i.amount) for i in got] == [(1, 0, D("30.00")),
                                                               (2, 30, D("70.00"))]


@pytest.mark.parametrize("bad", [[{"percent": "-1", "due_days": 0}],
                                 [{"percent": "x", "due_days": 0}],
                                 [{"percent": "10", "due_days": -2}]])
def test_bad_terms_are_refused(bad: list[dict[str, object]]) -> None:
    with pytest.raises(ValidationFailed):
        plans.parse_terms({"installments": bad})


def test_invoicing_window_and_issue_date() -> None:
    confirmed = date(2026, 1, 1)
    due = date(2026, 1, 31)
    assert not plans.invoicing_due(due, date(2026, 1, 23), 7)
    assert plans.invoicing_due(due, date(2026, 1, 24), 7)
    assert plans.issue_date_for(due, confirmed, date(2026, 2, 10), 7) == date(2026, 1, 24)
    assert plans.issue_date_for(confirmed, confirmed, date(2026, 2, 10), 7) == confirmed
    assert plans.issue_date_for(due, confirmed, date(2026, 1, 20), 7) == date(2026, 1, 20)


def test_prorated_lines_sum_to_the_invoice_and_carry_tax() -> None:
    lines = [{"product_id": "p1", "product_name": "服务器", "quantity": "2",
              "unit_price": "100.00", "tax_rate": "0.13", "amount": "200.00"},
             {"product_id": "p2", "product_name": "实施", "quantity": "1",
              "unit_price": "100.00", "tax_rate": "0.06", "amount": "100.00"}]
    got = plans.prorate_lines(lines, D("90.00"), "CNY", "installment 1/2")
    assert [line.amount for line in got] == [D("60.00"), D("30.00")]
    assert got[0].tax_amount == D("6.90")  # 60 * 0.13 / 1.13
    assert got[1].tax_amount == D("1.70")  # 30 * 0.06 / 1.06
    assert sum(line.amount for line in got) == D("90.00")
    single = plans.prorate_lines([], D("12.34"), "CNY", "order")
    assert single[0].amount == D("12.34") and single[0].tax_amount == 0


def test_priced_line() -> None:
    line = plans.priced_line("咨询", D("3"), D("33.333"), D("0.06"), "CNY")
    assert line.amount == D("100.00") and line.tax_amount == D("5.66")
    with pytest.raises(ValidationFailed):
        plans.priced_line("x", D("0"), D("1"), D("0.13"), "CNY")


def test_invoice_state_machine() -> None:
    assert invoices.status_after_payment("issued", D("100"), D("40")) == "partially_paid"
    assert invoices.status_after_payment("partially_paid", D("100"), D("100")) == "paid"
    assert invoices.status_after_payment("overdue", D("100"), D("40")) == "overdue"
    assert invoices.status_after_payment("overdue", D("100"), D("100")) == "paid"
    assert invoices.status_after_payment("paid", D("100"), D("0")) == "issued"  # refunded
    with pytest.raises(StateViolation):
        invoices.status_after_payment("void", D("100"), D("1"))
    assert invoices.becomes_overdue("issued", date(2026, 1, 1), date(2026, 1, 2))
    assert not invoices.becomes_overdue("issued", date(2026, 1, 1), date(2026, 1, 1))
    assert not invoices.becomes_overdue("paid", date(2026, 1, 1), date(2026, 3, 1))


def test_void_rules() -> None:
    invoices.check_void("issued", D("0"))
    invoices.check_void("overdue", D("0"))
    for status, paid in (("paid", D("10")), ("partially_paid", D("1")), ("overdue", D("1"))):
        with pytest.raises(Conflict) as err:
            invoices.check_void(status, paid)
        assert err.value.code == "invoice_has_payments"
    with pytest.raises(StateViolation):
        invoices.check_void("void", D("0"))


def test_numbers() -> None:
    assert invoices.invoice_number(2026, 1) == "INV-2026-000001"
    assert invoices.payment_number(2026, 123456) == "PAY-2026-123456"
