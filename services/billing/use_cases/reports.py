"""Receivables, ageing (BIL-04), statements and period figures (BIL-07), and the billing
section of the customer 360. Read-only; everything is scoped by the customer's owner."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from crm_platform import wire
from crm_platform.auth import Caller
from crm_platform.errors import ValidationFailed
from crm_platform.money import ZERO
from crm_platform.pagination import keyset_page
from crm_platform.uow import UnitOfWork
from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from services.billing import schemas
from services.billing.db import queries
from services.billing.db.models import (
    Allocation,
    BillingCustomer,
    CreditProfile,
    Expense,
    Invoice,
    Payment,
    PaymentPlan,
    Refund,
)
from services.billing.domain import ageing, statements
from services.billing.domain.invoices import OPEN_STATUSES
from services.billing.use_cases.common import (
    billing_settings,
    day_end,
    day_start,
    text,
    today,
)


def _owner_filter(caller: Caller) -> Any:
    owners = caller.visible_owner_ids()
    return None if owners is None else BillingCustomer.owner_id.in_(sorted(owners))


# -- receivables -------------------------------------------------------------------------
def list_receivables(uow: UnitOfWork, caller: Caller, query: schemas.ReceivableQuery
                     ) -> dict[str, Any]:
    """Open invoices' outstanding per customer and currency (keyset on both)."""
    s = uow.session
    now_day = today()
    outstanding = Invoice.amount - Invoice.paid_amount
    q = (select(Invoice.customer_id, Invoice.currency, func.count(),
                func.sum(Invoice.amount), func.sum(Invoice.paid_amount),
                func.sum(case((Invoice.due_date < now_day, outstanding), else_=0)))
         .join(BillingCustomer, BillingCustomer.id == Invoice.customer_id)
         .where(Invoice.status.in_(OPEN_STATUSES))
         .group_by(Invoice.customer_id, Invoice.currency))
    scope = _owner_filter(caller)
    if scope is not None:
        q = q.where(scope)
    if query.customer_id:
        q = q.where(Invoice.customer_id == queries.visible_customer(
            s, caller, query.customer_id).id)
    if query.owner_id:
        q = q.where(BillingCustomer.owner_id == query.owner_id)
    if query.currency:
        q = q.where(Invoice.currency == query.currency)
    rows, cursor = keyset_page(s, q, query.limit, query.cursor,
                               (Invoice.customer_id, Invoice.currency), rows=True)
    customers = {c.id: c for c in s.scalars(select(BillingCustomer).where(
        BillingCustomer.id.in_({r[0] for r in rows})))}
    items = []
    for cid, currency, count, invoiced, paid, overdue in rows:
        c = customers.get(cid)
        inv_total = queries.money(invoiced, currency)
        paid_total = queries.money(paid, currency)
        items.append({"customer_id": cid, "customer_name": c.name if c else None,
                      "owner_id": c.owner_id if c else None,
                      "owner_team_id": c.owner_team_id if c else None,
                      "currency": currency, "open_invoices": int(count),
                      "invoiced": text(inv_total, currency), "paid": text(paid_total, currency),
                      "outstanding": text(inv_total - paid_total, currency),
                      "overdue": text(queries.money(overdue, currency), currency)})
    return {"items": items, "next_cursor": cursor}


def _receivables_as_of(s: Session, caller: Caller, as_of: date,
                       customer_id: str | None = None, currency: str | None = None
                       ) -> list[tuple[Invoice, BillingCustomer | None, Decimal]]:
    """Every invoice with money outstanding at the end of ``as_of``: issued by then, not
    void by then, less the allocations effective by then (refunds are negative ones)."""
    paid = (select(Allocation.invoice_id, func.sum(Allocation.amount).label("paid"))
            .where(Allocation.effective_on <= as_of).group_by(Allocation.invoice_id)
            .subquery())
    q = (select(Invoice, BillingCustomer, func.coalesce(paid.c.paid, 0)).select_from(Invoice)
         .outerjoin(paid, paid.c.invoice_id == Invoice.id)
         .outerjoin(BillingCustomer, BillingCustomer.id == Invoice.customer_id)
         .where(Invoice.issue_date <= as_of,
                or_(Invoice.voided_at.is_(None), Invoice.voided_at >= day_end(as_of)),
                Invoice.amount > func.coalesce(paid.c.paid, 0)))
    scope = _owner_filter(caller)
    if scope is not None:
        q = q.where(scope)
    if customer_id:
        q = q.where(Invoice.customer_id == customer_id)
    if currency:
        q = q.where(Invoice.currency == currency)
    return [(inv, cust, inv.amount - queries.money(p, inv.currency))
            for inv, cust, p in s.execute(q.order_by(Invoice.id)).all()]


def _group_key(group_by: str) -> Callable[[BillingCustomer | None, str], str | None]:
    def key(c: BillingCustomer | None, customer_id: str) -> str | None:
        if group_by == "customer":
            return customer_id
        if c is None:
            return None
        return c.owner_id if group_by == "rep" else c.owner_team_id
    return key


