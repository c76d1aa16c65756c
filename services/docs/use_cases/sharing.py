"""Grants (DOC-03), borrowing and the access log (DOC-04), and the service's clock."""

from __future__ import annotations

import uuid
from typing import Any

from crm_platform.auth import Caller
from crm_platform.errors import Forbidden, NotFound, ValidationFailed, check_version
from crm_platform.pagination import keyset_page
from crm_platform.uow import UnitOfWork
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.docs import events, schemas
from services.docs.db import queries
from services.docs.db.models import AccessLogEntry, AccessRequest, Document, Grant
from services.docs.domain import access, lifecycle
from services.docs.settings import docs_settings
from services.docs.use_cases.common import CLOCK, now, readable, reader_of


def _managed(s: Session, caller: Caller, document_id: str, *, lock: bool = False
             ) -> Document:
    """The document if the caller manages its grants: its owner, or an archive manager
    — who need not be able to read it (a secret document). Anyone else: 404."""
    return readable(s, caller, document_id, lock=lock, rule=access.can_manage_grants)


def _grant_out(g: Grant) -> dict[str, Any]:
    return schemas.GrantOut.model_validate(g).model_dump()


def list_grants(uow: UnitOfWork, caller: Caller, document_id: str, q: schemas.ListQuery
                ) -> dict[str, Any]:
    s = uow.session
    doc = _managed(s, caller, document_id)
    rows, cursor = keyset_page(s, select(Grant).where(Grant.document_id == doc.id), q.limit,
                               q.cursor, (Grant.created_at, Grant.id))
    return {"items": [_grant_out(g) for g in rows], "next_cursor": cursor}


def add_grant(uow: UnitOfWork, caller: Caller, document_id: str, data: schemas.GrantIn
              ) -> dict[str, Any]:
    s = uow.session
    doc = _managed(s, caller, document_id, lock=True)
    if not access.grantable(doc.level, data.kind):  # type: ignore[arg-type]
        raise ValidationFailed("a secret document is granted to people by name only",
                               code="secret_needs_named_grant")
    if data.expires_at is not None and data.expires_at <= now(s):
        raise ValidationFailed("the grant would have expired already", code="invalid_expiry")
    grant = Grant(id=str(uuid.uuid4()), document_id=doc.id, kind=data.kind,
                  grantee_id=data.grantee_id, expires_at=data.expires_at,
                  granted_by=caller.user_id, created_at=now(s))
    s.add(grant)
    doc.version += 1
    uow.commit()
    return _grant_out(grant)


def remove_grant(uow: UnitOfWork, caller: Caller, document_id: str, grant_id: str
                 ) -> dict[str, Any]:
    s = uow.session
    doc = _managed(s, caller, document_id, lock=True)
    removed = s.execute(delete(Grant).where(Grant.id == grant_id,
                                            Grant.document_id == doc.id))
    if not getattr(removed, "rowcount", 0):
        raise NotFound("no such grant", code="grant_not_found")
    doc.version += 1
    uow.commit()
    return {"id": grant_id, "removed": True}


# -- borrowing ----------------------------------------------------------------------------
def _request_out(r: AccessRequest) -> dict[str, Any]:
    return schemas.AccessRequestOut.model_validate(r).model_dump()


def request_access(uow: UnitOfWork, caller: Caller, document_id: str,
                   data: schemas.AccessRequestIn) -> dict[str, Any]:
    """Anyone may ask to borrow a document they know the id of (a contract named on an
    order, a file a colleague mentions) — except a secret one, which stays unknown."""
    s = uow.session
    doc = s.get(Document, document_id)
    if doc is None or doc.status != "active" or doc.level == "secret":
        raise NotFound("document not found", code="document_not_found")
    request = AccessRequest(id=str(uuid.uuid4()), document_id=doc.id,
                            requester_id=caller.user_id, reason=data.reason, days=data.days,
                            status="pending", created_at=now(s), version=1)
    s.add(request)
    uow.publish(events.DocumentAccessRequested(
        id=doc.id, request_id=request.id, requester_id=caller.user_id,
        owner_id=doc.owner_id, days=data.days))
    uow.commit()
    return _request_out(request)


def _decidable(s: Session, caller: Caller, request_id: str) -> tuple[AccessRequest, Document]:
    request = s.get(AccessRequest, request_id, with_for_update=True)
    if request is None:
        raise NotFound("no such access request", code="access_request_not_found")
    doc = s.get(Document, request.document_id, with_for_update=True)
    reader = reader_of(s, caller)
    if doc is None or not (doc.owner_id == caller.user_id or reader.is_archive_manager):
        raise NotFound("no such access request", code="access_request_not_found")
    return request, doc


