"""Credit management (BIL-05): rating from payment history and the credit check.

Rating: over the customer's invoices that are settled or past due, ``on_time_ratio`` is
the share paid in full by the due date and ``average_days_late`` the mean of days late
(unpaid ones count up to the rating date). The best grade whose both thresholds hold
wins; no such invoice yet means no rating.

Check: exposure = open receivables + confirmed orders not yet invoiced. An order is
allowed when there is no limit, or exposure + its amount stays within the limit; a hold
refuses everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from crm_platform.errors import ValidationFailed
from crm_platform.money import ZERO

Rating = Literal["A", "B", "C", "D"]
CheckReason = Literal["ok", "over_limit", "credit_hold"]


@dataclass(frozen=True)
class Grade:
    rating: Rating
    min_on_time_ratio: Decimal
    max_average_days_late: Decimal


@dataclass(frozen=True)
class RatingThresholds:
    grades: tuple[Grade, ...] = (
        Grade("A", Decimal("0.9"), Decimal("5")),
        Grade("B", Decimal("0.75"), Decimal("15")),
        Grade("C", Decimal("0.5"), Decimal("30")),
    )

    @classmethod
    def from_settings(cls, raw: Mapping[str, Any]) -> RatingThresholds:
        """``{"A": {"min_on_time_ratio": "0.9", "max_average_days_late": 5}, ...}``;
        grades not given keep their defaults; D is whatever fails C."""
        grades = []
        for default in cls().grades:
            given = raw.get(default.rating) or {}
            try:
                grades.append(Grade(
                    default.rating,
                    Decimal(str(given.get("min_on_time_ratio", default.min_on_time_ratio))),
                    Decimal(str(given.get("max_average_days_late",
                                          default.max_average_days_late)))))
            except ArithmeticError:
                raise ValidationFailed(f"rating thresholds of {default.rating} are not "
                                       "numbers", code="invalid_settings") from None
        return cls(tuple(grades))

    def to_settings(self) -> dict[str, dict[str, str]]:
        return {g.rating: {"min_on_time_ratio": str(g.min_on_time_ratio),
                           "max_average_days_late": str(g.max_average_days_late)}
                for g in self.grades}


@dataclass(frozen=True)
class PaymentRecord:
    due_date: date
    settled_on: date | None  # None: not paid in full yet


@dataclass(frozen=True)
class RatingResult:
    rating: Rating | None
    on_time_ratio: Decimal | None
    average_days_late: Decimal | None
    invoices: int


def rate(records: Iterable[PaymentRecord], as_of: date,
         thresholds: RatingThresholds) -> RatingResult:
    counted = on_time = 0
    late_days = 0
    for rec in records:
        if rec.settled_on is None and rec.due_date >= as_of:
            continue  # not due yet: says nothing about the customer
        end = rec.settled_on or as_of
        late = max(0, (end - rec.due_date).days)
        counted += 1
        late_days += late
        if rec.settled_on is not None and late == 0:
            on_time += 1
    if counted == 0:
        return RatingResult(None, None, None, 0)
    ratio = (Decimal(on_time) / counted).quantize(Decimal("0.0001"), ROUND_HALF_UP)
    average = (Decimal(late_days) / counted).quantize(Decimal("0.01"), ROUND_HALF_UP)
    rating: Rating = "D"
    for grade in thresholds.grades:
        if ratio >= grade.min_on_time_ratio and average <= grade.max_average_days_late:
            rating = grade.rating
            break
    return RatingResult(rating, ratio, average, counted)


@dataclass(frozen=True)
class CreditDecision:
    allowed: bool
    reason: CheckReason
    available: Decimal | None
    detail: str | None = None


def check(limit: Decimal | None, limit_currency: str, hold: bool, exposure: Decimal,
          amount: Decimal, currency: str) -> CreditDecision:
    """``exposure`` is in ``limit_currency``; an order in another currency cannot be
    measured against the limit and is refused as over the limit (no exchange rates
    here), with a ``detail`` saying why."""
    available = None if limit is None else limit - exposure
    if hold:
        return CreditDecision(False, "credit_hold", available)
    if limit is None:
        return CreditDecision(True, "ok", None)
    if currency != limit_currency:
        return CreditDecision(False, "over_limit", available,
                              f"the credit limit is in {limit_currency}, not {currency}")
    if exposure + amount > limit:
        return CreditDecision(False, "over_limit", available)
    return CreditDecision(True, "ok", available)


def exposure(open_receivables: Decimal, uninvoiced: Decimal,
             confirming: Decimal = ZERO) -> Decimal:
    """What the customer owes or will owe: open receivables, confirmed orders not invoiced
    yet, and orders being confirmed whose payment plan is not made yet."""
    return max(ZERO, open_receivables) + max(ZERO, uninvoiced) + max(ZERO, confirming)
