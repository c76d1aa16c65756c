"""Expenses (BIL-08): a salesperson (or marketing) records an expense, submits it; the
submitter's team manager (or finance / admin) approves it or rejects it with a comment;
approved expenses roll up per campaign. Scope is the submitter's."""

from __future__ import annotations

import uuid
from typing import Any

from crm_platform.auth import Caller
from crm_platform.db import utcnow
from crm_platform.errors import NotFound, check_version
from crm_platform.money import ZERO
from crm_platform.pagination import keyset_page
from crm_platform.uow import UnitOfWork
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.billing import events, schemas
from services.billing.db import queries
from services.billing.db.models import Expense
from services.billing.domain import expenses as rules
from services.billing.domain.invoices import expense_number
from services.billing.use_cases.common import positive, text


def expense_out(s: Session, e: Expense) -> dict[str, Any]:
    data = {name: getattr(e, name) for name in schemas.Expense.model_fields
            if name != "approver_id"}
    data["amount"] = text(e.amount, e.currency)
    if e.status == "submitted":
        data["approver_id"] = queries.manager_of(s, e.submitter_id, e.submitter_team_id)
    return schemas.Expense.model_validate(data).model_dump(mode="json")


def _visible(s: Session, caller: Caller, expense_id: str, lock: bool = False) -> Expense:
    query = select(Expense).where(Expense.id == expense_id)
    owners = caller.visible_owner_ids()
    if owners is not None:
        query = query.where(Expense.submitter_id.in_(sorted(owners)))
    if lock:
        query = query.with_for_update()
    found = s.scalar(query)
    if found is None:
        raise NotFound("expense not found", code="expense_not_found")
    return found


def create_expense(uow: UnitOfWork, caller: Caller, data: schemas.ExpenseCreate
                   ) -> dict[str, Any]:
    s = uow.session
    amount = positive(data.amount, data.currency)
    now = utcnow()
    year = now.year
    fields = data.model_dump(exclude={"amount"})
    e = Expense(id=str(uuid.uuid4()),
                number=expense_number(year, queries.next_sequence(s, f"expense-{year}")),
                amount=amount, submitter_id=caller.user_id,
                submitter_team_id=queries.team_of(s, caller.user_id), status="draft",
                version=1, created_at=now, updated_at=now, **fields)
    s.add(e)
    uow.commit()
    return expense_out(uow.session, e)


def get_expense(uow: UnitOfWork, caller: Caller, expense_id: str) -> dict[str, Any]:
    return expense_out(uow.session, _visible(uow.session, caller, expense_id))


def list_expenses(uow: UnitOfWork, caller: Caller, query: schemas.ExpenseQuery
                  ) -> dict[str, Any]:
    s = uow.session
    q = select(Expense)
    owners = caller.visible_owner_ids()
    if owners is not None:
        q = q.where(Expense.submitter_id.in_(sorted(owners)))
    for name in ("status", "submitter_id", "campaign_id", "customer_id", "category"):
        value = getattr(query, name)
        if value is not None:
            q = q.where(getattr(Expense, name) == value)
    rows, cursor = keyset_page(s, q, query.limit, query.cursor,
                               (Expense.created_at, Expense.id), descending=True)
    return {"items": [expense_out(s, e) for e in rows], "next_cursor": cursor}


def update_expense(uow: UnitOfWork, caller: Caller, expense_id: str,
                   data: schemas.ExpenseUpdate, expected_version: int | None
                   ) -> dict[str, Any]:
    e = _visible(uow.session, caller, expense_id, lock=True)
    check_version(e.version, expected_version, "expense")
    rules.check_submitter(e.submitter_id, caller.user_id)
    rules.EXPENSE.check(e.status, "edit")
    changes = data.model_dump(exclude_unset=True)
    currency = changes.get("currency") or e.currency
    if "amount" in changes or "currency" in changes:
        changes["amount"] = positive(changes.get("amount") or str(e.amount), currency)
    for name, value in changes.items():
        setattr(e, name, value)
    e.version += 1
    e.updated_at = utcnow()
    uow.commit()
    return expense_out(uow.session, e)


