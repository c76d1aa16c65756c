"""Versions (DOC-02): tickets for the content port, storing an uploaded file as a new
immutable version, making a version effective, the text for search.

An upload is authorised twice: when the gateway asks for a ticket (the caller may change
the document, and the ``If-Match`` they sent is current: a stale one is 412 before a
byte moves), and again when the complete blob is recorded, under the document's row
lock — another upload may have landed meanwhile, and then this one is 412 too rather
than silently becoming the newer version.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from crm_platform.auth import Caller
from crm_platform.db import insert_ignore, skip_locked, utcnow
from crm_platform.errors import NotFound, PayloadTooLarge, check_version
from crm_platform.pagination import keyset_page
from crm_platform.settings import get_settings
from crm_platform.uow import UnitOfWork
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.docs import events, schemas
from services.docs.db import queries
from services.docs.db.models import Blob, Document, DocumentVersion
from services.docs.domain import lifecycle, tickets
from services.docs.domain.content import safe_filename, sniff
from services.docs.settings import docs_settings
from services.docs.storage import BlobStore, StagedBlob
from services.docs.textextract import extract, extractable
from services.docs.use_cases.common import (
    editable,
    log_access,
    now,
    readable,
    refresh_search_text,
)


def _version_out(v: DocumentVersion) -> dict[str, Any]:
    return schemas.VersionOut.model_validate(v).model_dump()


def list_versions(uow: UnitOfWork, caller: Caller, document_id: str, q: schemas.ListQuery
                  ) -> dict[str, Any]:
    s = uow.session
    doc = readable(s, caller, document_id)
    rows, cursor = keyset_page(
        s, select(DocumentVersion).where(DocumentVersion.document_id == doc.id), q.limit,
        q.cursor, (DocumentVersion.number, DocumentVersion.id))
    return {"items": [_version_out(v) for v in rows], "next_cursor": cursor}


def authorize_upload(uow: UnitOfWork, caller: Caller, document_id: str,
                     data: schemas.UploadRequest, expected_version: int | None
                     ) -> dict[str, Any]:
    s = uow.session
    doc = editable(s, caller, document_id)
    check_version(doc.version, expected_version, "document")
    settings = docs_settings()
    if data.content_length is not None and data.content_length > settings.max_upload_bytes:
        raise PayloadTooLarge(f"the file is larger than {settings.max_upload_bytes} bytes",
                              extra={"max_bytes": settings.max_upload_bytes})
    ticket = tickets.Ticket(
        op="upload", document_id=doc.id, user_id=caller.user_id,
        expires=time.time() + settings.ticket_seconds,
        document_version=expected_version, filename=safe_filename(data.filename),
        declared_type=data.content_type, max_bytes=settings.max_upload_bytes)
    return {"ticket": tickets.sign(ticket, get_settings().jwt_secret),
            "max_bytes": settings.max_upload_bytes}


def record_upload(uow: UnitOfWork, store: BlobStore, ticket: tickets.Ticket,
                  staged: StagedBlob) -> DocumentVersion:
    """The blob is complete in the store's temporary area: under the document's lock,
    check the document again, put the blob under its name and write the version row.
    Whatever fails here leaves no version; the temporary blob is discarded by the
    caller (or, after a crash, by the sweep)."""
    s = uow.session
    doc = s.get(Document, ticket.document_id, with_for_update=True, populate_existing=True)
    if doc is None or doc.status != "active":
        raise NotFound("document not found", code="document_not_found")
    if ticket.document_version is not None:
        check_version(doc.version, ticket.document_version, "document")
    _lock_blob(s, staged.sha256, staged.size)
    store.promote(staged)
    number = int(s.scalar(select(func.coalesce(func.max(DocumentVersion.number), 0))
                          .where(DocumentVersion.document_id == doc.id)) or 0) + 1
    at = now(s)
    version = DocumentVersion(
        id=str(uuid.uuid4()), document_id=doc.id, number=number, status="draft",
        filename=ticket.filename or "file",
        content_type=sniff(staged.head, ticket.declared_type), size=staged.size,
        sha256=staged.sha256, text_status="pending", uploaded_by=ticket.user_id,
        created_at=at)
    s.add(version)
    doc.version += 1
    doc.updated_at = at
    uow.publish(events.DocumentVersionAdded(
        id=doc.id, number=number, size=staged.size, sha256=staged.sha256,
        content_type=version.content_type, uploaded_by=ticket.user_id))
    uow.commit()
    return version


def _lock_blob(s: Session, sha256: str, size: int) -> None:
    insert_ignore(s, Blob.__table__, {"sha256": sha256, "size": size,  # type: ignore[arg-type]
                                      "created_at": utcnow()})
    s.get(Blob, sha256, with_for_update=True, populate_existing=True)


def uploaded_out(doc: Document, version: DocumentVersion) -> dict[str, Any]:
    return {**_version_out(version), "document_id": doc.id, "document_version": doc.version}


def extract_text(uow: UnitOfWork, store: BlobStore, version_id: str) -> bool:
    """Read the version's text for search (once; the flag keeps a second run away)."""
    s = uow.session
    version = s.get(DocumentVersion, version_id, with_for_update=True)
    if version is None or version.text_status != "pending":
        return False
    text = ""
    if version.status != "destroyed" and extractable(version.content_type) \
            and version.size <= docs_settings().extract_max_bytes:
        text = extract(version.content_type, store.read(version.sha256))
    version.extracted_text = text.replace("\x00", "") or None
    version.text_status = "done"
    doc = s.get(Document, version.document_id, with_for_update=True)
    if doc is not None:
        s.flush()
        refresh_search_text(s, doc)
    uow.commit()
    return True


