"""The customer service's part of the directory (CUS-18): contacts of the customers a
reader may see."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.customer.db.models import Contact


def contacts_of(s: Session, customer_ids: Sequence[str]) -> list[Contact]:
    if not customer_ids:
        return []
    return list(s.scalars(select(Contact).where(Contact.customer_id.in_(customer_ids))
                          .order_by(Contact.name, Contact.id)))
