"""Retention, legal hold and destruction (DOC-05).

A destruction is asked for by one archive manager and approved by another. The approval
commits the document's end, its versions' status and the destruction record in one
transaction; the bytes are removed from the store right after, each blob under its row
lock and only if no live version of any document still uses it (the store is
content-addressed). A crash between the commit and the removal leaves versions marked
``blob_removed = false``, which the timer finishes.
"""

from __future__ import annotations

import uuid
from typing import Any

from crm_platform.auth import Caller
from crm_platform.db import skip_locked
from crm_platform.errors import Forbidden, NotFound, check_version
from crm_platform.pagination import keyset_page
from crm_platform.uow import UnitOfWork
from sqlalchemy import and_, or_, select

from services.docs import events, schemas
from services.docs.db import queries
from services.docs.db.models import (
    Blob,
    DestructionRecord,
    DestructionRequest,
    Document,
    DocumentVersion,
)
from services.docs.domain import lifecycle
from services.docs.storage import BlobStore
from services.docs.use_cases.common import document_out, now, readable, reader_of


def _archive_manager(uow: UnitOfWork, caller: Caller) -> None:
    if not reader_of(uow.session, caller).is_archive_manager:
        raise Forbidden("only an archive manager may do this", code="not_archive_manager")


def retention_due(uow: UnitOfWork, caller: Caller, q: schemas.RetentionQuery
                  ) -> dict[str, Any]:
    """Documents past their category's retention on ``as_of`` (the yearly review),
    among those the caller may see."""
    s = uow.session
    per_category = [and_(Document.category == c.code,
                         Document.retention_start <= lifecycle.retention_cutoff(
                             q.as_of, c.retention_years))
                    for c in queries.categories(s) if c.retention_years is not None]
    if not per_category:
        return {"items": [], "next_cursor": None}
    query = queries.visible_documents(reader_of(s, caller), now(s)).where(or_(*per_category))
    rows, cursor = keyset_page(s, query, q.limit, q.cursor,
                               (Document.retention_start, Document.id))
    years = {c.code: c.retention_years for c in queries.categories(s)}
    return {"items": [{"id": d.id, "title": d.title, "category": d.category,
                       "retention_start": d.retention_start,
                       "retention_due": lifecycle.retention_due(d.retention_start,
                                                                years[d.category]),
                       "legal_hold": d.legal_hold} for d in rows],
            "next_cursor": cursor}


def set_legal_hold(uow: UnitOfWork, caller: Caller, document_id: str,
                   data: schemas.LegalHoldIn | None) -> dict[str, Any]:
    """``data`` None releases the hold."""
    _archive_manager(uow, caller)
    s = uow.session
    doc = readable(s, caller, document_id, lock=True)
    doc.legal_hold = data is not None
    doc.legal_hold_reason = data.reason if data is not None else None
    doc.version += 1
    doc.updated_at = now(s)
    uow.commit()
    return document_out(s, doc)


def _destruction_out(r: DestructionRequest) -> dict[str, Any]:
    return schemas.DestructionRequestOut.model_validate(r).model_dump()


def request_destruction(uow: UnitOfWork, caller: Caller, document_id: str,
                        data: schemas.DestructionRequestIn) -> dict[str, Any]:
    _archive_manager(uow, caller)
    s = uow.session
    doc = readable(s, caller, document_id, lock=True)
    lifecycle.check_no_legal_hold(doc.legal_hold)
    request = DestructionRequest(id=str(uuid.uuid4()), document_id=doc.id, reason=data.reason,
                                 status="pending", requested_by=caller.user_id,
                                 created_at=now(s), version=1)
    s.add(request)
    uow.commit()
    return _destruction_out(request)


def list_destruction_requests(uow: UnitOfWork, caller: Caller,
                              q: schemas.DestructionRequestQuery) -> dict[str, Any]:
    _archive_manager(uow, caller)
    s = uow.session
    query = select(DestructionRequest)
    if q.status:
        query = query.where(DestructionRequest.status == q.status)
    rows, cursor = keyset_page(
        s, query, q.limit, q.cursor, (DestructionRequest.created_at, DestructionRequest.id),
        descending=True)
    return {"items": [_destruction_out(r) for r in rows], "next_cursor": cursor}