def pending_extractions(s: Session, limit: int = 20) -> list[str]:
    return list(s.scalars(skip_locked(s, select(DocumentVersion.id)
                                      .where(DocumentVersion.text_status == "pending")
                                      .order_by(DocumentVersion.created_at).limit(limit))))


def make_effective(uow: UnitOfWork, caller: Caller, document_id: str, number: int,
                   expected_version: int | None) -> dict[str, Any]:
    """The version becomes the valid one; the one that was valid becomes obsolete."""
    s = uow.session
    doc = editable(s, caller, document_id)
    check_version(doc.version, expected_version, "document")
    version = queries.version(s, doc.id, number, lock=True)
    lifecycle.VERSION.check(version.status, "make_effective")
    current = s.scalar(select(DocumentVersion).where(
        DocumentVersion.document_id == doc.id, DocumentVersion.status == "effective")
        .with_for_update())
    if current is not None:
        current.status = lifecycle.VERSION.next(current.status, "supersede")
        s.flush()  # the one-effective index sees the old one leave first
    at = now(s)
    version.status = lifecycle.VERSION.next(version.status, "make_effective")
    version.effective_at = at
    doc.version += 1
    doc.updated_at = at
    uow.publish(events.DocumentVersionEffective(
        id=doc.id, number=number, superseded=current.number if current else None))
    uow.commit()
    return _version_out(version)


def authorize_download(uow: UnitOfWork, caller: Caller, document_id: str, number: int
                       ) -> dict[str, Any]:
    """A download is logged when it is authorised (DOC-04)."""
    s = uow.session
    doc = readable(s, caller, document_id)
    version = queries.version(s, doc.id, number)
    if version.status == "destroyed":
        raise NotFound("no such version of the document", code="version_not_found")
    log_access(uow, doc, caller.user_id, "download", number)
    uow.commit()
    ticket = tickets.Ticket(op="download", document_id=doc.id, user_id=caller.user_id,
                            expires=time.time() + docs_settings().ticket_seconds,
                            number=number)
    return {"ticket": tickets.sign(ticket, get_settings().jwt_secret)}


def version_for_download(uow: UnitOfWork, ticket: tickets.Ticket) -> DocumentVersion:
    s = uow.session
    doc = s.get(Document, ticket.document_id)
    if doc is None or doc.status != "active" or ticket.number is None:
        raise NotFound("document not found", code="document_not_found")
    version = queries.version(s, doc.id, ticket.number)
    if version.status == "destroyed":
        raise NotFound("no such version of the document", code="version_not_found")
    return version