def submit_expense(uow: UnitOfWork, caller: Caller, expense_id: str) -> dict[str, Any]:
    s = uow.session
    e = _visible(s, caller, expense_id, lock=True)
    rules.check_submitter(e.submitter_id, caller.user_id)
    e.status = rules.EXPENSE.next(e.status, "submit")
    # the team as it is now decides who approves
    e.submitter_team_id = queries.team_of(s, e.submitter_id) or e.submitter_team_id
    e.submitted_at = utcnow()
    e.decided_by = e.decided_at = e.decision_comment = None
    e.version += 1
    e.updated_at = e.submitted_at
    uow.publish(events.ExpenseSubmitted(
        expense_id=e.id, submitter_id=e.submitter_id,
        approver_id=queries.manager_of(s, e.submitter_id, e.submitter_team_id),
        amount=text(e.amount, e.currency), currency=e.currency, category=e.category))
    uow.commit()
    return expense_out(uow.session, e)


def decide_expense(uow: UnitOfWork, caller: Caller, expense_id: str,
                   action: rules.ExpenseAction, data: schemas.ExpenseDecision
                   ) -> dict[str, Any]:
    """Approve or reject: a manager of the submitter's team (or a team above), or a
    company-wide approver (finance, admin); never the submitter."""
    s = uow.session
    e = _visible(s, caller, expense_id, lock=True)
    manages = queries.manages(s, caller.user_id, e.submitter_id, e.submitter_team_id)
    rules.check_approver(e.submitter_id, caller.user_id, manages,
                         caller.scope == "all" and caller.has("expense:approve"))
    rules.check_decision(action, data.comment)
    e.status = rules.EXPENSE.next(e.status, action)
    now = utcnow()
    e.decided_by = caller.user_id
    e.decided_at = now
    e.decision_comment = data.comment
    e.version += 1
    e.updated_at = now
    if action == "approve":
        uow.publish(events.ExpenseApproved(
            expense_id=e.id, campaign_id=e.campaign_id, customer_id=e.customer_id,
            order_id=e.order_id, submitter_id=e.submitter_id, approver_id=caller.user_id,
            kind=e.kind, channel=e.channel, amount=text(e.amount, e.currency),
            currency=e.currency, category=e.category, approved_at=now))
    else:
        uow.publish(events.ExpenseRejected(expense_id=e.id, submitter_id=e.submitter_id,
                                           approver_id=caller.user_id,
                                           comment=data.comment or ""))
    uow.commit()
    return expense_out(uow.session, e)


def campaign_costs(uow: UnitOfWork, caller: Caller, query: schemas.CampaignCostQuery
                   ) -> dict[str, Any]:
    """A campaign's cost roll-up: approved and still pending (submitted) expenses."""
    s = uow.session
    q = (select(Expense.currency, Expense.status, func.count(), func.sum(Expense.amount))
         .where(Expense.campaign_id == query.campaign_id,
                Expense.status.in_(("approved", "submitted")))
         .group_by(Expense.currency, Expense.status))
    owners = caller.visible_owner_ids()
    if owners is not None:
        q = q.where(Expense.submitter_id.in_(sorted(owners)))
    sums: dict[str, dict[str, Any]] = {}
    for currency, status, count, total in s.execute(q).all():
        row = sums.setdefault(currency, {"approved": ZERO, "pending": ZERO, "expenses": 0})
        row["approved" if status == "approved" else "pending"] += queries.money(total,
                                                                               currency)
        row["expenses"] += int(count)
    return {"items": [{"campaign_id": query.campaign_id, "currency": c,
                       "approved": text(v["approved"], c), "pending": text(v["pending"], c),
                       "expenses": v["expenses"]} for c, v in sorted(sums.items())]}
