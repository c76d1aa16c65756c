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
from crm_platform.errors import Conflict, NotFound
from crm_platform.money import ZERO, rounded
from crm_platform.pagination import keyset_page
from crm_platform.read_models import Fetch
from crm_platform.uow import UnitOfWork
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.billing import events, schemas
from services.billing.db import queries
from services.billing.db.models import Allocation, BillingCustomer, Invoice, Payment, Refund
from services.billing.domain import allocation as rules
from services.billing.domain.invoices import payment_number
from services.billing.use_cases import stored_value_entries
from services.billing.use_cases.allocations import (
    allocate,
    allocation_refs,
    apply_money,
)
from services.billing.use_cases.common import aware, positive, text


# -- shaping -----------------------------------------------------------------------------
def payment_out(s: Session, p: Payment, customer_name: str | None = None) -> dict[str, Any]:
    c = p.currency
    rows = s.execute(select(Allocation, Invoice.number, Invoice.order_id)
                     .select_from(Allocation).join(Invoice, Invoice.id == Allocation.invoice_id)
                     .where(Allocation.payment_id == p.id).order_by(Allocation.id)).all()
    refunds = s.scalars(select(Refund).where(Refund.payment_id == p.id)
                        .order_by(Refund.refunded_at))
    allocated = sum((a.amount for a, _, _ in rows), ZERO)
    data = {
        "id": p.id, "number": p.number, "customer_id": p.customer_id,
        "customer_name": customer_name if customer_name is not None else
        queries.customer_names(s, [p.customer_id]).get(p.customer_id),
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
def create_payment(uow: UnitOfWork, caller: Caller, data: schemas.PaymentCreate,
                   fetch: Fetch | None = None) -> dict[str, Any]:
    s = uow.session
    customer = queries.visible_customer(s, caller, data.customer_id, fetch)
    payment = receive(uow, caller, customer, positive(data.amount, data.currency),
                      data.currency, data.method, aware(data.received_at), data.allocations,
                      payer_account=data.payer_account, reference=data.reference,
                      notes=data.notes)
    uow.commit()
    return payment_out(s, payment, customer.name)


def receive(uow: UnitOfWork, caller: Caller, customer: BillingCustomer, amount: Decimal,
            currency: str, method: str, received_at: datetime,
            allocations: list[schemas.AllocationIn] | None, *,
            payer_account: str | None = None, reference: str | None = None,
            notes: str | None = None) -> Payment:
    """Record a payment and allocate it (not committed): money received, or stored value
    spent on an invoice (BIL-09)."""
    s = uow.session
    year = received_at.year
    now = utcnow()
    payment = Payment(
        id=str(uuid.uuid4()),
        number=payment_number(year, queries.next_sequence(s, f"payment-{year}")),
        customer_id=customer.id, currency=currency, amount=amount,
        unallocated_amount=amount, refunded_amount=ZERO, method=method,
        received_at=received_at, payer_account=payer_account,
        reference=reference, notes=notes, handler_id=caller.user_id, version=1,
        created_at=now, updated_at=now)
    s.add(payment)
    s.flush()
    applied, left = allocate(uow, payment, amount, allocations)
    payment.unallocated_amount = rounded(left, currency)
    uow.publish(events.PaymentReceived(
        payment_id=payment.id, number=payment.number, customer_id=customer.id,
        owner_id=customer.owner_id, amount=text(amount, currency), currency=currency,
        method=method, received_at=received_at, unallocated=text(left, currency),
        allocations=allocation_refs(applied, currency)))
    return payment


def visible_payment(s: Session, caller: Caller, payment_id: str, *, lock: bool = False
                    ) -> Payment:
    query = queries.scoped(select(Payment).where(Payment.id == payment_id),
                           Payment.customer_id, caller)
    if lock:
        query = query.with_for_update()
    p: Payment | None = s.scalar(query)
    if p is None:
        raise NotFound("payment not found", code="payment_not_found")
    return p


def get_payment(uow: UnitOfWork, caller: Caller, payment_id: str) -> dict[str, Any]:
    return payment_out(uow.session, visible_payment(uow.session, caller, payment_id))


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
    return {"items": [payment_out(s, r, names.get(r.customer_id)) for r in rows],
            "next_cursor": cursor}


def allocate_payment(uow: UnitOfWork, caller: Caller, payment_id: str,
                     data: schemas.AllocateRequest) -> dict[str, Any]:
    """Apply a payment's credit balance now (to named invoices, or oldest due first)."""
    s = uow.session
    p = visible_payment(s, caller, payment_id, lock=True)
    if p.unallocated_amount <= 0:
        raise Conflict("nothing of this payment is left to allocate",
                       code="nothing_to_allocate")
    applied, left = allocate(uow, p, p.unallocated_amount, data.allocations)
    if applied:
        p.unallocated_amount = rounded(left, p.currency)
        p.version += 1
        p.updated_at = utcnow()
        uow.publish(events.PaymentAllocated(payment_id=p.id, customer_id=p.customer_id,
                                            currency=p.currency,
                                            allocations=allocation_refs(applied, p.currency)))
    uow.commit()
    return payment_out(s, p)


def refund_payment(uow: UnitOfWork, caller: Caller, payment_id: str,
                   data: schemas.RefundRequest) -> dict[str, Any]:
    s = uow.session
    p = visible_payment(s, caller, payment_id, lock=True)
    # stored value spent goes back to its account; locked before the invoices, as a
    # spend locks them (account first)
    account = stored_value_entries.spent_by(s, p.id) if p.method == "stored_value" else None
    currency = p.currency
    amount = positive(data.amount, currency)
    refunded_at = aware(data.refunded_at) if data.refunded_at else utcnow()
    net = s.execute(select(Allocation.invoice_id, func.sum(Allocation.amount))
                    .where(Allocation.payment_id == p.id)
                    .group_by(Allocation.invoice_id)).all()
    invoices = {i.id: i for i in s.scalars(select(Invoice).where(
        Invoice.id.in_([row[0] for row in net])).order_by(Invoice.id).with_for_update())}
    applied = [rules.Applied(iid, invoices[iid].due_date, queries.money(value, currency))
               for iid, value in net if queries.money(value, currency) > 0]
    from_balance, taken = rules.plan_refund(
        amount, rounded(p.amount - p.refunded_amount, currency),
        rounded(p.unallocated_amount, currency), applied)
    refund = Refund(id=str(uuid.uuid4()), payment_id=p.id, amount=amount,
                    reason=data.reason, refunded_at=refunded_at, created_by=caller.user_id,
                    created_at=utcnow())
    s.add(refund)
    s.flush()
    reversed_: list[tuple[Invoice, Decimal]] = []
    for invoice_id, value in taken:
        inv = invoices[invoice_id]
        s.add(Allocation(payment_id=p.id, invoice_id=inv.id, amount=-value,
                         effective_on=refunded_at.date(), refund_id=refund.id,
                         created_at=utcnow()))
        apply_money(uow, inv, -value, refunded_at)
        reversed_.append((inv, value))
    p.unallocated_amount = rounded(p.unallocated_amount - from_balance, currency)
    p.refunded_amount = rounded(p.refunded_amount + amount, currency)
    p.version += 1
    p.updated_at = utcnow()
    if account is not None:
        stored_value_entries.post(uow, caller, account, "payment_refund", amount,
                                  payment_id=p.id, reason=data.reason)
    owner = queries.customer(s, p.customer_id)
    uow.publish(events.PaymentRefunded(
        payment_id=p.id, refund_id=refund.id, customer_id=p.customer_id,
        owner_id=owner.owner_id if owner else None, amount=text(amount, currency),
        currency=currency, reason=data.reason, refunded_at=refunded_at,
        allocations=allocation_refs(reversed_, currency)))
    uow.commit()
    return payment_out(s, p)
