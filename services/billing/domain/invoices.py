"""Invoices (BIL-02): numbering and the state machine

    issued ──pay part──▶ partially_paid ──pay rest──▶ paid
      │  ╲                    │                        │ refund
      │   ╲ past due (timer)  │ past due (timer)       ▼
      │    ▼                  ▼                  back to issued / partially_paid
      │   overdue ──pay rest──────────────────▶ paid
      ▼
    void  (only without money on it: issued, or overdue with nothing paid)
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from crm_platform.errors import Conflict
from crm_platform.states import StateMachine, refused

InvoiceStatus = Literal["issued", "partially_paid", "paid", "overdue", "void"]
InvoiceType = Literal["vat_special", "vat_ordinary", "other"]
OPEN_STATUSES: frozenset[str] = frozenset({"issued", "partially_paid", "overdue"})
INVOICE_TYPES: tuple[str, ...] = ("vat_special", "vat_ordinary", "other")

# the transitions someone asks for; payments and the overdue timer set the rest
INVOICE = StateMachine("invoice", {"void": ("issued overdue", "void")})


def invoice_number(year: int, sequence: int) -> str:
    return f"INV-{year}-{sequence:06d}"


def payment_number(year: int, sequence: int) -> str:
    return f"PAY-{year}-{sequence:06d}"


def expense_number(year: int, sequence: int) -> str:
    return f"EXP-{year}-{sequence:06d}"


def status_after_payment(current: str, amount: Decimal, paid: Decimal) -> InvoiceStatus:
    """The status once ``paid`` of ``amount`` is on the invoice (after a payment or a
    refund). Overdue stays overdue until paid in full; becoming overdue is the timer's
    transition (it publishes ``invoice.overdue``)."""
    if current == "void":
        raise refused("invoice", current, "pay")
    if paid >= amount:
        return "paid"
    if current == "overdue":
        return "overdue"
    return "partially_paid" if paid > 0 else "issued"


def becomes_overdue(status: str, due_date: date, today: date) -> bool:
    """Past its due date (the day after) and not paid in full."""
    return status in ("issued", "partially_paid") and due_date < today


def check_void(status: str, paid_amount: Decimal) -> None:
    """Money on an invoice must be refunded before it can be voided."""
    if status != "void" and (status in ("paid", "partially_paid") or paid_amount > 0):
        raise Conflict("an invoice with payments on it cannot be voided; refund first",
                       code="invoice_has_payments", extra={"current_state": status})
    INVOICE.check(status, "void")