def _names(s: Session, group_by: str, keys: set[str | None]) -> dict[str, str]:
    if group_by == "customer":
        return queries.customer_names(s, keys)
    if group_by == "rep":
        return queries.staff_names(s, keys)
    return queries.team_names(s, keys)


def get_ageing(uow: UnitOfWork, caller: Caller, query: schemas.AgeingQuery) -> dict[str, Any]:
    s = uow.session
    as_of = query.as_of or today()
    customer_id = None
    if query.customer_id:
        customer_id = queries.visible_customer(s, caller, query.customer_id).id
    key = _group_key(query.group_by)
    items = [ageing.Receivable(key(cust, inv.customer_id), inv.currency, inv.due_date, out)
             for inv, cust, out in _receivables_as_of(s, caller, as_of, customer_id,
                                                      query.currency)]
    rows, totals = ageing.age(items, as_of)
    names = _names(s, query.group_by, {r.group for r in rows})

    def buckets(b: dict[str, Decimal], currency: str) -> dict[str, str]:
        return {name: text(b[name], currency) for name in ageing.BUCKETS}

    return schemas.AgeingReport.model_validate({
        "as_of": as_of, "group_by": query.group_by, "bucket_names": list(ageing.BUCKETS),
        "rows": [{"key": r.group, "name": names.get(r.group or ""), "currency": r.currency,
                  "invoices": r.invoices, "buckets": buckets(r.buckets, r.currency),
                  "total": text(r.total, r.currency)} for r in rows],
        "totals": [{"currency": t.currency, "invoices": t.invoices,
                    "buckets": buckets(t.buckets, t.currency),
                    "total": text(t.total, t.currency)}
                   for _, t in sorted(totals.items())],
    }).model_dump(mode="json", by_alias=True)


# -- statements --------------------------------------------------------------------------
def get_statement(uow: UnitOfWork, caller: Caller, query: schemas.StatementQuery
                  ) -> dict[str, Any]:
    s = uow.session
    if query.to < query.from_:
        raise ValidationFailed("'to' is before 'from'", code="invalid_period")
    customer = queries.visible_customer(s, caller, query.customer_id)
    currency = query.currency or billing_settings(s)["default_currency"]
    end = day_end(query.to)
    moves: list[statements.Movement] = []
    for inv in s.scalars(select(Invoice).where(
            Invoice.customer_id == customer.id, Invoice.currency == currency,
            Invoice.issue_date <= query.to)):
        moves.append(statements.Movement(inv.issue_date, "invoice", inv.id, inv.number,
                                         inv.amount, ZERO))
        if inv.voided_at is not None and inv.voided_at < end:
            moves.append(statements.Movement(inv.voided_at.date(), "invoice_void", inv.id,
                                             inv.number, ZERO, inv.amount))
    for p in s.scalars(select(Payment).where(
            Payment.customer_id == customer.id, Payment.currency == currency,
            Payment.received_at < end)):
        moves.append(statements.Movement(p.received_at.date(), "payment", p.id, p.number,
                                         ZERO, p.amount))
    for r, number in s.execute(select(Refund, Payment.number).select_from(Refund).join(
            Payment, Payment.id == Refund.payment_id).where(
            Payment.customer_id == customer.id, Payment.currency == currency,
            Refund.refunded_at < end)).all():
        moves.append(statements.Movement(r.refunded_at.date(), "refund", r.id, number,
                                         r.amount, ZERO))
    opening = statements.balance_before(m for m in moves if m.on < query.from_)
    lines, debit, credit_, closing = statements.statement(
        opening, [m for m in moves if m.on >= query.from_])
    return schemas.Statement.model_validate({
        "customer_id": customer.id, "customer_name": customer.name, "currency": currency,
        "from": query.from_, "to": query.to, "opening_balance": text(opening, currency),
        "total_debit": text(debit, currency), "total_credit": text(credit_, currency),
        "closing_balance": text(closing, currency),
        "lines": [{"date": line.movement.on, "kind": line.movement.kind,
                   "reference_id": line.movement.reference_id,
                   "number": line.movement.number,
                   "debit": text(line.movement.debit, currency),
                   "credit": text(line.movement.credit, currency),
                   "balance": text(line.balance, currency)} for line in lines],
    }).model_dump(mode="json", by_alias=True)


# -- period figures ----------------------------------------------------------------------
COLUMNS = ("sales_amount", "invoiced", "received", "refunded", "receivable", "expenses")


