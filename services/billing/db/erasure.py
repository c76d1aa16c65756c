"""What billing keeps of a person customer erased on request (#26 S8): its invoices and
payments point at the customer by id and stay (the books must); the person's values are
scrubbed from their free text. A payment's payer account stays with the payment: the
books keep it by law (PIPL art. 47's exception for retention a law requires)."""

from __future__ import annotations

from collections.abc import Sequence

from crm_platform.erasure import scrub_rows
from sqlalchemy.orm import Session

from services.billing.db.models import Expense, Invoice, Payment


def scrub_records(s: Session, customer_id: str, values: Sequence[str]) -> None:
    scrub_rows(s, Invoice, ["notes", "void_reason", "lines"], values,
               Invoice.customer_id == customer_id)
    scrub_rows(s, Payment, ["notes", "reference"], values, Payment.customer_id == customer_id)
    scrub_rows(s, Expense, ["description"], values, Expense.customer_id == customer_id)
