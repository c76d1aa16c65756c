"""What the service desk does when other services' records change: a customer merge
moves tickets and everything about them to the survivor (CUS-14); a user deactivated
with a successor hands their open work over (CUS-07, :mod:`.handover`)."""

from __future__ import annotations

from crm_platform.uow import UnitOfWork

from gateway.events import UserDeactivated
from services.customer.events import CustomerMerged
from services.service_desk.db.models import (
    Callback,
    Contact,
    SatisfactionRating,
    Staff,
    Ticket,
    WorkOrder,
)
from services.service_desk.use_cases import common
from services.service_desk.use_cases.handover import HANDOVER


def customer_merged(uow: UnitOfWork, merged: CustomerMerged) -> None:
    s = uow.session
    for model in (Ticket, WorkOrder, Callback, SatisfactionRating, Contact):
        common.move_customer(s, model, merged.merged_id, merged.survivor_id)


def hand_over(uow: UnitOfWork, deactivated: UserDeactivated) -> dict[str, int]:
    staff = uow.session.get(Staff, deactivated.successor_id)
    return HANDOVER.hand_over(uow, deactivated.id, deactivated.successor_id,
                              staff.team_id if staff is not None else None)
