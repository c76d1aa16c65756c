"""What the documents use cases share: the reader behind a caller, the service's clock,
loading a document as the caller may see it, and the document as the API shows it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from crm_platform.auth import Caller
from crm_platform.db import utcnow
from crm_platform.errors import (
    Forbidden,
    NotFound,
)
from crm_platform.permissions import scope_for
from crm_platform.uow import UnitOfWork
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.docs.db import queries
from services.docs.db.models import AccessLogEntry, Document, Staff
from services.docs.domain import access, lifecycle
from services.docs.domain.content import searchable
from services.docs.settings import docs_settings

CLOCK = "clock"


def now(s: Session) -> datetime:
    """The service's time: the real one, moved by an offset where the clock is
    adjustable (tests move it to see borrowings expire without waiting a day)."""
    if not docs_settings().adjustable_clock:
        return utcnow()
    offset = int(queries.setting(s, CLOCK, {"offset_seconds": 0})["offset_seconds"])
    return datetime.now(UTC) + timedelta(seconds=offset)


def reader_of(s: Session, caller: Caller) -> access.Reader:
    """The caller with the scope their roles grant for ``document:read`` (whatever
    permission the operation itself required) and their own team from the staff copy."""
    scope = scope_for(caller.roles, "document:read") if caller.has("document:read") else None
    team_id = queries.staff_team(s, caller.user_id)
    owners: frozenset[str] | None
    if scope == "all":
        owners = None
    elif scope == "team":
        owners = frozenset({caller.user_id, *_team_members(s, caller, team_id)})
    else:
        owners = frozenset({caller.user_id})
    return access.Reader(caller.user_id, frozenset(caller.roles), scope or "own", owners,
                         team_id, frozenset(queries.managed_people(s, caller.user_id)))


def _team_members(s: Session, caller: Caller, team_id: str | None) -> list[str]:
    if caller.scope == "team" and caller.member_ids:
        return list(caller.member_ids)
    teams = list(caller.team_ids) or ([team_id] if team_id else [])
    if not teams:
        return []
    return list(s.scalars(select(Staff.id).where(Staff.team_id.in_(teams))))


def writes_for(s: Session, caller: Caller, owner_id: str) -> bool:
    """Whether the caller's ``document:write`` scope covers records of ``owner_id``."""
    if not caller.has("document:write"):
        return False
    scope = scope_for(caller.roles, "document:write")
    if scope == "all" or owner_id == caller.user_id:
        return True
    if scope == "team":
        return owner_id in _team_members(s, caller, queries.staff_team(s, caller.user_id))
    return False


def facts(s: Session, doc: Document) -> access.DocumentFacts:
    grants = tuple(access.Grant(g.kind, g.grantee_id, g.expires_at)  # type: ignore[arg-type]
                   for g in queries.grants_of(s, doc.id))
    return access.DocumentFacts(doc.owner_id, doc.level, grants)  # type: ignore[arg-type]


Rule = Callable[[access.DocumentFacts, access.Reader, datetime], bool]


def readable(s: Session, caller: Caller, document_id: str, *, lock: bool = False,
             rule: Rule = access.can_read) -> Document:
    """The document if ``rule`` lets the caller at it (by default: read it); 404
    otherwise, the same as for a document that does not exist or was destroyed."""
    doc = s.get(Document, document_id, with_for_update=lock, populate_existing=lock)
    if doc is None or doc.status != "active" or not rule(
            facts(s, doc), reader_of(s, caller), now(s)):
        raise NotFound("document not found", code="document_not_found")
    return doc


def editable(s: Session, caller: Caller, document_id: str) -> Document:
    """The document, locked, if the caller may read it and change it."""
    doc = readable(s, caller, document_id, lock=True)
    if not writes_for(s, caller, doc.owner_id):
        raise Forbidden("only the owner or someone whose write scope covers the owner may "
                        "change this document", code="not_document_editor")
    return doc


def log_access(uow: UnitOfWork, doc: Document, user_id: str, action: str,
               number: int | None = None) -> None:
    uow.session.add(AccessLogEntry(id=str(uuid.uuid4()), document_id=doc.id, user_id=user_id,
                                   action=action, version_number=number,
                                   created_at=now(uow.session)))


def refresh_search_text(s: Session, doc: Document) -> None:
    """Title, tags, metadata values and the newest version's extracted text."""
    versions = queries.versions_of(s, doc.id)
    texts = [v.extracted_text for v in versions[-1:] if v.extracted_text]
    meta = " ".join(f"{k} {v}" for k, v in (doc.meta or {}).items() if v is not None)
    doc.search_text = searchable(doc.title, " ".join(doc.tags or []), meta, *texts)
    doc.tag_index = "".join(f"|{tag}" for tag in doc.tags or []) + "|" if doc.tags else ""


def document_out(s: Session, doc: Document) -> dict[str, Any]:
    numbers = queries.version_numbers(s, [doc.id]).get(doc.id, (None, None))
    years = queries.category(s, doc.category).retention_years
    return {
        "id": doc.id, "title": doc.title, "category": doc.category, "level": doc.level,
        "owner_id": doc.owner_id,
        "owner_name": queries.staff_names(s, [doc.owner_id]).get(doc.owner_id),
        "tags": list(doc.tags or []), "metadata": dict(doc.meta or {}),
        "links": queries.links_of(s, [doc.id])[doc.id],
        "status": doc.status, "legal_hold": doc.legal_hold,
        "legal_hold_reason": doc.legal_hold_reason,
        "retention_start": doc.retention_start,
        "retention_due": lifecycle.retention_due(doc.retention_start, years),
        "effective_version": numbers[0], "latest_version": numbers[1],
        "created_by": doc.created_by, "created_at": doc.created_at,
        "updated_at": doc.updated_at, "version": doc.version,
    }


def summaries(s: Session, docs: list[Document]) -> list[dict[str, Any]]:
    numbers = queries.version_numbers(s, [d.id for d in docs])
    return [{"id": d.id, "title": d.title, "category": d.category, "level": d.level,
             "owner_id": d.owner_id, "tags": list(d.tags or []),
             "effective_version": numbers.get(d.id, (None, None))[0],
             "updated_at": d.updated_at, "version": d.version} for d in docs]
