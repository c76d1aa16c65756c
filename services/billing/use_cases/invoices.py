"""Invoices (BIL-02): issue (from an installment or by hand), list, read, void; money
applied to and taken back from invoices; the overdue timer; the dunning log."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from crm_platform.auth import Caller
from crm_platform.db import skip_locked, utcnow
from crm_platform.errors import ValidationFailed, check_version
from crm_platform.money import LIMIT, ZERO, rounded
from crm_platform.pagination import keyset_page
from crm_platform.read_models import Fetch
from crm_platform.states import bump
from crm_platform.uow import UnitOfWork
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.billing import events, schemas
from services.billing.db import queries
from services.billing.db.models import (
    BillingCustomer,
    DunningEntry,
    Invoice,
)
from services.billing.db.repositories import SqlInvoices
from services.billing.domain import invoices as rules
from services.billing.domain.plans import INSTALLMENT, InvoiceLine, priced_line
from services.billing.repositories import BillingWork
from services.billing.use_cases import credit
from services.billing.use_cases.allocations import apply_credit
from services.billing.use_cases.common import text, today


# -- shaping -----------------------------------------------------------------------------
def invoice_out(inv: Invoice, customer_name: str | None) -> dict[str, Any]:
    c = inv.currency
    outstanding = ZERO if inv.status == "void" else inv.amount - inv.paid_amount
    data = {
        "id": inv.id, "number": inv.number, "type": inv.type, "customer_id": inv.customer_id,
        "customer_name": customer_name, "order_id": inv.order_id, "plan_id": inv.plan_id,
        "installment_number": inv.installment_number, "currency": c,
        "amount": text(inv.amount, c), "tax_amount": text(inv.tax_amount, c),
        "net_amount": text(inv.amount - inv.tax_amount, c),
        "paid_amount": text(inv.paid_amount, c), "outstanding": text(outstanding, c),
        "status": inv.status, "issue_date": inv.issue_date, "due_date": inv.due_date,
        "paid_at": inv.paid_at, "voided_at": inv.voided_at, "void_reason": inv.void_reason,
        "lines": inv.lines, "notes": inv.notes, "version": inv.version,
        "created_at": inv.created_at, "updated_at": inv.updated_at,
    }
    return schemas.Invoice.model_validate(data).model_dump(mode="json")


# -- issuing -----------------------------------------------------------------------------
def create_invoice_row(uow: BillingWork, customer: BillingCustomer, currency: str,
                       lines: Sequence[InvoiceLine], invoice_type: str, issue_date: date,
                       due_date: date, *, order_id: str | None = None,
                       plan_id: str | None = None, installment_number: int | None = None,
                       notes: str | None = None) -> Invoice:
    """Number it from the year's series (locked in this transaction) and publish
    ``invoice.issued``."""
    amount = rounded(sum((line.amount for line in lines), ZERO), currency)
    if amount <= 0:
        raise ValidationFailed("an invoice must be for more than zero",
                               code="invalid_amount")
    if amount >= LIMIT:  # lines that fit one by one may not fit together
        raise ValidationFailed("the lines add up to more than an invoice can hold",
                               code="invalid_amount")
    if due_date < issue_date:
        raise ValidationFailed("the due date is before the issue date",
                               code="invalid_due_date")
    sequence = uow.repos.sequences.next(f"invoice-{issue_date.year}")
    now = utcnow()
    inv = Invoice(
        id=str(uuid.uuid4()), number=rules.invoice_number(issue_date.year, sequence),
        type=invoice_type, customer_id=customer.id, order_id=order_id, plan_id=plan_id,
        installment_number=installment_number, currency=currency, amount=amount,
        tax_amount=rounded(sum((line.tax_amount for line in lines), ZERO), currency),
        paid_amount=ZERO, status="issued", issue_date=issue_date, due_date=due_date,
        lines=[line.to_json(currency) for line in lines], notes=notes, version=1,
        created_by=uow.actor, created_at=now, updated_at=now)
    uow.repos.invoices.add(inv)
    uow.publish(events.InvoiceIssued(
        id=inv.id, number=inv.number, type=inv.type, customer_id=inv.customer_id,
        owner_id=customer.owner_id, order_id=order_id, plan_id=plan_id,
        installment_number=installment_number, currency=currency,
        amount=text(inv.amount, currency), tax_amount=text(inv.tax_amount, currency),
        issue_date=issue_date, due_date=due_date))
    return inv


def issue_invoice(uow: BillingWork, caller: Caller, data: schemas.InvoiceCreate,
                  fetch: Fetch | None = None) -> dict[str, Any]:
    """An invoice written by hand (services, adjustments, orders billed outside a plan)."""
    customer = uow.repos.customers.visible(caller, data.customer_id, fetch)
    currency = data.currency
    lines = [priced_line(li.description, _decimal(li.quantity, "quantity"),
                         _decimal(li.unit_price, "unit_price"),
                         _decimal(li.tax_rate, "tax_rate"), currency, li.product_id)
             for li in data.lines]
    inv = create_invoice_row(uow, customer, currency, lines, data.type,
                             data.issue_date or today(), data.due_date,
                             order_id=data.order_id, notes=data.notes)
    apply_credit(uow, customer.id, currency)
    uow.commit()
    return invoice_out(inv, customer.name)


def _decimal(value: str, field: str) -> Decimal:
    try:
        return Decimal(value)
    except ArithmeticError:
        raise ValidationFailed(f"{field} is not a number", code="invalid_number",
                               extra={"field": field}) from None


# -- reading -----------------------------------------------------------------------------
def visible_invoice(s: Session, caller: Caller, invoice_id: str) -> Invoice:
    return SqlInvoices(s).visible(caller, invoice_id)


def get_invoice(uow: UnitOfWork, caller: Caller, invoice_id: str) -> dict[str, Any]:
    inv = visible_invoice(uow.session, caller, invoice_id)
    return invoice_out(inv, queries.customer_names(uow.session, [inv.customer_id])
                       .get(inv.customer_id))


def list_invoices(uow: UnitOfWork, caller: Caller, query: schemas.InvoiceQuery
                  ) -> dict[str, Any]:
    s = uow.session
    q = queries.scoped(select(Invoice), Invoice.customer_id, caller)
    if query.order_id:
        q = q.where(Invoice.order_id == query.order_id)
    if query.customer_id:
        found = queries.customer(s, query.customer_id)
        q = q.where(Invoice.customer_id == (found.id if found else query.customer_id))
    if query.status:
        q = q.where(Invoice.status == query.status)
    rows, cursor = keyset_page(s, q, query.limit, query.cursor,
                               (Invoice.created_at, Invoice.id), descending=True)
    names = queries.customer_names(s, (r.customer_id for r in rows))
    return {"items": [invoice_out(r, names.get(r.customer_id)) for r in rows],
            "next_cursor": cursor}


# -- void --------------------------------------------------------------------------------
def void_invoice(uow: BillingWork, caller: Caller, invoice_id: str,
                 data: schemas.VoidRequest, expected_version: int | None) -> dict[str, Any]:
    """Only an invoice without money on it; its installment can then be invoiced again."""
    repos = uow.repos
    inv = repos.invoices.visible(caller, invoice_id, lock=True)
    check_version(inv.version, expected_version, "invoice")
    rules.check_void(inv.status, inv.paid_amount)
    now = utcnow()
    inv.status = rules.INVOICE.next(inv.status, "void")
    inv.voided_at = now
    inv.void_reason = data.reason
    bump(inv)
    if inv.plan_id and inv.installment_number:
        inst = repos.plans.installment(inv.plan_id, inv.installment_number)
        plan = repos.plans.get(inv.plan_id)
        if inst is not None and inst.invoice_id == inv.id:
            inst.invoice_id = None
            inst.status = INSTALLMENT.next(inst.status, "void_invoice")
            if plan is None or plan.status != "active":
                inst.status = INSTALLMENT.next(inst.status, "cancel")
    uow.publish(events.InvoiceVoided(
        invoice_id=inv.id, number=inv.number, customer_id=inv.customer_id,
        order_id=inv.order_id, amount=text(inv.amount, inv.currency), currency=inv.currency,
        reason=data.reason, voided_at=now))
    uow.commit()
    return invoice_out(inv, repos.customers.names([inv.customer_id]).get(inv.customer_id))


# -- overdue (timer) ---------------------------------------------------------------------
def mark_overdue(uow: UnitOfWork, as_of: date, customer_id: str | None = None,
                 batch: int = 200) -> int:
    """Open invoices past their due date become overdue (``invoice.overdue`` once per
    transition). Claimed with SKIP LOCKED: replicas take different invoices."""
    s = uow.session
    query = select(Invoice).where(Invoice.status.in_(("issued", "partially_paid")),
                                  Invoice.due_date < as_of)
    if customer_id:
        query = query.where(Invoice.customer_id == customer_id)
    rows = list(s.scalars(skip_locked(s, query.order_by(Invoice.due_date)
                                              .limit(batch))))
    owners = dict(s.execute(select(BillingCustomer.id, BillingCustomer.owner_id).where(
        BillingCustomer.id.in_({r.customer_id for r in rows}))).tuples().all())
    for inv in rows:
        if not rules.becomes_overdue(inv.status, inv.due_date, as_of):
            continue
        inv.status = "overdue"
        bump(inv)
        uow.publish(events.InvoiceOverdue(
            invoice_id=inv.id, number=inv.number, customer_id=inv.customer_id,
            owner_id=owners.get(inv.customer_id), order_id=inv.order_id,
            due_date=inv.due_date, outstanding=text(inv.amount - inv.paid_amount,
                                                    inv.currency),
            currency=inv.currency))
    s.flush()
    for cid in sorted({r.customer_id for r in rows}):
        credit.refresh_rating(uow, cid, as_of)
    uow.commit()
    return len(rows)


def dunning_log(uow: UnitOfWork, caller: Caller, invoice_id: str) -> dict[str, Any]:
    s = uow.session
    inv = visible_invoice(s, caller, invoice_id)
    rows = s.scalars(select(DunningEntry).where(DunningEntry.invoice_id == inv.id)
                     .order_by(DunningEntry.step))
    items = [{"step": r.step, "offset_days": r.offset_days, "outcome": r.outcome,
              "as_of": r.as_of, "escalated": r.escalated, "owner_id": r.owner_id,
              "manager_id": r.manager_id, "outstanding": text(r.outstanding, r.currency),
              "currency": r.currency, "created_at": r.created_at} for r in rows]
    return schemas.DunningLog.model_validate({"invoice_id": inv.id, "items": items}
                                             ).model_dump(mode="json")
