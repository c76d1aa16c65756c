"""Payment plans (BIL-01): created from ``order.confirmed`` exactly once per order,
cancelled with ``order.cancelled``; installments invoiced at confirmation when due then,
later by the timer (``invoice_lead_days`` before due) or by hand."""

from __future__ import annotations

import logging
import uuid
from datetime import date
from typing import Any

from crm_platform import money
from crm_platform.auth import Caller
from crm_platform.db import is_postgres, utcnow
from crm_platform.errors import NotFound
from crm_platform.pagination import keyset_page
from crm_platform.read_models import apply_snapshot
from crm_platform.uow import UnitOfWork
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.billing import events, schemas
from services.billing.db import queries
from services.billing.db.models import BillingCustomer, Installment, Invoice, PaymentPlan
from services.billing.db.repositories import billing_work
from services.billing.domain import plans as rules
from services.billing.use_cases.allocations import apply_credit
from services.billing.use_cases.common import (
    billing_settings,
    parse_datetime,
    text,
    today,
)
from services.billing.use_cases.invoices import create_invoice_row, invoice_out
from services.sales.events import OrderCancelled, OrderConfirmed

log = logging.getLogger(__name__)


# -- shaping -----------------------------------------------------------------------------
def plan_out(plan: PaymentPlan, installments: list[Installment],
             customer_name: str | None) -> dict[str, Any]:
    c = plan.currency
    data = {
        "id": plan.id, "order_id": plan.order_id, "order_number": plan.order_number,
        "customer_id": plan.customer_id, "customer_name": customer_name,
        "owner_id": plan.owner_id, "currency": c, "amount": text(plan.amount, c),
        "status": plan.status, "confirmed_at": plan.confirmed_at,
        "signed_on": plan.signed_on, "cancelled_at": plan.cancelled_at,
        "cancel_reason": plan.cancel_reason,
        "installments": [{"number": i.number, "percent": format(i.percent.normalize(), "f"),
                          "due_days": i.due_days, "amount": text(i.amount, c),
                          "due_date": i.due_date, "invoice_id": i.invoice_id,
                          "status": i.status}
                         for i in sorted(installments, key=lambda i: i.number)],
        "version": plan.version, "created_at": plan.created_at,
        "updated_at": plan.updated_at,
    }
    return schemas.PaymentPlan.model_validate(data).model_dump(mode="json")


def _installments(s: Session, plan_ids: list[str]) -> dict[str, list[Installment]]:
    out: dict[str, list[Installment]] = {pid: [] for pid in plan_ids}
    if plan_ids:
        for inst in s.scalars(select(Installment).where(Installment.plan_id.in_(plan_ids))):
            out[inst.plan_id].append(inst)
    return out


# -- invoicing an installment -------------------------------------------------------------
def invoice_installment_row(uow: UnitOfWork, plan: PaymentPlan, inst: Installment,
                            invoice_type: str, issue_date: date,
                            notes: str | None = None) -> Invoice:
    s = uow.session
    customer = queries.customer(s, plan.customer_id)
    if customer is None:  # pragma: no cover - the plan created the copy
        raise NotFound("customer not found", code="customer_not_found")
    count = s.scalar(select(func.count()).where(Installment.plan_id == plan.id))
    label = f"installment {inst.number}/{count} of order {plan.order_number or plan.order_id}"
    lines = rules.prorate_lines(plan.lines, inst.amount, plan.currency, label)
    inv = create_invoice_row(billing_work(uow), customer, plan.currency, lines, invoice_type,
                             issue_date, max(inst.due_date, issue_date),
                             order_id=plan.order_id, plan_id=plan.id,
                             installment_number=inst.number, notes=notes)
    inst.status = rules.INSTALLMENT.next(inst.status, "invoice")
    inst.invoice_id = inv.id
    return inv


