"""Payments (BIL-03): record money received and allocate it (oldest due first unless told),
keep the rest as the customer's credit balance, apply that balance to later invoices,
refund."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from crm_platform.auth import Caller
from crm_platform.db import utcnow
from crm_platform.errors import Conflict
from crm_platform.money import ZERO, rounded
from crm_platform.pagination import keyset_page
from crm_platform.read_models import Fetch
from crm_platform.states import bump
from crm_platform.uow import UnitOfWork
from sqlalchemy import select

from services.billing import events, schemas
from services.billing.db import queries
from services.billing.db.models import Allocation, BillingCustomer, Invoice, Payment, Refund
from services.billing.db.repositories import SqlBillingRepositories
from services.billing.domain import allocation as rules
from services.billing.domain.invoices import payment_number
from services.billing.repositories import BillingRepositories, BillingWork
from services.billing.use_cases.allocations import (
    allocate,
    allocation_refs,
    apply_money,
)
from services.billing.use_cases.common import aware, positive, text


# -- shaping -----------------------------------------------------------------------------
def payment_out(repos: BillingRepositories, p: Payment, customer_name: str | None = None
                ) -> dict[str, Any]:
    c = p.currency
    rows = repos.allocations.of_payment(p.id)
    refunds = repos.refunds.of_payment(p.id)
    allocated = sum((a.amount for a, _, _ in rows), ZERO)
    data = {
        "id": p.id, "number": p.number, "customer_id": p.customer_id,
        "customer_name": customer_name if customer_name is not None else
        repos.customers.names([p.customer_id]).get(p.customer_id),
        "amount": text(p.amount, c), "currency": c, "method": p.method,
        "received_at": p.received_at, "payer_account": p.payer_account,
        "reference": p.reference, "notes": p.notes, "handler_id": p.handler_id,
        "allocated_amount": text(allocated, c),
        "unallocated_amount": text(p.unallocated_amount, c),
        "refunded_amount": text(p.refunded_amount, c),
        "allocations": [{"invoice_id": a.invoice_id, "invoice_number": number,
                         "order_id": order_id, "amount": text(a.amount, c),
                         "effective_on": a.effective_on, "refund_id": a.refund_id}
                        for a, number, order_id in rows],
        "refunds": [{"id": r.id, "amount": text(r.amount, c), "reason": r.reason,
                     "refunded_at": r.refunded_at, "created_by": r.created_by}
                    for r in refunds],
        "version": p.version, "created_at": p.created_at,
    }
    return schemas.Payment.model_validate(data).model_dump(mode="json")


# -- use cases ---------------------------------------------------------------------------
def create_payment(uow: BillingWork, caller: Caller, data: schemas.PaymentCreate,
                   fetch: Fetch | None = None) -> dict[str, Any]:
    repos = uow.repos
    customer = repos.customers.visible(caller, data.customer_id, fetch)
    payment = receive(uow, caller, customer, positive(data.amount, data.currency),
                      data.currency, data.method, aware(data.received_at), data.allocations,
                      payer_account=data.payer_account, reference=data.reference,
                      notes=data.notes)
    uow.commit()
    return payment_out(repos, payment, customer.name)


def receive(uow: BillingWork, caller: Caller, customer: BillingCustomer, amount: Decimal,
            currency: str, method: str, received_at: datetime,
            allocations: list[schemas.AllocationIn] | None, *,
            payer_account: str | None = None, reference: str | None = None,
            notes: str | None = None) -> Payment:
    """Record a payment and allocate it (not committed): money received, or stored value
    spent on an invoice (BIL-09)."""
    repos = uow.repos
    year = received_at.year
    now = utcnow()
    payment = Payment(
        id=str(uuid.uuid4()),
        number=payment_number(year, repos.sequences.next(f"payment-{year}")),
        customer_id=customer.id, currency=currency, amount=amount,
        unallocated_amount=amount, refunded_amount=ZERO, method=method,
        received_at=received_at, payer_account=payer_account,
        reference=reference, notes=notes, handler_id=caller.user_id, version=1,
        created_at=now, updated_at=now)
    repos.payments.add(payment)
    applied, left = allocate(uow, payment, amount, allocations)
    payment.unallocated_amount = rounded(left, currency)
    uow.publish(events.PaymentReceived(
        payment_id=payment.id, number=payment.number, customer_id=customer.id,
        owner_id=customer.owner_id, amount=text(amount, currency), currency=currency,
        method=method, received_at=received_at, unallocated=text(left, currency),
        allocations=allocation_refs(applied, currency)))
    return payment


def get_payment(uow: BillingWork, caller: Caller, payment_id: str) -> dict[str, Any]:
    return payment_out(uow.repos, uow.repos.payments.visible(caller, payment_id))


def list_payments(uow: UnitOfWork, caller: Caller, query: schemas.PaymentQuery
                  ) -> dict[str, Any]:
    s = uow.session
    q = queries.scoped(select(Payment), Payment.customer_id, caller)
    if query.customer_id:
        found = queries.customer(s, query.customer_id)
        q = q.where(Payment.customer_id == (found.id if found else query.customer_id))
    if query.method:
        q = q.where(Payment.method == query.method)
    rows, cursor = keyset_page(s, q, query.limit, query.cursor,
                               (Payment.created_at, Payment.id), descending=True)
    names = queries.customer_names(s, (r.customer_id for r in rows))
    repos = SqlBillingRepositories(uow)
    return {"items": [payment_out(repos, r, names.get(r.customer_id)) for r in rows],
            "next_cursor": cursor}


def allocate_payment(uow: BillingWork, caller: Caller, payment_id: str,
                     data: schemas.AllocateRequest) -> dict[str, Any]:
    """Apply a payment's credit balance now (to named invoices, or oldest due first)."""
    p = uow.repos.payments.visible(caller, payment_id, lock=True)
    if p.unallocated_amount <= 0:
        raise Conflict("nothing of this payment is left to allocate",
                       code="nothing_to_allocate")
    applied, left = allocate(uow, p, p.unallocated_amount, data.allocations)
    if applied:
        p.unallocated_amount = rounded(left, p.currency)
        bump(p)
        uow.publish(events.PaymentAllocated(payment_id=p.id, customer_id=p.customer_id,
                                            currency=p.currency,
                                            allocations=allocation_refs(applied, p.currency)))
    uow.commit()
    return payment_out(uow.repos, p)


