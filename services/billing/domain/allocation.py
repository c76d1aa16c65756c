"""Payments (BIL-03): how money meets invoices.

- without instructions a payment pays the oldest-due invoices first;
- requested allocations are checked (the customer's own open invoices, positive amounts,
  no more than outstanding, no more than the payment);
- what is left is the customer's credit balance, used by later invoices;
- a refund takes the unallocated balance first, then undoes allocations from the
  latest-due invoice back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from crm_platform.errors import ValidationFailed
from crm_platform.money import ZERO


@dataclass(frozen=True)
class OpenInvoice:
    id: str
    number: str
    issue_date: date
    due_date: date
    outstanding: Decimal


@dataclass(frozen=True)
class Applied:
    """Money of one payment currently on one invoice (its net allocation)."""

    invoice_id: str
    due_date: date
    amount: Decimal


def allocate_oldest_first(amount: Decimal, invoices: Sequence[OpenInvoice]
                          ) -> tuple[list[tuple[str, Decimal]], Decimal]:
    """Allocations (invoice id, amount) from the oldest due date on, and what is left."""
    left = amount
    out: list[tuple[str, Decimal]] = []
    for inv in sorted(invoices, key=lambda i: (i.due_date, i.issue_date, i.number)):
        if left <= 0:
            break
        take = min(left, inv.outstanding)
        if take > 0:
            out.append((inv.id, take))
            left -= take
    return out, left


def check_requested(amount: Decimal, requested: Sequence[tuple[str, Decimal]],
                    invoices: Mapping[str, OpenInvoice]) -> list[tuple[str, Decimal]]:
    """Validate explicit allocations; the same invoice twice is one allocation."""
    merged: dict[str, Decimal] = {}
    for invoice_id, value in requested:
        if value <= 0:
            raise ValidationFailed("allocation amounts must be positive",
                                   code="invalid_allocation",
                                   extra={"invoice_id": invoice_id})
        if invoice_id not in invoices:
            raise ValidationFailed("allocations must name open invoices of this customer "
                                   "in the payment's currency", code="invalid_allocation",
                                   extra={"invoice_id": invoice_id})
        merged[invoice_id] = merged.get(invoice_id, ZERO) + value
    for invoice_id, value in merged.items():
        if value > invoices[invoice_id].outstanding:
            raise ValidationFailed(
                f"{value} is more than invoice {invoices[invoice_id].number} has "
                f"outstanding ({invoices[invoice_id].outstanding})",
                code="over_allocation", extra={"invoice_id": invoice_id})
    if sum(merged.values(), ZERO) > amount:
        raise ValidationFailed("allocations exceed the amount available",
                               code="over_allocation")
    return list(merged.items())


def plan_refund(amount: Decimal, refundable: Decimal, unallocated: Decimal,
                applied: Sequence[Applied]) -> tuple[Decimal, list[tuple[str, Decimal]]]:
    """(taken from the unallocated balance, [(invoice id, amount taken back)])."""
    if amount <= 0:
        raise ValidationFailed("a refund must be positive", code="invalid_amount")
    if amount > refundable:
        raise ValidationFailed(f"at most {refundable} of this payment can be refunded",
                               code="over_refund", extra={"refundable": str(refundable)})
    from_balance = min(amount, unallocated)
    left = amount - from_balance
    taken: list[tuple[str, Decimal]] = []
    for item in sorted(applied, key=lambda a: (a.due_date, a.invoice_id), reverse=True):
        if left <= 0:
            break
        take = min(left, item.amount)
        if take > 0:
            taken.append((item.invoice_id, take))
            left -= take
    return from_balance, taken