def approve_access(uow: UnitOfWork, caller: Caller, request_id: str, data: schemas.Decision,
                   expected_version: int | None) -> dict[str, Any]:
    """The owner or an archive manager approves: the requester may read the document
    until the borrowing's end, checked on every read."""
    s = uow.session
    request, doc = _decidable(s, caller, request_id)
    check_version(request.version, expected_version, "access request")
    if request.requester_id == caller.user_id:
        raise Forbidden("nobody approves their own borrowing", code="own_request")
    request.status = lifecycle.ACCESS_REQUEST.next(request.status, "approve")
    at = now(s)
    expires = lifecycle.borrow_expiry(at, request.days)
    request.decided_by, request.decided_at = caller.user_id, at
    request.comment, request.expires_at = data.comment, expires
    request.version += 1
    s.add(Grant(id=str(uuid.uuid4()), document_id=doc.id, kind="user",
                grantee_id=request.requester_id, expires_at=expires,
                access_request_id=request.id, granted_by=caller.user_id, created_at=at))
    doc.version += 1
    uow.publish(events.DocumentAccessGranted(
        id=doc.id, request_id=request.id, requester_id=request.requester_id,
        decided_by=caller.user_id, expires_at=expires))
    uow.commit()
    return _request_out(request)


def reject_access(uow: UnitOfWork, caller: Caller, request_id: str, data: schemas.Decision,
                  expected_version: int | None) -> dict[str, Any]:
    s = uow.session
    request, _doc = _decidable(s, caller, request_id)
    check_version(request.version, expected_version, "access request")
    request.status = lifecycle.ACCESS_REQUEST.next(request.status, "reject")
    request.decided_by, request.decided_at = caller.user_id, now(s)
    request.comment = data.comment
    request.version += 1
    uow.publish(events.DocumentAccessRejected(
        id=request.document_id, request_id=request.id, requester_id=request.requester_id,
        decided_by=caller.user_id, comment=data.comment))
    uow.commit()
    return _request_out(request)


def list_access_requests(uow: UnitOfWork, caller: Caller, q: schemas.AccessRequestQuery
                         ) -> dict[str, Any]:
    """Archive managers see every request; others their own and those on documents
    they own."""
    s = uow.session
    query = select(AccessRequest)
    if not reader_of(s, caller).is_archive_manager:
        owned = select(Document.id).where(Document.owner_id == caller.user_id)
        query = query.where((AccessRequest.requester_id == caller.user_id)
                            | AccessRequest.document_id.in_(owned))
    if q.status:
        query = query.where(AccessRequest.status == q.status)
    if q.document_id:
        query = query.where(AccessRequest.document_id == q.document_id)
    rows, cursor = keyset_page(s, query, q.limit, q.cursor,
                               (AccessRequest.created_at, AccessRequest.id), descending=True)
    return {"items": [_request_out(r) for r in rows], "next_cursor": cursor}


def access_log(uow: UnitOfWork, caller: Caller, document_id: str, q: schemas.ListQuery
               ) -> dict[str, Any]:
    """Every view and download of the document, for archive managers and its owner."""
    s = uow.session
    doc = _managed(s, caller, document_id)
    rows, cursor = keyset_page(
        s, select(AccessLogEntry).where(AccessLogEntry.document_id == doc.id), q.limit,
        q.cursor, (AccessLogEntry.created_at, AccessLogEntry.id), descending=True)
    return {"items": [schemas.AccessLogEntry.model_validate(r).model_dump() for r in rows],
            "next_cursor": cursor}


# -- the clock ----------------------------------------------------------------------------
def get_document_clock(uow: UnitOfWork) -> dict[str, Any]:
    s = uow.session
    offset = int(queries.setting(s, CLOCK, {"offset_seconds": 0})["offset_seconds"])
    return {"offset_seconds": offset if docs_settings().adjustable_clock else 0,
            "now": now(s)}


def set_document_clock(uow: UnitOfWork, data: schemas.ClockIn) -> dict[str, Any]:
    if not docs_settings().adjustable_clock:
        raise NotFound("the clock of this deployment cannot be moved",
                       code="clock_not_adjustable")
    queries.put_setting(uow.session, CLOCK, {"offset_seconds": data.offset_seconds})
    uow.commit()
    return get_document_clock(uow)

