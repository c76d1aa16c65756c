"""The customer service's part of an employee's agenda (CUS-18)."""

from __future__ import annotations

from typing import Any

from crm_platform import agenda
from crm_platform.auth import Caller
from crm_platform.uow import UnitOfWork

from services.customer.db import agenda as queries


def my_agenda(uow: UnitOfWork, caller: Caller, query: dict[str, Any] | None
              ) -> dict[str, Any]:
    """The caller's own follow-up reminders and visits to make, due before the window's
    end: whoever reads, only their own."""
    before = agenda.window_end(query)
    s = uow.session
    items = [
        agenda.item("followup", f.id, f"跟进 {name}", f.next_followup_on,
                    f"/api/v1/customers/{f.customer_id}/follow-ups",
                    customer_id=f.customer_id, customer_name=name, method=f.method,
                    last_content=f.content)
        for f, name in queries.due_followups(s, caller.user_id, before)
    ]
    items += [
        agenda.item("visit", v.id, f"拜访 {name}：{v.purpose}",
                    v.appointment_at or v.planned_at, f"/api/v1/visit-plans/{v.id}",
                    customer_id=v.customer_id, customer_name=name, status=v.status)
        for v, name in queries.visits_to_make(s, caller.user_id, before)
    ]
    return {"items": agenda.sorted_by_due(items)}
