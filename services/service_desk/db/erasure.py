"""What the service desk keeps of a person customer erased on request (#26 S8): its
tickets, calls, work orders and call lists point at the customer by id and stay (the
desk's counts and SLA history with them); the person's numbers, address and values in
their text are anonymised, a call's recording link dropped. Calls from the person's
number that were never matched to the customer are found by that number."""

from __future__ import annotations

from collections.abc import Sequence

from crm_platform.erasure import ERASED, scrub_rows
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from services.service_desk.db.models import (
    Call,
    CallListEntry,
    SatisfactionRating,
    Ticket,
    TicketComment,
    TicketLog,
    WorkOrder,
)


def erase_records(s: Session, customer_id: str, phones: Sequence[str],
                  values: Sequence[str]) -> None:
    """``phones``: the person's numbers as calls hold them (E.164)."""
    tickets = select(Ticket.id).where(Ticket.customer_id == customer_id).scalar_subquery()
    scrub_rows(s, Ticket, ["subject", "description", "resolution", "purchase_place"], values,
               Ticket.customer_id == customer_id)
    scrub_rows(s, TicketComment, ["author_name", "body"], values,
               TicketComment.ticket_id.in_(tickets))
    scrub_rows(s, TicketLog, ["detail"], values, TicketLog.ticket_id.in_(tickets))
    scrub_rows(s, SatisfactionRating, ["comment"], values,
               SatisfactionRating.customer_id == customer_id)
    s.execute(update(WorkOrder).where(WorkOrder.customer_id == customer_id)
              .values(address=None))
    scrub_rows(s, WorkOrder, ["description", "work_done", "cancel_reason"], values,
               WorkOrder.customer_id == customer_id)
    theirs = or_(Call.customer_id == customer_id, Call.party_number.in_(list(phones))) \
        if phones else Call.customer_id == customer_id
    s.execute(update(Call).where(theirs).values(party_number=None, recording_url=None))
    scrub_rows(s, Call, ["from_number", "to_number", "notes"], values, theirs)
    s.execute(update(CallListEntry).where(CallListEntry.customer_id == customer_id)
              .values(phone=ERASED))
