"""The document service's part of an employee's agenda (CUS-18)."""

from __future__ import annotations

from typing import Any

from crm_platform import agenda
from crm_platform.auth import Caller
from crm_platform.uow import UnitOfWork

from services.docs.db import agenda as queries


def my_agenda(uow: UnitOfWork, caller: Caller, query: dict[str, Any] | None
              ) -> dict[str, Any]:
    """Borrowings (借阅) of the caller's documents waiting on their decision."""
    before = agenda.window_end(query)
    return {"items": agenda.sorted_by_due([
        agenda.item("access_request", r.id, f"借阅审批 {title}（{requester or ''}）",
                    r.created_at, f"/api/v1/access-requests/{r.id}/approve",
                    document_id=r.document_id, requester_id=r.requester_id,
                    requester_name=requester, days=r.days, reason=r.reason)
        for r, title, requester in queries.borrowings_to_decide(uow.session, caller.user_id,
                                                               before)])}
