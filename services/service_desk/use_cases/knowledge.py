"""Knowledge base (SVC-06): articles with versions (draft → published → retired) and
effective windows, drafted by hand or from a resolved ticket; search in Chinese and
other languages over what the reader may see and what is in effect today."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from crm_platform.auth import Caller
from crm_platform.errors import NotFound, ValidationFailed, check_version
from crm_platform.pagination import clamp_limit, keyset_page
from crm_platform.uow import UnitOfWork
from sqlalchemy import Integer, and_, cast, delete, exists, func, or_, select
from sqlalchemy.orm import Session

from services.service_desk import events, schemas
from services.service_desk.db import queries
from services.service_desk.db.models import KbArticle, KbTerm, KbVersion
from services.service_desk.domain import knowledge as rules
from services.service_desk.domain.knowledge import KB_VERSION
from services.service_desk.use_cases import common


def today(s: Session) -> date:
    return common.now().astimezone(common.local_zone(s)).date()


def _versions(s: Session, article_id: str) -> list[KbVersion]:
    return list(s.scalars(select(KbVersion).where(KbVersion.article_id == article_id)
                          .order_by(KbVersion.number)))


def _current(versions: list[KbVersion], day: date) -> KbVersion | None:
    for v in reversed(versions):
        if rules.in_effect(v.status, v.effective_from, v.effective_to, day):
            return v
    return None


def version_out(v: KbVersion, day: date) -> dict[str, Any]:
    return {"number": v.number, "status": v.status, "title": v.title, "body": v.body,
            "effective_from": v.effective_from, "effective_to": v.effective_to,
            "in_effect": rules.in_effect(v.status, v.effective_from, v.effective_to, day),
            "created_by": v.created_by, "created_at": v.created_at,
            "published_at": v.published_at, "retired_at": v.retired_at}


def _fields(a: KbArticle, versions: list[KbVersion], day: date) -> dict[str, Any]:
    current = _current(versions, day)
    shown = current or (versions[-1] if versions else None)
    return {"id": a.id, "number": a.number, "category": a.category, "kind": a.kind,
            "visibility": a.visibility, "product_model": a.product_model, "tags": a.tags,
            "source_ticket_id": a.source_ticket_id, "created_by": a.created_by,
            "latest_version": a.latest_version, "title": shown.title if shown else "",
            "in_effect_version": current.number if current else None,
            "version": a.version, "created_at": a.created_at, "updated_at": a.updated_at}


def article_out(s: Session, a: KbArticle) -> dict[str, Any]:
    day = today(s)
    versions = _versions(s, a.id)
    return schemas.Article.model_validate({
        **_fields(a, versions, day), "versions": [version_out(v, day) for v in versions],
    }).model_dump(mode="json")


def _article(s: Session, caller: Caller, article_id: str, lock: bool = False) -> KbArticle:
    queries.staff_only(caller)
    found = s.get(KbArticle, article_id, with_for_update=lock)
    if found is None:
        raise NotFound("article not found", code="article_not_found")
    return found


def _version(s: Session, article_id: str, number: int, lock: bool = False) -> KbVersion:
    query = select(KbVersion).where(KbVersion.article_id == article_id,
                                    KbVersion.number == number)
    if lock:
        query = query.with_for_update()
    found = s.scalar(query)
    if found is None:
        raise NotFound("version not found", code="version_not_found")
    return found


def _new_article(uow: UnitOfWork, caller: Caller, *, title: str, body: str, category: str,
                 kind: str, visibility: str, product_model: str | None, tags: list[str],
                 effective_from: date | None, effective_to: date | None,
                 source_ticket_id: str | None) -> KbArticle:
    s = uow.session
    starts = effective_from or today(s)
    rules.check_window(starts, effective_to)
    at = common.now()
    a = KbArticle(id=str(uuid.uuid4()), category=category, kind=kind, visibility=visibility,
                  product_model=product_model, tags=list(dict.fromkeys(tags)),
                  source_ticket_id=source_ticket_id, created_by=caller.user_id,
                  latest_version=1, version=1, created_at=at, updated_at=at,
                  number=f"KB-{queries.next_number(s, 'kb'):06d}")
    s.add(a)
    s.flush()
    s.add(KbVersion(id=str(uuid.uuid4()), article_id=a.id, number=1, status="draft",
                    title=title, body=body, effective_from=starts,
                    effective_to=effective_to, created_by=caller.user_id, created_at=at))
    s.flush()
    return a


def create_article(uow: UnitOfWork, caller: Caller, data: schemas.ArticleCreate
                   ) -> dict[str, Any]:
    queries.staff_only(caller)
    a = _new_article(uow, caller, source_ticket_id=None, **data.model_dump())
    uow.commit()
    return article_out(uow.session, a)


def draft_from_ticket(uow: UnitOfWork, caller: Caller, ticket_id: str,
                      data: schemas.ArticleFromTicket) -> dict[str, Any]:
    """A draft whose problem is the ticket's description and whose solution is how it
    was resolved (the ticket must be resolved or closed)."""
    s = uow.session
    t = queries.visible_ticket(s, caller, ticket_id)
    if t.status not in ("resolved", "closed"):
        raise ValidationFailed("an article is drafted from a resolved ticket",
                               code="ticket_not_resolved", extra={"current_state": t.status})
    title, body = rules.draft_from_ticket(t.subject, t.description, t.resolution,
                                          t.product_model)
    category = data.category or t.product_category or t.category
    a = _new_article(uow, caller, title=title, body=body, category=category, kind=data.kind,
                     visibility=data.visibility, product_model=t.product_model, tags=[],
                     effective_from=None, effective_to=None, source_ticket_id=t.id)
    common.log(s, t, common.now(), caller.user_id, "kb_article_drafted", article_id=a.id)
    uow.commit()
    return article_out(s, a)


def get_article(uow: UnitOfWork, caller: Caller, article_id: str) -> dict[str, Any]:
    return article_out(uow.session, _article(uow.session, caller, article_id))


def list_articles(uow: UnitOfWork, caller: Caller, query: schemas.ArticleQuery
                  ) -> dict[str, Any]:
    queries.staff_only(caller)
    s = uow.session
    q = select(KbArticle)
    for name in ("category", "kind", "visibility"):
        value = getattr(query, name)
        if value is not None:
            q = q.where(getattr(KbArticle, name) == value)
    if query.in_effect is not None:
        live = exists().where(_in_effect(today(s)), KbVersion.article_id == KbArticle.id)
        q = q.where(live if query.in_effect else ~live)
    rows, cursor = keyset_page(s, q, query.limit, query.cursor,
                               (KbArticle.created_at, KbArticle.id), descending=True)
    day = today(s)
    return {"items": [schemas.ArticleFields.model_validate(
        _fields(a, _versions(s, a.id), day)).model_dump(mode="json") for a in rows],
        "next_cursor": cursor}


def update_article(uow: UnitOfWork, caller: Caller, article_id: str,
                   data: schemas.ArticleUpdate, expected_version: int | None
                   ) -> dict[str, Any]:
    s = uow.session
    a = _article(s, caller, article_id, lock=True)
    check_version(a.version, expected_version, "article")
    for name, value in data.model_dump(exclude_unset=True).items():
        setattr(a, name, list(dict.fromkeys(value)) if name == "tags" else value)
    a.version += 1
    a.updated_at = common.now()
    uow.commit()
    return article_out(s, a)


def add_version(uow: UnitOfWork, caller: Caller, article_id: str, data: schemas.VersionIn
                ) -> dict[str, Any]:
    """A new draft version, starting from the latest one's text unless given."""
    s = uow.session
    a = _article(s, caller, article_id, lock=True)
    latest = _version(s, a.id, a.latest_version)
    starts = data.effective_from or today(s)
    rules.check_window(starts, data.effective_to)
    at = common.now()
    a.latest_version += 1
    s.add(KbVersion(id=str(uuid.uuid4()), article_id=a.id, number=a.latest_version,
                    status="draft", title=data.title or latest.title,
                    body=data.body or latest.body, effective_from=starts,
                    effective_to=data.effective_to, created_by=caller.user_id,
                    created_at=at))
    a.version += 1
    a.updated_at = at
    uow.commit()
    return article_out(s, a)