def _pending(uow: UnitOfWork, caller: Caller, request_id: str,
             expected_version: int | None) -> tuple[DestructionRequest, Document]:
    _archive_manager(uow, caller)
    s = uow.session
    request = s.get(DestructionRequest, request_id, with_for_update=True)
    if request is None:
        raise NotFound("no such destruction request", code="destruction_request_not_found")
    check_version(request.version, expected_version, "destruction request")
    doc = readable(s, caller, request.document_id, lock=True)
    return request, doc


def reject_destruction(uow: UnitOfWork, caller: Caller, request_id: str,
                       data: schemas.Decision, expected_version: int | None
                       ) -> dict[str, Any]:
    request, _doc = _pending(uow, caller, request_id, expected_version)
    request.status = lifecycle.DESTRUCTION_REQUEST.next(request.status, "reject")
    request.decided_by, request.decided_at = caller.user_id, now(uow.session)
    request.comment = data.comment
    request.version += 1
    uow.commit()
    return _destruction_out(request)


def approve_destruction(uow: UnitOfWork, caller: Caller, request_id: str,
                        data: schemas.Decision, expected_version: int | None
                        ) -> dict[str, Any]:
    s = uow.session
    request, doc = _pending(uow, caller, request_id, expected_version)
    lifecycle.DESTRUCTION_REQUEST.check(request.status, "approve")
    lifecycle.check_destruction_approver(request.requested_by, caller.user_id)
    lifecycle.check_no_legal_hold(doc.legal_hold)
    at = now(s)
    versions = queries.versions_of(s, doc.id)
    record = DestructionRecord(
        id=str(uuid.uuid4()), document_id=doc.id, title=doc.title, category=doc.category,
        versions=[{"number": v.number, "filename": v.filename, "size": v.size,
                   "sha256": v.sha256, "status": v.status} for v in versions],
        reason=request.reason, requested_by=request.requested_by,
        approved_by=caller.user_id, created_at=at)
    s.add(record)
    for v in versions:
        v.status = lifecycle.VERSION.next(v.status, "destroy")
        v.extracted_text = None
    doc.status = lifecycle.DOCUMENT.next(doc.status, "destroy")
    doc.search_text = ""
    doc.version += 1
    doc.updated_at = at
    request.status = lifecycle.DESTRUCTION_REQUEST.next(request.status, "approve")
    request.decided_by, request.decided_at = caller.user_id, at
    request.comment = data.comment
    request.version += 1
    uow.publish(events.DocumentDestroyed(
        id=doc.id, category=doc.category, record_id=record.id,
        requested_by=request.requested_by, approved_by=caller.user_id,
        versions=len(versions)))
    uow.commit()
    return _destruction_out(request)


def blobs_to_remove(uow: UnitOfWork, limit: int = 50) -> list[str]:
    """Checksums of destroyed versions whose bytes may still be in the store."""
    s = uow.session
    return sorted(set(s.scalars(skip_locked(s, select(DocumentVersion.sha256).where(
        DocumentVersion.status == "destroyed", DocumentVersion.blob_removed.is_(False))
        .limit(limit)))))


def remove_blob(uow: UnitOfWork, store: BlobStore, sha256: str) -> bool:
    """Remove the blob unless a live version (of any document) uses the same bytes; the
    destroyed versions that used it are marked done either way. True if removed."""
    s = uow.session
    blob = s.get(Blob, sha256, with_for_update=True, populate_existing=True)
    live = s.scalar(select(DocumentVersion.id).where(
        DocumentVersion.sha256 == sha256, DocumentVersion.status != "destroyed").limit(1))
    removed = False
    if live is None:
        store.delete(sha256)
        if blob is not None:
            s.delete(blob)
        removed = True
    for v in s.scalars(select(DocumentVersion).where(
            DocumentVersion.sha256 == sha256, DocumentVersion.status == "destroyed",
            DocumentVersion.blob_removed.is_(False))):
        v.blob_removed = True
    uow.commit()
    return removed


def list_destruction_records(uow: UnitOfWork, caller: Caller, q: schemas.ListQuery
                             ) -> dict[str, Any]:
    _archive_manager(uow, caller)
    rows, cursor = keyset_page(
        uow.session, select(DestructionRecord), q.limit, q.cursor,
        (DestructionRecord.created_at, DestructionRecord.id), descending=True)
    return {"items": [schemas.DestructionRecord.model_validate(r).model_dump() for r in rows],
            "next_cursor": cursor}

