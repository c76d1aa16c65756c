"""Satisfaction and SLA figures (SVC-03, SVC-05), computed from plain rows.

CSAT is the share of ratings of 4 or 5. A week is the ISO week of the moment in the
service desk's time zone (``2026-W49``), so the weekly summary matches the office's
Monday to Sunday.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

SATISFIED_FROM = 4


def week_of(moment: datetime, tz: ZoneInfo) -> str:
    year, week, _ = moment.astimezone(tz).isocalendar()
    return f"{year}-W{week:02d}"


def _rounded(value: float, places: str = "0.01") -> float:
    return float(Decimal(str(value)).quantize(Decimal(places), rounding=ROUND_HALF_UP))


def satisfaction(ratings: Sequence[int]) -> dict[str, float | int | None]:
    """Count, average (2 places) and CSAT % (ratings 4–5; 1 place) of some ratings."""
    if not ratings:
        return {"count": 0, "average": None, "csat_percent": None}
    happy = sum(1 for r in ratings if r >= SATISFIED_FROM)
    return {"count": len(ratings), "average": _rounded(statistics.fmean(ratings)),
            "csat_percent": _rounded(100 * happy / len(ratings), "0.1")}


@dataclass(frozen=True)
class Rated:
    rating: int
    rated_at: datetime
    agent_id: str | None
    category: str


def satisfaction_groups(rows: Iterable[Rated], key: Callable[[Rated], str | None]
                        ) -> list[dict[str, object]]:
    """One summary per key (in key order; ratings without a key are grouped as None)."""
    groups: dict[str | None, list[int]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row.rating)
    ordered = sorted(groups, key=lambda k: (k is None, k or ""))
    return [{"key": k, **satisfaction(groups[k])} for k in ordered]


@dataclass(frozen=True)
class ClockFigure:
    """One SLA clock of one ticket, for the SLA report: met (with the working time it
    took) or not, breached or not."""

    target: str
    used: timedelta | None  # working time to meet it; None while unmet
    breached: bool


def sla_figures(clocks: Iterable[ClockFigure]) -> dict[str, dict[str, float | int | None]]:
    """Per target: tickets, breaches, breach rate % and the median minutes to meet it."""
    by_target: dict[str, list[ClockFigure]] = {}
    for clock in clocks:
        by_target.setdefault(clock.target, []).append(clock)
    out: dict[str, dict[str, float | int | None]] = {}
    for target, items in sorted(by_target.items()):
        breaches = sum(1 for c in items if c.breached)
        used = [c.used.total_seconds() / 60 for c in items if c.used is not None]
        out[target] = {
            "tickets": len(items),
            "breached": breaches,
            "breach_rate_percent": _rounded(100 * breaches / len(items), "0.1"),
            "met": len(used),
            "median_minutes": _rounded(statistics.median(used), "0.1") if used else None,
        }
    return out


def callback_rate(due: int, done_in_time: int) -> float | None:
    """Callbacks done within their 72 hours over callbacks due (SVC-04: target 100 %)."""
    return _rounded(100 * done_in_time / due, "0.1") if due else None
