"""What the service desk holds for an employee's agenda (CUS-18): work orders dispatched
to them and their callbacks, due before a moment."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from crm_platform.agenda import MAX_ITEMS_PER_SECTION
from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from services.service_desk.db.models import Callback, Customer, Ticket, WorkOrder
from services.service_desk.domain.work_orders import LOAD_STATUSES


def work_order_due() -> Any:
    """A work order is due at its appointment, or from its dispatch when none is made."""
    return func.coalesce(WorkOrder.scheduled_at, WorkOrder.dispatched_at,
                         WorkOrder.created_at)


def assigned_work_orders(s: Session, technician_ids: Sequence[str], before: datetime
                         ) -> list[Row[Any]]:
    """(work order, ticket subject, customer name) of the technicians' open orders."""
    due = work_order_due()
    return list(s.execute(
        select(WorkOrder, Ticket.subject, Customer.name)
        .join(Ticket, Ticket.id == WorkOrder.ticket_id)
        .outerjoin(Customer, Customer.id == WorkOrder.customer_id)
        .where(WorkOrder.technician_id.in_(technician_ids),
               WorkOrder.status.in_(LOAD_STATUSES), due < before)
        .order_by(due, WorkOrder.id).limit(MAX_ITEMS_PER_SECTION)))


def due_callbacks(s: Session, agent_ids: Sequence[str], before: datetime) -> list[Row[Any]]:
    """(callback, ticket number, customer name) of the agents' callbacks still to make."""
    return list(s.execute(
        select(Callback, Ticket.number, Customer.name)
        .join(Ticket, Ticket.id == Callback.ticket_id)
        .outerjoin(Customer, Customer.id == Callback.customer_id)
        .where(Callback.agent_id.in_(agent_ids), Callback.status == "due",
               Callback.due_at < before)
        .order_by(Callback.due_at, Callback.id).limit(MAX_ITEMS_PER_SECTION)))
