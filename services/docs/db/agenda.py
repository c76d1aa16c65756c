"""What the document service holds for an employee's agenda (CUS-18): borrowings of
their documents waiting on their decision."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm_platform.agenda import MAX_ITEMS_PER_SECTION
from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from services.docs.db.models import AccessRequest, Document, Staff


def borrowings_to_decide(s: Session, owner_id: str, before: datetime) -> list[Row[Any]]:
    """(request, document title, requester's name) of pending borrowings of the owner's
    documents, waiting since they were asked."""
    return list(s.execute(
        select(AccessRequest, Document.title, Staff.display_name)
        .join(Document, Document.id == AccessRequest.document_id)
        .outerjoin(Staff, Staff.id == AccessRequest.requester_id)
        .where(Document.owner_id == owner_id, AccessRequest.status == "pending",
               AccessRequest.created_at < before)
        .order_by(AccessRequest.created_at, AccessRequest.id).limit(MAX_ITEMS_PER_SECTION)))
