"""What the document archive keeps of a person customer erased on request (#26 S8): the
documents linked to the customer keep their links (and their files, whose content is
not rewritten: see docs/status.md) and lose the person's values from their title, tags,
metadata and versions' file names; the text extracted from their files, which holds
whatever the files hold, is dropped, so their search text is left with what remains."""

from __future__ import annotations

from collections.abc import Sequence

from crm_platform.erasure import scrub_rows
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.docs.db.models import Document, DocumentLink, DocumentVersion


def customer_documents(s: Session, customer_id: str) -> list[Document]:
    linked = select(DocumentLink.document_id).where(DocumentLink.kind == "customer",
                                                    DocumentLink.target_id == customer_id)
    return list(s.scalars(select(Document).where(Document.id.in_(linked))
                          .order_by(Document.id).with_for_update()))


def scrub_documents(s: Session, document_ids: Sequence[str], values: Sequence[str]) -> None:
    if not document_ids:
        return
    scrub_rows(s, Document, ["title", "tags", "metadata", "legal_hold_reason"], values,
               Document.id.in_(list(document_ids)))
    scrub_rows(s, DocumentVersion, ["filename"], values,
               DocumentVersion.document_id.in_(list(document_ids)))
    s.execute(update(DocumentVersion).where(
        DocumentVersion.document_id.in_(list(document_ids)),
        DocumentVersion.extracted_text.is_not(None)).values(extracted_text=None))
