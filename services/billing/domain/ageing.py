"""Receivables ageing (BIL-04) as of any date.

Days past due = as_of - due_date. Buckets: ``current`` (not yet due: days < 0, shown
apart so the four overdue buckets hold only money that is late), ``0-30`` (due today up
to 30 days late), ``31-60``, ``61-90``, ``90+`` (91 days and more). A row's ``total`` is
the sum of its buckets and each currency's totals are the sums of its rows, exactly
(Decimal addition, nothing rounded after the fact).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from crm_platform.money import ZERO

BUCKETS: tuple[str, ...] = ("current", "0-30", "31-60", "61-90", "90+")


def bucket_of(due_date: date, as_of: date) -> str:
    days = (as_of - due_date).days
    if days < 0:
        return "current"
    if days <= 30:
        return "0-30"
    if days <= 60:
        return "31-60"
    if days <= 90:
        return "61-90"
    return "90+"


@dataclass(frozen=True)
class Receivable:
    """One invoice's outstanding amount as of the report date."""

    group: str | None
    currency: str
    due_date: date
    outstanding: Decimal


@dataclass
class AgeingRow:
    group: str | None
    currency: str
    buckets: dict[str, Decimal]
    invoices: int = 0

    @property
    def total(self) -> Decimal:
        return sum(self.buckets.values(), ZERO)


def empty_buckets() -> dict[str, Decimal]:
    return {name: ZERO for name in BUCKETS}


def age(items: Iterable[Receivable], as_of: date
        ) -> tuple[list[AgeingRow], dict[str, AgeingRow]]:
    """Rows per (group, currency), sorted, and per-currency totals over those rows."""
    rows: dict[tuple[str, str], AgeingRow] = {}
    for item in items:
        if item.outstanding == 0:
            continue
        key = (item.group or "", item.currency)
        row = rows.get(key)
        if row is None:
            row = rows[key] = AgeingRow(item.group, item.currency, empty_buckets())
        row.buckets[bucket_of(item.due_date, as_of)] += item.outstanding
        row.invoices += 1
    ordered = [rows[k] for k in sorted(rows)]
    totals: dict[str, AgeingRow] = {}
    for row in ordered:
        total = totals.get(row.currency)
        if total is None:
            total = totals[row.currency] = AgeingRow(None, row.currency, empty_buckets())
        for name, value in row.buckets.items():
            total.buckets[name] += value
        total.invoices += row.invoices
    return ordered, totals