def refund_payment(uow: BillingWork, caller: Caller, payment_id: str,
                   data: schemas.RefundRequest) -> dict[str, Any]:
    repos = uow.repos
    p = repos.payments.visible(caller, payment_id, lock=True)
    # stored value spent goes back to its account; locked before the invoices, as a
    # spend locks them (account first)
    account = repos.stored_value.spent_from(p.id) if p.method == "stored_value" else None
    currency = p.currency
    amount = positive(data.amount, currency)
    refunded_at = aware(data.refunded_at) if data.refunded_at else utcnow()
    net = [(iid, rounded(value, currency))
           for iid, value in repos.allocations.net_by_invoice(p.id)]
    invoices = repos.invoices.lock_many(iid for iid, _ in net)
    applied = [rules.Applied(iid, invoices[iid].due_date, value)
               for iid, value in net if value > 0]
    from_balance, taken = rules.plan_refund(
        amount, rounded(p.amount - p.refunded_amount, currency),
        rounded(p.unallocated_amount, currency), applied)
    refund = Refund(id=str(uuid.uuid4()), payment_id=p.id, amount=amount,
                    reason=data.reason, refunded_at=refunded_at, created_by=caller.user_id,
                    created_at=utcnow())
    repos.refunds.add(refund)
    reversed_: list[tuple[Invoice, Decimal]] = []
    for invoice_id, value in taken:
        inv = invoices[invoice_id]
        repos.allocations.add(Allocation(
            payment_id=p.id, invoice_id=inv.id, amount=-value,
            effective_on=refunded_at.date(), refund_id=refund.id, created_at=utcnow()))
        apply_money(uow, inv, -value, refunded_at)
        reversed_.append((inv, value))
    p.unallocated_amount = rounded(p.unallocated_amount - from_balance, currency)
    p.refunded_amount = rounded(p.refunded_amount + amount, currency)
    bump(p)
    if account is not None:
        repos.stored_value.give_back(caller, account, amount, p.id, data.reason)
    owner = repos.customers.get(p.customer_id)
    uow.publish(events.PaymentRefunded(
        payment_id=p.id, refund_id=refund.id, customer_id=p.customer_id,
        owner_id=owner.owner_id if owner else None, amount=text(amount, currency),
        currency=currency, reason=data.reason, refunded_at=refunded_at,
        allocations=allocation_refs(reversed_, currency)))
    uow.commit()
    return payment_out(repos, p)
