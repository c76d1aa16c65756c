"""What the service desk does when other services' records change: a customer merge
moves tickets and everything about them to the survivor (CUS-14); a user deactivated
with a successor hands their open work over (CUS-07)."""

from __future__ import annotations

from crm_platform.uow import UnitOfWork
from sqlalchemy import select

from gateway.events import UserDeactivated
from services.customer.events import CustomerMerged
from services.service_desk import events
from services.service_desk.db.models import (
    Callback,
    Contact,
    SatisfactionRating,
    Ticket,
    WorkOrder,
)
from services.service_desk.domain import tickets as ticket_rules
from services.service_desk.domain import work_orders as work_order_rules
from services.service_desk.use_cases import common
from services.service_desk.use_cases.tickets import assign
from services.service_desk.use_cases.work_orders import work_order_event


def customer_merged(uow: UnitOfWork, merged: CustomerMerged) -> None:
    s = uow.session
    for model in (Ticket, WorkOrder, Callback, SatisfactionRating, Contact):
        common.move_customer(s, model, merged.merged_id, merged.survivor_id)


def hand_over(uow: UnitOfWork, deactivated: UserDeactivated) -> dict[str, int]:
    """The leaver's open tickets (their queue stays), work orders not finished (a
    confirmed one waits for the successor's confirmation) and callbacks still due go to
    the successor; each ticket and work order tells the successor as an assignment or a
    dispatch would."""
    s = uow.session
    leaver, successor = deactivated.id, deactivated.successor_id
    at = common.now()
    tickets = list(s.scalars(select(Ticket).where(
        Ticket.assignee_id == leaver, Ticket.status.in_(ticket_rules.OPEN_STATUSES))
        .order_by(Ticket.id).with_for_update()))
    for t in tickets:
        assign(uow, t, successor, t.team_id, at, None, "handover")
    orders = list(s.scalars(select(WorkOrder).where(
        WorkOrder.technician_id == leaver,
        WorkOrder.status.in_(work_order_rules.LOAD_STATUSES))
        .order_by(WorkOrder.id).with_for_update()))
    for w in orders:
        w.technician_id = successor
        if w.status == "confirmed":
            w.status, w.confirmed_at = "dispatched", None
        w.version += 1
        w.updated_at = at
        uow.publish(work_order_event(s, events.WorkOrderDispatched, w, dispatched_by=leaver,
                                     dispatched_at=at, previous_technician_id=leaver))
    callbacks = list(s.scalars(select(Callback).where(
        Callback.agent_id == leaver, Callback.status == "due")
        .order_by(Callback.id).with_for_update()))
    for c in callbacks:
        c.agent_id = successor
        c.version += 1
        c.updated_at = at
    return {"tickets": len(tickets), "work_orders": len(orders), "callbacks": len(callbacks)}
