"""Billing's part of an employee's agenda (CUS-18)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm_platform import agenda
from crm_platform.auth import Caller
from crm_platform.money import text
from crm_platform.uow import UnitOfWork
from sqlalchemy.orm import Session

from services.billing.db import agenda as queries


def _invoices(s: Session, owners: list[str], before: datetime, *, team: bool
              ) -> list[dict[str, Any]]:
    return [
        agenda.item("invoice_due", i.id, f"发票到期 {i.number} {customer}", i.due_date,
                    f"/api/v1/invoices/{i.id}", assignee_id=owner if team else None,
                    number=i.number, customer_id=i.customer_id, customer_name=customer,
                    status=i.status, outstanding=text(i.amount - i.paid_amount, i.currency),
                    currency=i.currency)
        for i, customer, owner in queries.open_invoices_due(s, owners, before)
    ]


def my_agenda(uow: UnitOfWork, caller: Caller, query: dict[str, Any] | None
              ) -> dict[str, Any]:
    """Expenses waiting on the caller's approval and the open invoices of the customers
    they own that fall due (to collect); the late invoices of the customers of the
    members of the teams they manage."""
    before = agenda.window_end(query)
    s = uow.session
    items = [
        agenda.item("expense_approval", e.id, f"费用审批 {e.number}：{e.description}",
                    e.submitted_at or e.updated_at, f"/api/v1/expenses/{e.id}",
                    number=e.number, amount=text(e.amount, e.currency), currency=e.currency,
                    submitter_id=e.submitter_id, category=e.category)
        for e in queries.expenses_to_approve(s, caller.user_id, before)
    ]
    items += _invoices(s, [caller.user_id], before, team=False)
    members = agenda.team_members(query)
    if members:
        items += _invoices(s, members, agenda.late_before(before), team=True)
    return {"items": agenda.sorted_by_due(items)}
