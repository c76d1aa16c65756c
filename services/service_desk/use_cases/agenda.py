"""The service desk's part of an employee's agenda (CUS-18)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm_platform import agenda
from crm_platform.auth import Caller
from crm_platform.uow import UnitOfWork
from sqlalchemy.orm import Session

from services.service_desk.db import agenda as queries


def _items(s: Session, people: list[str], before: datetime, *, team: bool
           ) -> list[dict[str, Any]]:
    items = [
        agenda.item("work_order", w.id, f"工单 {w.number}：{subject}",
                    w.scheduled_at or w.dispatched_at or w.created_at,
                    f"/api/v1/work-orders/{w.id}",
                    assignee_id=w.technician_id if team else None, number=w.number,
                    status=w.status, customer_id=w.customer_id, customer_name=customer,
                    address=w.address)
        for w, subject, customer in queries.assigned_work_orders(s, people, before)
    ]
    items += [
        agenda.item("callback", c.id, f"回访 {customer or ticket_number}", c.due_at,
                    f"/api/v1/callbacks/{c.id}", assignee_id=c.agent_id if team else None,
                    ticket_id=c.ticket_id, ticket_number=ticket_number,
                    customer_id=c.customer_id, customer_name=customer,
                    failed_attempts=c.failed_attempts)
        for c, ticket_number, customer in queries.due_callbacks(s, people, before)
    ]
    return items


def my_agenda(uow: UnitOfWork, caller: Caller, query: dict[str, Any] | None
              ) -> dict[str, Any]:
    """The work orders dispatched to the caller and the callbacks they are to make, due
    before the window's end (only their own, whatever their roles), and the late ones of
    the members of the teams they manage."""
    return agenda.own_and_team(
        caller.user_id, query,
        lambda people, before, team: _items(uow.session, people, before, team=team))