def get_period_report(uow: UnitOfWork, caller: Caller, query: schemas.PeriodQuery
                      ) -> dict[str, Any]:
    """Per rep / customer / team (the customer's current owner and team; expenses by
    their submitter, or their linked customer) and currency."""
    s = uow.session
    if query.to < query.from_:
        raise ValidationFailed("'to' is before 'from'", code="invalid_period")
    start, end = day_start(query.from_), day_end(query.to)
    group_by = query.group_by
    key = _group_key(group_by)
    scope = _owner_filter(caller)
    rows: dict[tuple[str, str], dict[str, Decimal]] = {}
    keys: dict[tuple[str, str], str | None] = {}

    def add(group: str | None, currency: str, column: str, value: Decimal) -> None:
        k = (group or "", currency)
        if k not in rows:
            rows[k] = {c: ZERO for c in COLUMNS}
            keys[k] = group
        rows[k][column] += value

    def scoped(model: Any, *where: Any) -> Any:
        q = (select(model, BillingCustomer).select_from(model)
             .outerjoin(BillingCustomer, BillingCustomer.id == model.customer_id)
             .where(*where))
        if query.currency:
            q = q.where(model.currency == query.currency)
        return q if scope is None else q.where(scope)

    for plan, cust in s.execute(scoped(
            PaymentPlan, PaymentPlan.confirmed_at >= start, PaymentPlan.confirmed_at < end,
            PaymentPlan.status != "cancelled")).all():
        add(key(cust, plan.customer_id), plan.currency, "sales_amount", plan.amount)
    for inv, cust in s.execute(scoped(
            Invoice, Invoice.issue_date >= query.from_, Invoice.issue_date <= query.to,
            Invoice.status != "void")).all():
        add(key(cust, inv.customer_id), inv.currency, "invoiced", inv.amount)
    for p, cust in s.execute(scoped(
            Payment, Payment.received_at >= start, Payment.received_at < end)).all():
        add(key(cust, p.customer_id), p.currency, "received", p.amount)
    refunds = (select(Refund.amount, Payment.customer_id, Payment.currency, BillingCustomer)
               .select_from(Refund).join(Payment, Payment.id == Refund.payment_id)
               .outerjoin(BillingCustomer, BillingCustomer.id == Payment.customer_id)
               .where(Refund.refunded_at >= start, Refund.refunded_at < end))
    if query.currency:
        refunds = refunds.where(Payment.currency == query.currency)
    if scope is not None:
        refunds = refunds.where(scope)
    for amount, cid, currency, cust in s.execute(refunds).all():
        add(key(cust, cid), currency, "received", -amount)
        add(key(cust, cid), currency, "refunded", amount)
    for inv, cust, outstanding in _receivables_as_of(s, caller, query.to,
                                                     currency=query.currency):
        add(key(cust, inv.customer_id), inv.currency, "receivable", outstanding)
    expenses = select(Expense).where(Expense.status == "approved",
                                     Expense.incurred_on >= query.from_,
                                     Expense.incurred_on <= query.to)
    owners = caller.visible_owner_ids()
    if owners is not None:
        expenses = expenses.where(Expense.submitter_id.in_(sorted(owners)))
    if query.currency:
        expenses = expenses.where(Expense.currency == query.currency)
    for e in s.scalars(expenses):
        group = {"rep": e.submitter_id, "team": e.submitter_team_id,
                 "customer": e.customer_id}[group_by]
        add(group, e.currency, "expenses", e.amount)
    ordered = sorted(rows)
    names = _names(s, group_by, {keys[k] for k in ordered})
    out_rows = [{"key": keys[k], "name": names.get(keys[k] or ""), "currency": k[1],
                 **{c: text(rows[k][c], k[1]) for c in COLUMNS}} for k in ordered]
    totals = []
    for currency in sorted({k[1] for k in ordered}):
        sums = statements.column_totals([rows[k] for k in ordered if k[1] == currency],
                                        COLUMNS)
        totals.append({"currency": currency, **{c: text(sums[c], currency) for c in COLUMNS}})
    return schemas.PeriodReport.model_validate({
        "from": query.from_, "to": query.to, "group_by": group_by, "rows": out_rows,
        "totals": totals}).model_dump(mode="json", by_alias=True)


# -- customer 360 section ----------------------------------------------------------------
def customer_billing_summary(uow: UnitOfWork, caller: Caller, customer_id: str
                             ) -> dict[str, Any]:
    s = uow.session
    customer = queries.visible_customer(s, caller, customer_id)
    now_day = today()
    receivables = []
    for currency, count, outstanding, overdue in s.execute(
            select(Invoice.currency, func.count(),
                   func.sum(Invoice.amount - Invoice.paid_amount),
                   func.sum(case((Invoice.due_date < now_day,
                                  Invoice.amount - Invoice.paid_amount), else_=0)))
            .where(Invoice.customer_id == customer.id, Invoice.status.in_(OPEN_STATUSES))
            .group_by(Invoice.currency).order_by(Invoice.currency)).all():
        receivables.append({"currency": currency, "open_invoices": int(count),
                            "outstanding": text(queries.money(outstanding, currency),
                                                currency),
                            "overdue": text(queries.money(overdue, currency), currency)})
    profile = s.get(CreditProfile, customer.id)
    last = s.scalar(select(Payment).where(Payment.customer_id == customer.id)
                    .order_by(Payment.received_at.desc()).limit(1))
    return {
        "customer_id": customer.id, "receivables": receivables,
        "credit": None if profile is None else {
            "limit": text(profile.credit_limit, profile.currency)
            if profile.credit_limit is not None else None,
            "currency": profile.currency, "hold": profile.hold, "rating": profile.rating},
        "last_payment": None if last is None else {
            "id": last.id, "amount": text(last.amount, last.currency),
            "currency": last.currency, "received_at": wire.timestamp(last.received_at)},
    }
