"""Money moving between payments and invoices (BIL-03): allocation of a payment (oldest
due first unless told), the customer's credit balance applied to open invoices, and the
invoice side of both (paid amount, status, ``invoice.paid``). Payments, invoices and
payment plans all move money through here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from crm_platform.db import utcnow
from crm_platform.money import ZERO, rounded
from crm_platform.states import bump

from services.billing import events, schemas
from services.billing.db.models import Allocation, Invoice, Payment
from services.billing.domain import allocation as rules
from services.billing.domain import invoices as invoice_rules
from services.billing.repositories import BillingWork
from services.billing.use_cases.common import day_start, positive, text


def allocation_refs(allocs: Sequence[tuple[Invoice, Decimal]], currency: str
          ) -> list[events.AllocationRef]:
    return [events.AllocationRef(invoice_id=inv.id, order_id=inv.order_id,
                                 amount=text(value, currency)) for inv, value in allocs]


# -- allocation --------------------------------------------------------------------------
def allocate(uow: BillingWork, payment: Payment, amount: Decimal,
              requested: list[schemas.AllocationIn] | None,
              ) -> tuple[list[tuple[Invoice, Decimal]], Decimal]:
    """Apply up to ``amount`` of ``payment``; returns what went where and what is left."""
    invoices = {inv.id: inv for inv in uow.repos.invoices.open_of(payment.customer_id,
                                                                   payment.currency)}
    opens = {i.id: rules.OpenInvoice(i.id, i.number, i.issue_date, i.due_date,
                                     rounded(i.amount - i.paid_amount, i.currency))
             for i in invoices.values()}
    if requested is not None:
        wanted = [(a.invoice_id, positive(a.amount, payment.currency)) for a in requested]
        plan = rules.check_requested(amount, wanted, opens)
    else:
        plan, _ = rules.allocate_oldest_first(amount, list(opens.values()))
    applied: list[tuple[Invoice, Decimal]] = []
    for invoice_id, value in plan:
        inv = invoices[invoice_id]
        at = effective_from(payment.received_at, inv)
        uow.repos.allocations.add(Allocation(
            payment_id=payment.id, invoice_id=inv.id, amount=value, effective_on=at.date(),
            created_at=utcnow()))
        apply_money(uow, inv, value, at)
        applied.append((inv, value))
    return applied, amount - sum((v for _, v in applied), ZERO)


def apply_credit(uow: BillingWork, customer_id: str, currency: str) -> int:
    """Use the customer's credit balance (unallocated payments, oldest first) on their
    open invoices, oldest due first; ``payment.allocated`` per payment used."""
    used = 0
    for p in uow.repos.payments.with_credit(customer_id, currency):
        applied, left = allocate(uow, p, p.unallocated_amount, None)
        if not applied:
            break  # nothing open any more
        p.unallocated_amount = rounded(left, currency)
        bump(p)
        used += 1
        uow.publish(events.PaymentAllocated(payment_id=p.id, customer_id=p.customer_id,
                                            currency=currency,
                                            allocations=allocation_refs(applied, currency)))
    return used


# -- money on invoices -------------------------------------------------------------------
def apply_money(uow: BillingWork, inv: Invoice, delta: Decimal, paid_at: datetime) -> None:
    """Add (payment) or take back (refund) money on an invoice and move its status;
    ``invoice.paid`` when it becomes paid in full, and the customer is re-rated."""
    before = inv.status
    inv.paid_amount = rounded(inv.paid_amount + delta, inv.currency)
    inv.status = invoice_rules.status_after_payment(inv.status, inv.amount, inv.paid_amount)
    bump(inv)
    if inv.status == "paid" and before != "paid":
        inv.paid_at = paid_at
        uow.publish(events.InvoicePaid(
            invoice_id=inv.id, number=inv.number, order_id=inv.order_id,
            customer_id=inv.customer_id, amount=text(inv.amount, inv.currency),
            currency=inv.currency, paid_at=paid_at))
    elif inv.status != "paid":
        inv.paid_at = None
    if (inv.status == "paid") != (before == "paid"):
        uow.repos.ratings.refresh(inv.customer_id)


def effective_from(received_at: datetime, inv: Invoice) -> datetime:
    """Money counts on an invoice from when both existed (a prepayment pays an invoice
    on the day it is issued)."""
    return max(received_at, day_start(inv.issue_date))