# -- events from sales --------------------------------------------------------------------
def on_order_confirmed(uow: UnitOfWork, order: OrderConfirmed) -> None:
    """Create the order's plan (the unique order_id refuses a second one, whatever the
    event id) and invoice what is due now."""
    s = uow.session
    order_id = order.order_id
    if s.scalar(select(PaymentPlan.id).where(PaymentPlan.order_id == order_id)):
        return
    currency = order.currency
    amount = money.parse(order.amount, currency)
    confirmed_at = parse_datetime(order.confirmed_at) or utcnow()
    confirmed_on = confirmed_at.date()
    # an order may arrive before its customer's own events: the copy starts from the
    # order at version 0, so every event of the customer wins over it
    apply_snapshot(s, BillingCustomer, {
        "id": order.customer_id, "name": order.customer_name, "owner_id": order.owner_id,
        "owner_team_id": order.owner_team_id, "status": "active", "version": 0})
    customer = queries.customer(s, order.customer_id)
    assert customer is not None
    terms = rules.parse_terms(order.payment_terms)
    if sum(t.percent for t in terms) != rules.HUNDRED:
        log.warning("order %s: installment percents do not sum to 100; used as weights",
                    order_id)
    drafts = rules.split_installments(amount, currency, terms, confirmed_on)
    now = utcnow()
    plan = PaymentPlan(
        id=str(uuid.uuid4()), order_id=order_id, order_number=order.number,
        customer_id=customer.id, owner_id=order.owner_id,
        owner_team_id=order.owner_team_id, currency=currency, amount=amount,
        lines=list(order.lines), status="active", confirmed_at=confirmed_at,
        signed_on=order.signed_at, version=1, created_at=now,
        updated_at=now)
    # a racing duplicate (same order, another event id) fails on the unique order_id and
    # is retried; its retry finds the plan above and stops
    s.add(plan)
    s.flush()
    # nothing to collect on a zero installment (a free order): waived, never invoiced
    rows = [Installment(plan_id=plan.id, number=d.number, percent=d.percent,
                        due_days=d.due_days, amount=d.amount, due_date=d.due_date,
                        status="pending" if d.amount > 0 else "waived") for d in drafts]
    s.add_all(rows)
    s.flush()
    uow.publish(events.PaymentPlanCreated(
        id=plan.id, order_id=order_id, order_number=plan.order_number,
        customer_id=customer.id, owner_id=plan.owner_id, currency=currency,
        amount=text(amount, currency),
        installments=[events.InstallmentRef(number=d.number,
                                            percent=format(d.percent.normalize(), "f"),
                                            amount=text(d.amount, currency),
                                            due_date=d.due_date) for d in drafts]))
    settings = billing_settings(s)
    lead = int(settings["invoice_lead_days"])
    now_day = today()
    invoiced = False
    for inst in rows:
        if inst.status == "pending" and rules.invoicing_due(inst.due_date, now_day, lead):
            invoice_installment_row(
                uow, plan, inst, settings["default_invoice_type"],
                rules.issue_date_for(inst.due_date, confirmed_on, now_day, lead))
            invoiced = True
    if invoiced:
        apply_credit(billing_work(uow), customer.id, currency)


def on_order_cancelled(uow: UnitOfWork, order: OrderCancelled) -> None:
    """Installments not invoiced yet are cancelled; issued invoices stay (finance voids
    or collects them)."""
    s = uow.session
    order_id = order.order_id
    plan = s.scalar(select(PaymentPlan).where(PaymentPlan.order_id == order_id)
                    .with_for_update())
    if plan is None or plan.status == "cancelled":
        return
    cancelled = []
    for inst in s.scalars(select(Installment).where(Installment.plan_id == plan.id,
                                                    Installment.status == "pending")):
        inst.status = rules.INSTALLMENT.next(inst.status, "cancel")
        cancelled.append(inst.number)
    plan.status = rules.PAYMENT_PLAN.next(plan.status, "cancel")
    plan.cancelled_at = utcnow()
    plan.cancel_reason = order.reason
    plan.version += 1
    plan.updated_at = plan.cancelled_at
    uow.publish(events.PaymentPlanCancelled(
        id=plan.id, order_id=order_id, customer_id=plan.customer_id,
        cancelled_installments=sorted(cancelled), reason=order.reason))


