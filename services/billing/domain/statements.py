"""Customer statements and period figures (BIL-07).

A statement lists what the customer was billed (invoices: debit; a void takes it back:
credit) and what they paid (payments: credit; refunds: debit) between two dates, with the
balance carried from before and a running balance (positive: the customer owes).

Period figures are rows per group and currency; totals are the plain Decimal sums of the
rows' columns, so they always equal the rows exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from crm_platform.money import ZERO


@dataclass(frozen=True)
class Movement:
    on: date
    kind: str  # invoice / invoice_void / payment / refund
    reference_id: str
    number: str
    debit: Decimal
    credit: Decimal


@dataclass(frozen=True)
class StatementLine:
    movement: Movement
    balance: Decimal


def statement(opening: Decimal, movements: Iterable[Movement]
              ) -> tuple[list[StatementLine], Decimal, Decimal, Decimal]:
    """(lines in date order with running balances, total debit, total credit, closing)."""
    balance = opening
    lines = []
    debit = credit = ZERO
    order = {"invoice": 0, "invoice_void": 1, "payment": 2, "refund": 3}
    for m in sorted(movements, key=lambda m: (m.on, order.get(m.kind, 9), m.number)):
        balance += m.debit - m.credit
        debit += m.debit
        credit += m.credit
        lines.append(StatementLine(m, balance))
    return lines, debit, credit, balance


def balance_before(movements: Iterable[Movement]) -> Decimal:
    return sum((m.debit - m.credit for m in movements), ZERO)


def column_totals(rows: Sequence[dict[str, Decimal]], columns: Sequence[str]
                  ) -> dict[str, Decimal]:
    return {c: sum((r[c] for r in rows), ZERO) for c in columns}
