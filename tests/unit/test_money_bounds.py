"""Amounts past what the money columns hold are refused as ``invalid_amount`` before
anything is rounded or stored: a client's amount (``money.parse``), and the product of a
quantity and a price that each fit (sales documents, billing invoices)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from crm_platform import money
from crm_platform.errors import ValidationFailed

from services.billing.domain import plans
from services.sales.domain import pricing

D = Decimal
ITEM = pricing.CatalogueItem("p1", "CRM", "套", D("0.13"), "CNY", True)


@pytest.mark.parametrize("value", [
    "10000000000000000", "10000000000000000.00", "-10000000000000000", "1E+16",
    "3.4192847418834376E+307", D("1.0860694831066758E+308"), "99999999999999999999999999999",
])
def test_amounts_past_16_integer_digits_are_refused(value: object) -> None:
    with pytest.raises(ValidationFailed) as err:
        money.parse(value, "CNY", field="budget", allow_negative=True)
    assert err.value.code == "invalid_amount"
    assert err.value.extra == {"field": "budget"}
    assert "too large" in str(err.value)


@pytest.mark.parametrize(("value", "currency", "expected"), [
    ("9999999999999999.99", "CNY", D("9999999999999999.99")),
    ("9999999999999999", "JPY", D("9999999999999999")),
    ("-9999999999999999.99", "CNY", D("-9999999999999999.99")),
    ("1E+15", "CNY", D("1000000000000000.00")),
])
def test_the_largest_amounts_that_fit_are_kept(value: str, currency: str,
                                               expected: Decimal) -> None:
    assert money.parse(value, currency, allow_negative=True) == expected


def test_the_bound_is_checked_before_the_decimals() -> None:
    """Rounding a huge amount to cents raised decimal.InvalidOperation (a 500)."""
    with pytest.raises(ValidationFailed) as err:
        money.parse("1E+40", "CNY")
    assert "too large" in str(err.value)
    with pytest.raises(ValidationFailed) as err:
        money.parse("12.345", "CNY")
    assert "decimals" in str(err.value)


@pytest.mark.parametrize("lines", [
    [pricing.LineIn("p1", D("9999999999.9999"), D("9999999999999999.99"))],
    [pricing.LineIn("p1", D("2"), D("5000000000000000.00"))],
    [pricing.LineIn("p1", D("1"), D("6000000000000000.00"))] * 2,
])
def test_sales_lines_past_what_a_document_holds_are_refused(
        lines: list[pricing.LineIn]) -> None:
    with pytest.raises(ValidationFailed) as err:
        pricing.price_lines(lines, {"p1": ITEM}, "CNY")
    assert err.value.code == "invalid_amount"


def test_sales_lines_just_below_the_bound_are_priced() -> None:
    priced = pricing.price_lines([pricing.LineIn("p1", D("1"), D("9999999999999999.99"))],
                                 {"p1": ITEM}, "CNY")
    assert priced.amount == D("9999999999999999.99")


def test_billing_invoice_lines_past_sixteen_digits_are_refused() -> None:
    with pytest.raises(ValidationFailed) as err:
        plans.priced_line("服务器", D("999999999999"), D("999999999999999"), D("0"), "CNY")
    assert err.value.code == "invalid_amount"
    with pytest.raises(ValidationFailed):
        plans.priced_line("服务器", D("2"), D("5000000000000000"), D("0"), "CNY")
    # billing holds what sales does (NUMERIC(20, 4) beside sales' NUMERIC(18, 2))
    line = plans.priced_line("服务器", D("1"), D("9999999999999999.99"), D("0"), "CNY")
    assert line.amount == D("9999999999999999.99")
