"""What the customer service holds for an employee's agenda (CUS-18): their open
follow-up reminders and the visits they plan, due before a moment."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time
from typing import Any

from crm_platform.agenda import MAX_ITEMS_PER_SECTION
from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from services.customer.db.models import Customer, FollowUp, VisitPlan

# visits still to make; later states wait on the report or on the manager's review
VISITS_TO_MAKE = ("planned", "appointed")


def due_followups(s: Session, owner_ids: Sequence[str], before: datetime) -> list[Row[Any]]:
    """(follow-up, customer name) of the owners' open reminders due before ``before`` (a
    reminder's day is due from its start, in UTC)."""
    day = before.astimezone(UTC).date()
    due = (FollowUp.next_followup_on < day if before.astimezone(UTC).time() == time()
           else FollowUp.next_followup_on <= day)
    return list(s.execute(
        select(FollowUp, Customer.name)
        .join(Customer, Customer.id == FollowUp.customer_id)
        .where(FollowUp.owner_id.in_(owner_ids), FollowUp.next_done.is_(False),
               due)
        .order_by(FollowUp.next_followup_on, FollowUp.id).limit(MAX_ITEMS_PER_SECTION)))


def visits_to_make(s: Session, owner_ids: Sequence[str], before: datetime) -> list[Row[Any]]:
    """(visit plan, customer name) of the owners' visits to make, by the appointment when
    one is made, else the planned time."""
    when = func.coalesce(VisitPlan.appointment_at, VisitPlan.planned_at)
    return list(s.execute(
        select(VisitPlan, Customer.name)
        .join(Customer, Customer.id == VisitPlan.customer_id)
        .where(VisitPlan.owner_id.in_(owner_ids), VisitPlan.status.in_(VISITS_TO_MAKE),
               when < before)
        .order_by(when, VisitPlan.id).limit(MAX_ITEMS_PER_SECTION)))
