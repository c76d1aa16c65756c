"""Funnel, win / loss and forecast figures (SAL-03), from aggregates the database
computes. Money stays Decimal; rates are fractions rounded to 4 places."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from crm_platform.errors import ValidationFailed
from crm_platform.money import ZERO, rounded

HUNDRED = Decimal("100")


@dataclass(frozen=True)
class StageTotal:
    stage_id: str
    name: str
    position: int
    probability: Decimal  # percent
    count: int
    amount: Decimal


def funnel(stages: list[StageTotal], currency: str) -> dict[str, object]:
    rows = []
    total_count, total_amount, total_weighted = 0, ZERO, ZERO
    for st in sorted(stages, key=lambda s: s.position):
        weighted = rounded(st.amount * st.probability / HUNDRED, currency)
        rows.append({"stage_id": st.stage_id, "stage": st.name, "position": st.position,
                     "probability": str(st.probability), "count": st.count,
                     "amount": str(rounded(st.amount, currency)),
                     "weighted_amount": str(weighted)})
        total_count += st.count
        total_amount += st.amount
        total_weighted += weighted
    return {"currency": currency, "stages": rows, "total_count": total_count,
            "total_amount": str(rounded(total_amount, currency)),
            "total_weighted_amount": str(rounded(total_weighted, currency))}


def forecast(rows: list[tuple[str, Decimal, int, Decimal]], currency: str
             ) -> dict[str, object]:
    """Rows of (month, stage probability %, count, amount) → per month count, amount and
    weighted amount (each stage's weighted share rounded, then summed)."""
    months: dict[str, list[Decimal]] = {}
    for month, probability, count, amount in rows:
        bucket = months.setdefault(month, [ZERO, ZERO, ZERO])
        bucket[0] += count
        bucket[1] += amount
        bucket[2] += rounded(amount * probability / HUNDRED, currency)
    out = [{"month": m, "count": int(v[0]), "amount": str(rounded(v[1], currency)),
            "weighted_amount": str(rounded(v[2], currency))} for m, v in sorted(months.items())]
    return {"currency": currency, "months": out,
            "total_amount": str(rounded(sum((v[1] for v in months.values()), ZERO), currency)),
            "total_weighted_amount": str(rounded(sum((v[2] for v in months.values()), ZERO),
                                                 currency))}


def rate(part: int, whole: int) -> str | None:
    if whole == 0:
        return None
    return str((Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), ROUND_HALF_UP))


def win_loss_row(key: str | None, won: int, lost: int, won_amount: Decimal,
                 cycle_days_total: Decimal, currency: str) -> dict[str, object]:
    closed = won + lost
    cycle = (cycle_days_total / closed).quantize(Decimal("0.1"), ROUND_HALF_UP) \
        if closed else None
    return {"key": key, "won": won, "lost": lost, "closed": closed,
            "win_rate": rate(won, closed), "lost_rate": rate(lost, closed),
            "won_amount": str(rounded(won_amount, currency)),
            "average_cycle_days": str(cycle) if cycle is not None else None}


_PERIOD = re.compile(r"^(\d{4})(?:-(Q[1-4]|\d{2}))?$")


def period_range(period: str) -> tuple[date, date]:
    """``2026`` / ``2026-Q3`` / ``2026-07`` → first and last day (inclusive)."""
    m = _PERIOD.match(period or "")
    if not m:
        raise ValidationFailed("period is YYYY, YYYY-Qn or YYYY-MM", code="invalid_period")
    year, part = int(m.group(1)), m.group(2)
    if not 1900 <= year <= 2999:  # year 0 has no first day, 9999 no day after its last
        raise ValidationFailed("the year must be 1900 to 2999", code="invalid_period")
    if part is None:
        return date(year, 1, 1), date(year, 12, 31)
    if part.startswith("Q"):
        q = int(part[1])
        first_month, last_month = 3 * q - 2, 3 * q
    else:
        first_month = last_month = int(part)
        if not 1 <= first_month <= 12:
            raise ValidationFailed("month must be 01 to 12", code="invalid_period")
    last_day = calendar.monthrange(year, last_month)[1]
    return date(year, first_month, 1), date(year, last_month, last_day)


def achievement(target: Decimal, achieved: Decimal) -> str | None:
    if target <= 0:
        return None
    return str((achieved / target).quantize(Decimal("0.0001"), ROUND_HALF_UP))


def roi(revenue: Decimal, cost: Decimal) -> str | None:
    """(won revenue − cost) / cost."""
    if cost <= 0:
        return None
    return str(((revenue - cost) / cost).quantize(Decimal("0.0001"), ROUND_HALF_UP))
