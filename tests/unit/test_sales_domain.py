"""Sales domain rules without I/O: pricing, payment terms, state machines, analytics."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from crm_platform.errors import StateViolation, ValidationFailed

from services.sales.domain import analytics, pricing, workflow

D = Decimal
ITEM = pricing.CatalogueItem("p1", "CRM", "套", D("0.13"), "CNY", True)


def test_lines_are_rounded_one_by_one_and_add_up() -> None:
    priced = pricing.price_lines([
        pricing.LineIn("p1", D("3"), D("33.33"), D("10"), D("33.33")),
        pricing.LineIn("p1", D("1"), D("0.05"), D("50"), D("0.05")),
    ], {"p1": ITEM}, "CNY")
    assert [line["amount"] for line in priced.lines] == ["89.99", "0.03"]
    assert priced.amount == D("90.02")
    # prices include tax: 89.99 × 0.13 / 1.13 = 10.35
    assert priced.lines[0]["tax_amount"] == "10.35"
    assert priced.tax_amount == sum(D(x["tax_amount"]) for x in priced.lines)
    assert priced.max_discount_percent == D("50")


@pytest.mark.parametrize("line,code", [
    (pricing.LineIn("nope", D("1"), D("1")), "unknown_product"),
    (pricing.LineIn("p1", D("0"), D("1")), "invalid_quantity"),
    (pricing.LineIn("p1", D("1"), D("1"), D("101")), "invalid_discount"),
])
def test_bad_lines_are_refused(line: pricing.LineIn, code: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        pricing.price_lines([line], {"p1": ITEM}, "CNY")
    assert err.value.code == code


def test_discount_threshold_is_strictly_above() -> None:
    assert not pricing.needs_discount_approval([D("10"), D("0")], D("10"))
    assert pricing.needs_discount_approval([D("0"), D("10.01")], D("10"))


def _discounts(*lines: pricing.LineIn) -> list[Decimal | None]:
    return pricing.line_discounts(pricing.price_lines(list(lines), {"p1": ITEM}, "CNY").lines)


def test_the_effective_discount_counts_whatever_fields_express_it() -> None:
    # half the list price with no discount_percent is a 50 % discount
    assert _discounts(pricing.LineIn("p1", D("2"), D("5000"), D("0"), D("10000"))) == [D("50")]
    # a lower price and a discount compound: 10000 → 9000 → 8100
    assert _discounts(pricing.LineIn("p1", D("1"), D("9000"), D("10"), D("10000"))) == [D("19")]
    # the list price with a discount: the discount itself
    assert _discounts(pricing.LineIn("p1", D("3"), D("33.33"), D("10"), D("33.33"))) == [D("10")]
    # above the list price is no discount, and a free product cannot be discounted
    assert _discounts(pricing.LineIn("p1", D("1"), D("120"), D("10"), D("100")),
                      pricing.LineIn("p1", D("1"), D("0"), D("0"), D("0"))) == [D("0"), D("0")]
    # rounded up: a discount just over a threshold is not rounded under it
    assert _discounts(pricing.LineIn("p1", D("3"), D("1"), D("0"), D("1.1"))) == [D("9.10")]
    assert _discounts(pricing.LineIn("p1", D("1"), D("899.99"), D("0"), D("1000"))) == \
        [D("10.01")]


def test_approval_follows_the_effective_discount_per_line() -> None:
    threshold = D("10")
    half_price = pricing.price_lines([
        pricing.LineIn("p1", D("1"), D("10000"), D("0"), D("10000")),
        pricing.LineIn("p1", D("1"), D("5000"), D("0"), D("10000")),
    ], {"p1": ITEM}, "CNY")
    assert half_price.max_discount_percent == D("50")
    assert pricing.needs_discount_approval(pricing.line_discounts(half_price.lines), threshold)
    at_list = pricing.price_lines([pricing.LineIn("p1", D("4"), D("10000"), D("10"),
                                                  D("10000"))], {"p1": ITEM}, "CNY")
    assert not pricing.needs_discount_approval(pricing.line_discounts(at_list.lines), threshold)


def test_a_price_in_another_currency_than_the_list_needs_approval() -> None:
    foreign = pricing.price_lines([pricing.LineIn("p1", D("1"), D("1.00"))], {"p1": ITEM},
                                  "USD")
    assert foreign.lines[0]["effective_discount_percent"] is None
    assert pricing.needs_discount_approval(pricing.line_discounts(foreign.lines), D("10"))


def test_payment_terms_must_cover_exactly_100_percent() -> None:
    pricing.check_payment_terms([(D("30"), 0), (D("70"), 30)])
    pricing.check_payment_terms([])
    for bad in ([(D("30"), 0)], [(D("50"), 0), (D("50"), -1)], [(D("0"), 0), (D("100"), 1)]):
        with pytest.raises(ValidationFailed):
            pricing.check_payment_terms(bad)


def test_order_state_machine() -> None:
    status = "draft"
    for action in ("submit", "confirm", "start_delivery", "complete"):
        status = workflow.ORDER.next(status, action)
    assert status == "completed"
    for status, action in (("draft", "complete"), ("completed", "cancel"),
                           ("cancelled", "confirm"), ("in_delivery", "cancel"),
                           ("confirmed", "submit")):
        with pytest.raises(StateViolation):
            workflow.ORDER.next(status, action)


def test_quote_and_lead_machines() -> None:
    assert workflow.QUOTE.next("rejected", "edit") == "draft"
    with pytest.raises(StateViolation):
        workflow.QUOTE.next("pending_approval", "convert")
    with pytest.raises(StateViolation):
        workflow.LEAD.next("disqualified", "convert")
    with pytest.raises(ValidationFailed):
        workflow.require_reason("  ", "loss reason")


def test_funnel_weights_each_stage_and_totals_the_rounded_rows() -> None:
    out = analytics.funnel([
        analytics.StageTotal("b", "B", 20, D("25"), 1, D("0.10")),
        analytics.StageTotal("a", "A", 10, D("10"), 2, D("3000.30")),
    ], "CNY")
    assert [s["stage_id"] for s in out["stages"]] == ["a", "b"]  # type: ignore[index]
    assert out["total_weighted_amount"] == "300.06"  # 300.03 + 0.03 (0.025 rounds up)


def test_win_loss_rates_and_cycle() -> None:
    row = analytics.win_loss_row("rep", 2, 1, D("5000"), D("45"), "CNY")
    assert row["win_rate"] == "0.6667" and row["lost_rate"] == "0.3333"
    assert row["average_cycle_days"] == "15.0"
    assert analytics.win_loss_row(None, 0, 0, D("0"), D("0"), "CNY")["win_rate"] is None


@pytest.mark.parametrize("period,first,last", [
    ("2026", date(2026, 1, 1), date(2026, 12, 31)),
    ("2026-Q1", date(2026, 1, 1), date(2026, 3, 31)),
    ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
])
def test_periods(period: str, first: date, last: date) -> None:
    assert analytics.period_range(period) == (first, last)


def test_bad_period_and_roi() -> None:
    with pytest.raises(ValidationFailed):
        analytics.period_range("2026-13")
    assert analytics.roi(D("6000"), D("3000")) == "1.0000"
    assert analytics.roi(D("1"), D("0")) is None
