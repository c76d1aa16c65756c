"""The SQL of a person customer's erasure (#26 S8): what the customer service keeps about
the customer besides its record — its history, its follow-ups and visit reports, its
contacts — found by the customer's id and scrubbed."""

from __future__ import annotations

from collections.abc import Sequence

from crm_platform.erasure import scrub_rows
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.customer.db.models import Contact, Customer, CustomerHistory, FollowUp, VisitPlan

# what a history entry of an erased customer keeps of its changes: that there were some
ERASED_CHANGES = {"erased": True}


def contacts_of(s: Session, customer_id: str) -> list[Contact]:
    return list(s.scalars(select(Contact).where(Contact.customer_id == customer_id)
                          .order_by(Contact.id).with_for_update()))


def merged_into(s: Session, customer_id: str) -> list[Customer]:
    """The records merged into the customer (the person's duplicates), locked."""
    return list(s.scalars(select(Customer).where(Customer.merged_into_id == customer_id)
                          .order_by(Customer.id).with_for_update()))


def scrub_history(s: Session, customer_id: str, values: Sequence[str]) -> None:
    """An edit's entry noted its fields' old and new values (free text among them): its
    details go; the others (owner changes, creation: ids) are scrubbed of the person's
    values. Who did what when stays."""
    s.execute(update(CustomerHistory).where(CustomerHistory.customer_id == customer_id,
                                            CustomerHistory.kind == "updated")
              .values(changes=ERASED_CHANGES))
    scrub_rows(s, CustomerHistory, ["changes", "reason"], values,
               CustomerHistory.customer_id == customer_id)


def scrub_activities(s: Session, customer_id: str, values: Sequence[str]) -> None:
    """Follow-ups and visit plans of the customer: what reps wrote of the person."""
    scrub_rows(s, FollowUp, ["content", "result"], values, FollowUp.customer_id == customer_id)
    scrub_rows(s, VisitPlan, ["purpose", "content", "record", "report", "review_comment"],
               values, VisitPlan.customer_id == customer_id)