def update_version(uow: UnitOfWork, caller: Caller, article_id: str, number: int,
                   data: schemas.VersionUpdate) -> dict[str, Any]:
    s = uow.session
    a = _article(s, caller, article_id, lock=True)
    v = _version(s, a.id, number, lock=True)
    KB_VERSION.check(v.status, "edit")
    for name, value in data.model_dump(exclude_unset=True).items():
        setattr(v, name, value)
    rules.check_window(v.effective_from, v.effective_to)
    a.version += 1
    a.updated_at = common.now()
    uow.commit()
    return article_out(s, a)


def _index(s: Session, v: KbVersion) -> None:
    title_terms = set(rules.terms(v.title))
    for term in dict.fromkeys([*rules.terms(v.title), *rules.terms(v.body)]):
        s.add(KbTerm(version_id=v.id, term=term, in_title=term in title_terms))


def _unindex(s: Session, v: KbVersion) -> None:
    s.execute(delete(KbTerm).where(KbTerm.version_id == v.id))


def publish_version(uow: UnitOfWork, caller: Caller, article_id: str, number: int
                    ) -> dict[str, Any]:
    s = uow.session
    a = _article(s, caller, article_id, lock=True)
    v = _version(s, a.id, number, lock=True)
    v.status = KB_VERSION.next(v.status, "publish")
    at = common.now()
    published = [x for x in _versions(s, a.id) if x.status == "published" and x.id != v.id]
    by_number = {x.number: x for x in published}
    for change in rules.supersede(
            [rules.Window(x.number, x.effective_from, x.effective_to) for x in published],
            rules.Window(v.number, v.effective_from, v.effective_to)):
        old = by_number[change.number]
        if change.retire:
            old.status, old.retired_at = KB_VERSION.next(old.status, "retire"), at
            _unindex(s, old)
        else:
            old.effective_to = change.effective_to
    v.published_at, v.published_by = at, caller.user_id
    _index(s, v)
    a.version += 1
    a.updated_at = at
    uow.publish(events.KbArticlePublished(
        id=a.id, number=a.number, version=v.number, title=v.title, category=a.category,
        kind=a.kind, visibility=a.visibility, effective_from=v.effective_from,
        effective_to=v.effective_to, published_by=caller.user_id))
    uow.commit()
    return article_out(s, a)


