"""SQL of the documents service: the visibility rule for lists, loads and locks."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from crm_platform.db import read_setting, write_setting
from crm_platform.errors import NotFound
from sqlalchemy import ColumnElement, Select, and_, exists, false, func, or_, select, true
from sqlalchemy.orm import Session

from services.docs.db.models import (
    Category,
    Document,
    DocumentLink,
    DocumentVersion,
    Grant,
    Setting,
    Staff,
    Team,
)
from services.docs.domain import access


def visible_condition(reader: access.Reader, now: datetime) -> ColumnElement[bool]:
    """:func:`services.docs.domain.access.can_read` as a WHERE clause on ``documents``:
    the same levels, grants and scope, so what a list, a search or a count shows is
    what a direct read allows."""
    d = Document
    live = and_(Grant.document_id == d.id,
                or_(Grant.expires_at.is_(None), Grant.expires_at > now))
    by_name = and_(Grant.kind == "user", Grant.grantee_id == reader.user_id)
    by_any = or_(by_name,
                 and_(Grant.kind == "role", Grant.grantee_id.in_(sorted(reader.roles))),
                 and_(Grant.kind == "team", Grant.grantee_id == reader.team_id)
                 if reader.team_id else false())
    owners = reader.visible_owner_ids
    covers = true() if owners is None else d.owner_id.in_(sorted(owners))
    if reader.is_archive_manager:
        confidential_by_role: ColumnElement[bool] = true()
    elif reader.managed_ids:
        confidential_by_role = d.owner_id.in_(sorted(reader.managed_ids))
    else:
        confidential_by_role = false()
    return and_(d.status == "active", or_(
        d.level == "public",
        d.owner_id == reader.user_id,
        and_(d.level == "secret", exists().where(live, by_name)),
        and_(d.level != "secret", exists().where(live, by_any)),
        and_(d.level == "confidential", confidential_by_role),
        and_(d.level == "internal", covers),
    ))


def document(s: Session, document_id: str, *, lock: bool = False) -> Document:
    found = s.get(Document, document_id, with_for_update=lock,
                  populate_existing=lock)
    if found is None:
        raise NotFound("document not found", code="document_not_found")
    return found


def grants_of(s: Session, document_id: str) -> list[Grant]:
    return list(s.scalars(select(Grant).where(Grant.document_id == document_id)
                          .order_by(Grant.created_at, Grant.id)))


def links_of(s: Session, document_ids: Iterable[str]) -> dict[str, dict[str, list[str]]]:
    ids = list(document_ids)
    found: dict[str, dict[str, list[str]]] = {
        i: {"customer_ids": [], "order_ids": [], "product_ids": [], "campaign_ids": [],
            "work_order_ids": []}
        for i in ids}
    if not ids:
        return found
    rows = s.execute(select(DocumentLink.document_id, DocumentLink.kind,
                            DocumentLink.target_id)
                     .where(DocumentLink.document_id.in_(ids))
                     .order_by(DocumentLink.kind, DocumentLink.target_id))
    for document_id, kind, target in rows:
        found[document_id][f"{kind}_ids"].append(target)
    return found


def versions_of(s: Session, document_id: str) -> list[DocumentVersion]:
    return list(s.scalars(select(DocumentVersion)
                          .where(DocumentVersion.document_id == document_id)
                          .order_by(DocumentVersion.number)))


def version(s: Session, document_id: str, number: int, *, lock: bool = False
            ) -> DocumentVersion:
    query = select(DocumentVersion).where(DocumentVersion.document_id == document_id,
                                          DocumentVersion.number == number)
    if lock:
        query = query.with_for_update()
    found = s.scalar(query.execution_options(populate_existing=lock))
    if found is None:
        raise NotFound("no such version of the document", code="version_not_found")
    return found


def version_numbers(s: Session, document_ids: Iterable[str]
                    ) -> dict[str, tuple[int | None, int | None]]:
    """document id → (effective version number, latest version number)."""
    ids = list(document_ids)
    if not ids:
        return {}
    latest = dict(s.execute(select(DocumentVersion.document_id, func.max(DocumentVersion.number))
                            .where(DocumentVersion.document_id.in_(ids))
                            .group_by(DocumentVersion.document_id)).tuples().all())
    effective = dict(s.execute(select(DocumentVersion.document_id, DocumentVersion.number)
                               .where(DocumentVersion.document_id.in_(ids),
                                      DocumentVersion.status == "effective")).tuples().all())
    return {i: (effective.get(i), latest.get(i)) for i in ids}


def category(s: Session, code: str) -> Category:
    found = s.get(Category, code)
    if found is None:
        raise NotFound(f"no document category {code!r}", code="category_not_found")
    return found


def categories(s: Session) -> list[Category]:
    return list(s.scalars(select(Category).order_by(Category.built_in.desc(), Category.code)))


def managed_people(s: Session, user_id: str) -> list[str]:
    """The people in the teams ``user_id`` manages and in those teams' sub-teams."""
    teams = set(s.scalars(select(Team.id).where(Team.manager_id == user_id)))
    frontier = set(teams)
    while frontier:
        frontier = set(s.scalars(select(Team.id).where(Team.parent_id.in_(sorted(frontier)))))
        frontier -= teams
        teams |= frontier
    if not teams:
        return []
    return list(s.scalars(select(Staff.id).where(Staff.team_id.in_(sorted(teams)))))


def staff_team(s: Session, user_id: str) -> str | None:
    staff = s.get(Staff, user_id)
    return staff.team_id if staff else None


def staff_names(s: Session, ids: Iterable[str | None]) -> dict[str, str]:
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    return dict(s.execute(select(Staff.id, Staff.display_name)
                          .where(Staff.id.in_(wanted))).tuples().all())


def linked_to(kind: str, target_id: str) -> Any:
    return Document.id.in_(select(DocumentLink.document_id)
                           .where(DocumentLink.kind == kind,
                                  DocumentLink.target_id == target_id))


def setting(s: Session, name: str, default: dict[str, Any]) -> dict[str, Any]:
    return read_setting(s, Setting, name, default)


def put_setting(s: Session, name: str, value: dict[str, Any]) -> None:
    write_setting(s, Setting, name, value)


def visible_documents(reader: access.Reader, now: datetime) -> Select[Any]:
    return select(Document).where(visible_condition(reader, now))
