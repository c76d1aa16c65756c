"""Credit rating from payment history and the credit check (BIL-05), no I/O."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from services.billing.domain.credit import (
    PaymentRecord,
    RatingThresholds,
    check,
    exposure,
    rate,
)

D = Decimal
TODAY = date(2026, 6, 30)


def _paid(late_days: int) -> PaymentRecord:
    due = date(2026, 1, 31)
    return PaymentRecord(due, due + timedelta(days=late_days))


def test_ratings_from_history() -> None:
    t = RatingThresholds()
    assert rate([], TODAY, t).rating is None
    # not yet due and unpaid says nothing
    assert rate([PaymentRecord(TODAY + timedelta(days=3), None)], TODAY, t).rating is None
    assert rate([_paid(0)] * 10, TODAY, t).rating == "A"
    got = rate([_paid(0)] * 8 + [_paid(10)] * 2, TODAY, t)
    assert (got.rating, got.on_time_ratio, got.average_days_late) == ("B", D("0.8"), D("2"))
    assert rate([_paid(0), _paid(40)], TODAY, t).rating == "C"  # 50% on time, 20 days
    assert rate([_paid(0), _paid(100)], TODAY, t).rating == "D"
    # an unpaid invoice 60 days late drags the rating down as it ages
    unpaid = PaymentRecord(TODAY - timedelta(days=60), None)
    assert rate([_paid(0)] * 3 + [unpaid], TODAY, t).rating == "B"  # 75%, 15 days
    assert rate([_paid(0)] * 2 + [unpaid], TODAY, t).rating == "C"  # 67%, 20 days


def test_thresholds_are_settings() -> None:
    strict = RatingThresholds.from_settings({"A": {"min_on_time_ratio": "1",
                                                   "max_average_days_late": 0}})
    assert rate([_paid(0)] * 9 + [_paid(1)], TODAY, strict).rating == "B"
    assert strict.to_settings()["A"] == {"min_on_time_ratio": "1",
                                         "max_average_days_late": "0"}


def test_credit_check() -> None:
    assert check(None, "CNY", False, D("1e9"), D("1"), "CNY").allowed  # no limit
    ok = check(D("1000"), "CNY", False, D("400"), D("600"), "CNY")
    assert ok.allowed and ok.reason == "ok" and ok.available == D("600")
    over = check(D("1000"), "CNY", False, D("400"), D("600.01"), "CNY")
    assert not over.allowed and over.reason == "over_limit"
    held = check(None, "CNY", True, D("0"), D("1"), "CNY")
    assert not held.allowed and held.reason == "credit_hold"
    other = check(D("1000"), "CNY", False, D("0"), D("1"), "USD")
    assert not other.allowed and other.detail
    assert exposure(D("10"), D("5")) == D("15")


def test_the_exposure_counts_orders_being_confirmed() -> None:
    from decimal import Decimal

    from services.billing.domain.credit import exposure

    assert exposure(Decimal("100"), Decimal("50"), Decimal("600")) == Decimal("750")
    assert exposure(Decimal("-5"), Decimal("0")) == Decimal("0")