# -- API ---------------------------------------------------------------------------------
def _visible_plan(s: Session, caller: Caller, plan_id: str, lock: bool = False
                  ) -> PaymentPlan:
    query = queries.scoped(select(PaymentPlan).where(PaymentPlan.id == plan_id),
                           PaymentPlan.customer_id, caller)
    if lock:
        query = query.with_for_update()
    plan: PaymentPlan | None = s.scalar(query)
    if plan is None:
        raise NotFound("payment plan not found", code="payment_plan_not_found")
    return plan


def get_payment_plan(uow: UnitOfWork, caller: Caller, plan_id: str) -> dict[str, Any]:
    s = uow.session
    plan = _visible_plan(s, caller, plan_id)
    return plan_out(plan, _installments(s, [plan.id])[plan.id],
                    queries.customer_names(s, [plan.customer_id]).get(plan.customer_id))


def list_payment_plans(uow: UnitOfWork, caller: Caller, query: schemas.PaymentPlanQuery
                       ) -> dict[str, Any]:
    s = uow.session
    q = queries.scoped(select(PaymentPlan), PaymentPlan.customer_id, caller)
    if query.order_id:
        q = q.where(PaymentPlan.order_id == query.order_id)
    if query.customer_id:
        found = queries.customer(s, query.customer_id)
        q = q.where(PaymentPlan.customer_id == (found.id if found else query.customer_id))
    if query.status:
        q = q.where(PaymentPlan.status == query.status)
    rows, cursor = keyset_page(s, q, query.limit, query.cursor,
                               (PaymentPlan.created_at, PaymentPlan.id), descending=True)
    insts = _installments(s, [r.id for r in rows])
    names = queries.customer_names(s, (r.customer_id for r in rows))
    return {"items": [plan_out(r, insts[r.id], names.get(r.customer_id)) for r in rows],
            "next_cursor": cursor}


def invoice_installment(uow: UnitOfWork, caller: Caller, plan_id: str, number: int,
                        data: schemas.InstallmentInvoiceIn) -> dict[str, Any]:
    """Invoice an installment now, before the timer would."""
    s = uow.session
    plan = _visible_plan(s, caller, plan_id, lock=True)
    rules.PAYMENT_PLAN.check(plan.status, "invoice_installment")
    inst = s.scalar(select(Installment).where(Installment.plan_id == plan.id,
                                              Installment.number == number)
                    .with_for_update())
    if inst is None:
        raise NotFound("installment not found", code="installment_not_found")
    rules.INSTALLMENT.check(inst.status, "invoice")
    settings = billing_settings(s)
    inv = invoice_installment_row(uow, plan, inst, data.type or
                                  settings["default_invoice_type"], today(), data.notes)
    apply_credit(billing_work(uow), plan.customer_id, plan.currency)
    uow.commit()
    return invoice_out(inv, queries.customer_names(s, [plan.customer_id])
                       .get(plan.customer_id))


def invoice_due_installments(uow: UnitOfWork, as_of: date, customer_id: str | None = None,
                             batch: int = 100) -> int:
    """Timer: installments whose invoicing window has opened. Claimed with SKIP LOCKED so
    two replicas never invoice one installment twice (and the row lock + status check
    would refuse it anyway)."""
    s = uow.session
    settings = billing_settings(s)
    lead = int(settings["invoice_lead_days"])
    from datetime import timedelta

    query = (select(Installment).join(PaymentPlan, PaymentPlan.id == Installment.plan_id)
             .where(Installment.status == "pending", PaymentPlan.status == "active",
                    Installment.due_date <= as_of + timedelta(days=lead))
             .order_by(Installment.due_date, Installment.id).limit(batch))
    if customer_id:
        query = query.where(PaymentPlan.customer_id == customer_id)
    if is_postgres(s):
        query = query.with_for_update(skip_locked=True, of=Installment)
    rows = list(s.scalars(query))
    touched: set[tuple[str, str]] = set()
    for inst in rows:
        plan = s.get(PaymentPlan, inst.plan_id)
        assert plan is not None
        invoice_installment_row(uow, plan, inst, settings["default_invoice_type"],
                                rules.issue_date_for(inst.due_date, plan.confirmed_at.date(),
                                                     as_of, lead))
        touched.add((plan.customer_id, plan.currency))
    for cid, currency in sorted(touched):
        apply_credit(billing_work(uow), cid, currency)
    uow.commit()
    return len(rows)