def retire_version(uow: UnitOfWork, caller: Caller, article_id: str, number: int
                   ) -> dict[str, Any]:
    s = uow.session
    a = _article(s, caller, article_id, lock=True)
    v = _version(s, a.id, number, lock=True)
    v.status = KB_VERSION.next(v.status, "retire")
    v.retired_at = common.now()
    _unindex(s, v)
    a.version += 1
    a.updated_at = v.retired_at
    uow.commit()
    return article_out(s, a)


# -- search --------------------------------------------------------------------------------
def _in_effect(day: date) -> Any:
    return and_(KbVersion.status == "published", KbVersion.effective_from <= day,
                or_(KbVersion.effective_to.is_(None), KbVersion.effective_to > day))


def _snippet(body: str, terms: list[str], width: int = 120) -> str:
    lowered = body.lower()
    hits = [i for i in (lowered.find(t) for t in terms) if i >= 0]
    start = max(0, min(hits) - width // 4) if hits else 0
    text = " ".join(body[start:start + width].split())
    return ("…" if start else "") + text + ("…" if start + width < len(body) else "")


def search(s: Session, q: str, limit: int | None, public_only: bool,
           category: str | None = None) -> list[dict[str, Any]]:
    """Versions in effect today sharing terms with ``q``, best first."""
    terms = rules.query_terms(q)
    size = clamp_limit(limit, default=20)
    day = today(s)
    matched = (select(KbTerm.version_id,
                      func.sum(cast(KbTerm.in_title, Integer) + 1).label("score"))
               .where(KbTerm.term.in_(terms)).group_by(KbTerm.version_id).subquery())
    query = (select(KbVersion, KbArticle, matched.c.score)
             .join(matched, matched.c.version_id == KbVersion.id)
             .join(KbArticle, KbArticle.id == KbVersion.article_id)
             .where(_in_effect(day))
             .order_by(matched.c.score.desc(), KbVersion.published_at.desc(), KbVersion.id)
             .limit(size))
    if public_only:
        query = query.where(KbArticle.visibility == "public")
    if category is not None:
        query = query.where(KbArticle.category == category)
    return [{"article_id": a.id, "number": a.number, "version": v.number, "title": v.title,
             "snippet": _snippet(v.body, terms), "category": a.category, "kind": a.kind,
             "visibility": a.visibility, "effective_from": v.effective_from,
             "effective_to": v.effective_to, "score": int(score)}
            for v, a, score in s.execute(query)]


def search_articles(uow: UnitOfWork, caller: Caller, query: schemas.SearchQuery
                    ) -> dict[str, Any]:
    queries.staff_only(caller)
    items = search(uow.session, query.q, query.limit, public_only=False)
    return schemas.SearchResult.model_validate({"items": items}).model_dump(mode="json")


def in_effect_article(s: Session, article_id: str, public_only: bool
                      ) -> tuple[KbArticle, KbVersion]:
    a = s.get(KbArticle, article_id)
    current = _current(_versions(s, article_id), today(s)) if a is not None else None
    if a is None or current is None or (public_only and a.visibility != "public"):
        raise NotFound("article not found", code="article_not_found")
    return a, current


def published_query(s: Session, public_only: bool) -> Any:
    """Articles with a version in effect today."""
    query = select(KbArticle).where(exists().where(_in_effect(today(s)),
                                                   KbVersion.article_id == KbArticle.id))
    return query.where(KbArticle.visibility == "public") if public_only else query

