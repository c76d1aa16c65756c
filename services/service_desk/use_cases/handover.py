"""What a service desk user hands over when deactivated (``user.deactivated``, CUS-07):
every table naming the user who holds its rows is declared here, moved while the work
is open or kept for the reason given. Each moved ticket and work order tells the
successor as an assignment or a dispatch would."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from crm_platform.handover import Handover, Owned
from crm_platform.uow import UnitOfWork

from services.service_desk import events
from services.service_desk.db.models import Callback, CallListEntry, Ticket, WorkOrder
from services.service_desk.domain import tickets as ticket_rules
from services.service_desk.domain import work_orders as work_order_rules
from services.service_desk.use_cases import common
from services.service_desk.use_cases.work_orders import work_order_event


def _tickets_moved(uow: UnitOfWork, rows: Sequence[Any], leaver: str) -> None:
    s = uow.session
    for t in rows:
        common.log(s, t, t.updated_at, None, "assign", assignee_id=t.assignee_id,
                   team_id=t.team_id, previous_assignee_id=leaver, reason="handover")
        uow.publish(common.ticket_event(s, events.TicketAssigned, t,
                                        previous_assignee_id=leaver,
                                        previous_team_id=t.team_id, reason="handover"))


def _move_work_order(uow: UnitOfWork, w: Any, move: Callable[[], None]) -> None:
    """A confirmed order waits for the successor's own confirmation."""
    move()
    if w.status == "confirmed":
        w.status, w.confirmed_at = "dispatched", None


def _work_orders_moved(uow: UnitOfWork, rows: Sequence[Any], leaver: str) -> None:
    for w in rows:
        uow.publish(work_order_event(uow.session, events.WorkOrderDispatched, w,
                                     dispatched_by=leaver, dispatched_at=w.updated_at,
                                     previous_technician_id=leaver))


HANDOVER = Handover(
    moves=(
        # open tickets (a resolved one still has its callback and may reopen); the
        # ticket stays in its team's queue
        Owned(Ticket, states=frozenset(ticket_rules.OPEN_STATUSES), holder="assignee_id",
              team=None, moved=_tickets_moved),
        Owned(WorkOrder, states=frozenset(work_order_rules.LOAD_STATUSES),
              holder="technician_id", team=None, reassign=_move_work_order,
              moved=_work_orders_moved),
        Owned(Callback, states=frozenset({"due"}), holder="agent_id", team=None),
        # call list entries still to call (SVC-08)
        Owned(CallListEntry, states=frozenset({"pending", "callback"}), holder="agent_id",
              team=None),
    ),
    stays={
        "customers.owner_id": "a copy of the customer service's owner: it follows "
                              "customer.owner_changed, which that service's handover sends",
        "calls.agent_id": "who took or made a call: history, not work to do",
    },
)
