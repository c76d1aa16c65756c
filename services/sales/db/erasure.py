"""What sales keeps of a person customer erased on request (#26 S8), anonymised: the
leads converted into it (the person as first entered: name, contact name, phone,
e-mail, note) and the person's values in its deals' free text."""

from __future__ import annotations

from collections.abc import Sequence

from crm_platform.db import utcnow
from crm_platform.erasure import ERASED, erasable, scrub_rows, strings
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.sales.db.models import Lead, Opportunity, Order, Quote, WorkLog


def erase_leads(s: Session, customer_id: str) -> list[str]:
    """The converted leads anonymised; returns the values they held."""
    leads = list(s.scalars(select(Lead).where(Lead.customer_id == customer_id)
                           .order_by(Lead.id).with_for_update()))
    values: list[str] = []
    for lead in leads:
        values += strings(lead.name, lead.contact_name, lead.phone, lead.email)
        if lead.name == ERASED and not (lead.contact_name or lead.phone or lead.email):
            continue
        lead.name, lead.contact_name, lead.phone, lead.email = ERASED, None, None, None
        lead.note = lead.disqualify_reason = None
        lead.version += 1
        lead.updated_at = utcnow()
    s.flush()
    return erasable(values)


def scrub_deals(s: Session, customer_id: str, values: Sequence[str]) -> None:
    scrub_rows(s, Opportunity, ["name", "lost_reason"], values,
               Opportunity.customer_id == customer_id)
    scrub_rows(s, Quote, ["note", "decision_comment"], values, Quote.customer_id == customer_id)
    scrub_rows(s, Order, ["key_terms", "signer", "cancelled_reason"], values,
               Order.customer_id == customer_id)
    scrub_rows(s, WorkLog, ["content"], values, WorkLog.customer_id == customer_id)
