"""What billing holds for an employee's agenda (CUS-18): expenses waiting on their
approval and open invoices of the customers they own, due before a moment."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time
from typing import Any

from crm_platform.agenda import MAX_ITEMS_PER_SECTION
from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from services.billing.db.models import BillingCustomer, Expense, Invoice
from services.billing.db.queries import manager_of
from services.billing.domain.invoices import OPEN_STATUSES

# submitted expenses read at most to find those routed to one manager (few wait at once)
SUBMITTED_EXPENSES_READ = 1000


def expenses_to_approve(s: Session, manager_id: str, before: datetime) -> list[Expense]:
    """Submitted expenses whose submitter's manager is ``manager_id`` (the approver an
    expense names), waiting since their submission."""
    rows = s.scalars(
        select(Expense)
        .where(Expense.status == "submitted", Expense.submitted_at < before,
               Expense.submitter_id != manager_id)
        .order_by(Expense.submitted_at, Expense.id).limit(SUBMITTED_EXPENSES_READ))
    managers: dict[tuple[str, str | None], str | None] = {}
    mine = []
    for e in rows:
        key = (e.submitter_id, e.submitter_team_id)
        if key not in managers:
            managers[key] = manager_of(s, *key)
        if managers[key] == manager_id:
            mine.append(e)
    return mine[:MAX_ITEMS_PER_SECTION]


def open_invoices_due(s: Session, owner_ids: Sequence[str], before: datetime) -> list[Row[Any]]:
    """(invoice, customer name, owner) of the open invoices of the owners' customers due before
    ``before`` (a due date is due from its day's start, in UTC)."""
    moment = before.astimezone(UTC)
    day = moment.date()
    due = Invoice.due_date < day if moment.time() == time() else Invoice.due_date <= day
    return list(s.execute(
        select(Invoice, BillingCustomer.name, BillingCustomer.owner_id)
        .join(BillingCustomer, BillingCustomer.id == Invoice.customer_id)
        .where(BillingCustomer.owner_id.in_(owner_ids), Invoice.status.in_(OPEN_STATUSES), due)
        .order_by(Invoice.due_date, Invoice.id).limit(MAX_ITEMS_PER_SECTION)))
