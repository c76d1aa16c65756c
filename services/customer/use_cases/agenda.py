"""The customer service's part of an employee's agenda (CUS-18)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm_platform import agenda
from crm_platform.auth import Caller
from crm_platform.uow import UnitOfWork
from sqlalchemy.orm import Session

from services.customer.db import agenda as queries


def _items(s: Session, owner_ids: list[str], before: datetime, *, team: bool
           ) -> list[dict[str, Any]]:
    items = [
        agenda.item("followup", f.id, f"跟进 {name}", f.next_followup_on,
                    f"/api/v1/customers/{f.customer_id}/follow-ups",
                    assignee_id=f.owner_id if team else None, customer_id=f.customer_id,
                    customer_name=name, method=f.method, last_content=f.content)
        for f, name in queries.due_followups(s, owner_ids, before)
    ]
    items += [
        agenda.item("visit", v.id, f"拜访 {name}：{v.purpose}",
                    v.appointment_at or v.planned_at, f"/api/v1/visit-plans/{v.id}",
                    assignee_id=v.owner_id if team else None, customer_id=v.customer_id,
                    customer_name=name, status=v.status)
        for v, name in queries.visits_to_make(s, owner_ids, before)
    ]
    return items


def my_agenda(uow: UnitOfWork, caller: Caller, query: dict[str, Any] | None
              ) -> dict[str, Any]:
    """The caller's own follow-up reminders and visits to make, due before the window's
    end (whoever reads, only their own), and the late ones of the members of the teams
    they manage."""
    return agenda.own_and_team(
        caller.user_id, query,
        lambda people, before, team: _items(uow.session, people, before, team=team))
