"""What a user of the customer service hands over (CUS-07): on ``user.deactivated`` and
on ``POST /customers/handover``. Every table naming the user who holds its rows is
declared here: moved while open, or kept with its author for the reason given."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from crm_platform.db import utcnow
from crm_platform.handover import Handover, Owned
from crm_platform.uow import UnitOfWork
from sqlalchemy import ColumnElement, and_, insert, true

from services.customer import events
from services.customer.db.models import (
    Customer,
    CustomerHistory,
    FollowUp,
    SegmentRow,
    VisitPlan,
)
from services.customer.domain import visits


def _customers_moved(uow: UnitOfWork, rows: Sequence[Any], from_user_id: str) -> None:
    """Each customer's history says who had it; sales and billing follow the owner."""
    now = utcnow()
    uow.session.execute(insert(CustomerHistory), [
        {"customer_id": c.id, "actor_id": uow.actor, "kind": "owner_changed",
         "changes": {"from": from_user_id, "to": c.owner_id}, "reason": "handover",
         "occurred_at": now} for c in rows])
    for c in rows:
        uow.publish(events.CustomerOwnerChanged(
            **events.CustomerSnapshot.model_validate(c, from_attributes=True).model_dump(),
            previous_owner_id=from_user_id, reason="handover"))


def _reminder_open(_today: date) -> ColumnElement[bool]:
    return and_(FollowUp.next_followup_on.is_not(None), FollowUp.next_done.is_(False))


def _always(_today: date) -> ColumnElement[bool]:
    return true()


HANDOVER = Handover(
    moves=(
        # the pool return counts from the handover: the successor gets time to call
        Owned(Customer, states=frozenset({"active"}), touch=("updated_at", "last_activity_at"),
              moved=_customers_moved),
        # a follow-up is open while its reminder is
        Owned(FollowUp, open_when=_reminder_open, team=None, touch=()),
        Owned(VisitPlan, states=visits.OPEN_STATES, team=None),
        # a saved segment is a working tool with no closed state: its successor keeps it up
        Owned(SegmentRow, open_when=_always, team=None),
    ),
    stays={
        "account_team.user_id": "a seat on a customer's account team is the person's own "
                                "role there; the customer's owner, who moves, re-staffs it",
    },
)

