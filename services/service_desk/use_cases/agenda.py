"""The service desk's part of an employee's agenda (CUS-18)."""

from __future__ import annotations

from typing import Any

from crm_platform import agenda
from crm_platform.auth import Caller
from crm_platform.uow import UnitOfWork

from services.service_desk.db import agenda as queries


def my_agenda(uow: UnitOfWork, caller: Caller, query: dict[str, Any] | None
              ) -> dict[str, Any]:
    """The work orders dispatched to the caller and the callbacks they are to make, due
    before the window's end: only their own, whatever their roles."""
    before = agenda.window_end(query)
    s = uow.session
    items = [
        agenda.item("work_order", w.id, f"工单 {w.number}：{subject}",
                    w.scheduled_at or w.dispatched_at or w.created_at,
                    f"/api/v1/work-orders/{w.id}", number=w.number, status=w.status,
                    customer_id=w.customer_id, customer_name=customer, address=w.address)
        for w, subject, customer in queries.assigned_work_orders(s, caller.user_id, before)
    ]
    items += [
        agenda.item("callback", c.id, f"回访 {customer or ticket_number}", c.due_at,
                    f"/api/v1/callbacks/{c.id}", ticket_id=c.ticket_id,
                    ticket_number=ticket_number, customer_id=c.customer_id,
                    customer_name=customer, failed_attempts=c.failed_attempts)
        for c, ticket_number, customer in queries.due_callbacks(s, caller.user_id, before)
    ]
    return {"items": agenda.sorted_by_due(items)}
