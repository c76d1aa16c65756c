"""Documents and their categories (DOC-01), search (DOC-07), the customer 360 section
(CUS-16) and what follows other services' changes (merge, handover)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from crm_platform.auth import Caller
from crm_platform.errors import Conflict, Forbidden, ValidationFailed, check_version
from crm_platform.pagination import keyset_page
from crm_platform.read_models import follow_merges
from crm_platform.uow import UnitOfWork
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from services.docs import events, schemas
from services.docs.db import erasure, queries
from services.docs.db.models import Category, Customer, Document, DocumentLink, SalesRecord
from services.docs.domain import access
from services.docs.domain.content import search_terms
from services.docs.use_cases.common import (
    document_out,
    editable,
    log_access,
    now,
    readable,
    reader_of,
    refresh_search_text,
    summaries,
    writes_for,
)

LINK_KINDS = ("customer", "order", "product", "campaign", "work_order")
# ``work_order_link(id)``: the work order as the service desk shows it to the caller,
# None if it does not exist there or the caller may not see it
WorkOrderLink = Callable[[str], dict[str, Any] | None]


# -- categories ---------------------------------------------------------------------------
def list_document_categories(uow: UnitOfWork, q: schemas.ListQuery) -> dict[str, Any]:
    rows, cursor = keyset_page(uow.session, select(Category), q.limit, q.cursor,
                               (Category.code,))
    return {"items": [schemas.Category.model_validate(c).model_dump() for c in rows],
            "next_cursor": cursor}


def create_document_category(uow: UnitOfWork, data: schemas.CategoryIn) -> dict[str, Any]:
    s = uow.session
    if s.get(Category, data.code) is not None:
        raise Conflict(f"the category {data.code!r} exists", code="duplicate_category")
    category = Category(code=data.code, name=data.name,
                        retention_years=data.retention_years, built_in=False,
                        created_at=now(s))
    s.add(category)
    uow.commit()
    return schemas.Category.model_validate(category).model_dump()


def update_document_category(uow: UnitOfWork, code: str, data: schemas.CategoryUpdate,
                    expected_version: int | None) -> dict[str, Any]:
    s = uow.session
    category = queries.category(s, code)
    s.refresh(category, with_for_update=True)
    check_version(category.version, expected_version, "category")
    changes = data.model_dump(exclude_unset=True)
    for name, value in changes.items():
        setattr(category, name, value)
    category.version += 1
    uow.commit()
    return schemas.Category.model_validate(category).model_dump()


# -- documents ----------------------------------------------------------------------------
def _check_links(s: Session, links: schemas.Links, work_order_link: WorkOrderLink | None
                 ) -> dict[str, list[str]]:
    """Each linked record must be one this service has heard of from its owner (the
    customer and sales services' events); a merged customer's link goes to the
    survivor. A work order is asked of the service desk, as the caller (work photos are
    few and linked when taken: no copy of every work order is kept here)."""
    wanted = {"customer": links.customer_ids, "order": links.order_ids,
              "product": links.product_ids, "campaign": links.campaign_ids,
              "work_order": links.work_order_ids}
    resolved: dict[str, list[str]] = {}
    unknown: list[dict[str, str]] = []
    for kind, ids in wanted.items():
        found: list[str] = []
        for target in dict.fromkeys(ids):
            if kind == "customer":
                customer = follow_merges(s, Customer, target)
                target_id = customer.id if customer is not None else None
            elif kind == "work_order":
                work_order = work_order_link(target) if work_order_link else None
                target_id = str(work_order["id"]) if work_order else None
            else:
                record = s.get(SalesRecord, target)
                target_id = record.id if record is not None and record.kind == kind else None
            if target_id is None:
                unknown.append({"field": f"links.{kind}_ids", "message": f"no {kind} {target}"})
            elif target_id not in found:
                found.append(target_id)
        resolved[kind] = found
    if unknown:
        raise ValidationFailed("a linked record does not exist", code="unknown_link",
                               extra={"errors": unknown})
    return resolved


def _write_links(s: Session, document_id: str, links: dict[str, list[str]]) -> None:
    s.execute(delete(DocumentLink).where(DocumentLink.document_id == document_id))
    for kind, ids in links.items():
        for target in ids:
            s.add(DocumentLink(document_id=document_id, kind=kind, target_id=target))


def create_document(uow: UnitOfWork, caller: Caller, data: schemas.DocumentIn,
                    work_order_link: WorkOrderLink | None = None) -> dict[str, Any]:
    s = uow.session
    queries.category(s, data.category)
    owner_id = data.owner_id or caller.user_id
    if not writes_for(s, caller, owner_id):
        raise Forbidden("you may not create documents for that owner",
                        code="owner_out_of_scope")
    links = _check_links(s, data.links, work_order_link)
    at = now(s)
    doc = Document(id=str(uuid.uuid4()), title=data.title, category=data.category,
                   owner_id=owner_id, level=data.level, tags=list(dict.fromkeys(data.tags)),
                   meta=data.metadata, status="active", legal_hold=False,
                   retention_start=at.date(), created_by=caller.user_id, created_at=at,
                   updated_at=at, version=1)
    refresh_search_text(s, doc)
    s.add(doc)
    s.flush()
    _write_links(s, doc.id, links)
    uow.publish(events.DocumentCreated(
        id=doc.id, category=doc.category, level=doc.level, owner_id=owner_id,
        customer_ids=links["customer"], order_ids=links["order"],
        product_ids=links["product"], campaign_ids=links["campaign"],
        work_order_ids=links["work_order"], version=1))
    uow.commit()
    return document_out(s, doc)


def get_document(uow: UnitOfWork, caller: Caller, document_id: str) -> dict[str, Any]:
    """A read of the record is a view in the access log (DOC-04)."""
    s = uow.session
    doc = readable(s, caller, document_id)
    log_access(uow, doc, caller.user_id, "view")
    out = document_out(s, doc)
    uow.commit()
    return out


def update_document(uow: UnitOfWork, caller: Caller, document_id: str,
                    data: schemas.DocumentUpdate, expected_version: int | None,
                    work_order_link: WorkOrderLink | None = None) -> dict[str, Any]:
    s = uow.session
    doc = editable(s, caller, document_id)
    check_version(doc.version, expected_version, "document")
    changes = data.model_dump(exclude_unset=True)
    if "category" in changes:
        queries.category(s, changes["category"])
    if "owner_id" in changes and not writes_for(s, caller, changes["owner_id"]):
        raise Forbidden("you may not give documents to that owner", code="owner_out_of_scope")
    if "level" in changes:
        refused = access.levels_refusing(
            [access.Grant(g.kind, g.grantee_id, g.expires_at)  # type: ignore[arg-type]
             for g in queries.grants_of(s, doc.id)], changes["level"])
        if refused:
            raise Conflict("a secret document is granted to people by name only: remove "
                           "its role and team grants first", code="grants_refused_by_level",
                           extra={"grants": [f"{g.kind}:{g.grantee_id}" for g in refused]})
    if "links" in changes:
        _write_links(s, doc.id, _check_links(s, data.links, work_order_link))
    for name in ("title", "category", "level", "owner_id"):
        if name in changes:
            setattr(doc, name, changes[name])
    if "tags" in changes:
        doc.tags = list(dict.fromkeys(changes["tags"]))
    if "metadata" in changes:
        doc.meta = changes["metadata"]
    refresh_search_text(s, doc)
    doc.version += 1
    doc.updated_at = now(s)
    uow.commit()
    return document_out(s, doc)


def _filtered(uow: UnitOfWork, caller: Caller, q: schemas.DocumentFilters) -> Any:
    s = uow.session
    query = queries.visible_documents(reader_of(s, caller), now(s))
    if q.category:
        query = query.where(Document.category == q.category)
    if q.level:
        query = query.where(Document.level == q.level)
    if q.owner_id:
        query = query.where(Document.owner_id == q.owner_id)
    if q.tag:
        query = query.where(Document.tag_index.contains(f"|{q.tag}|", autoescape=True))
    for kind in LINK_KINDS:
        target = getattr(q, f"{kind}_id")
        if target:
            query = query.where(queries.linked_to(kind, target))
    for term in search_terms(q.q):
        query = query.where(Document.search_text.contains(term, autoescape=True))
    return query


def list_documents(uow: UnitOfWork, caller: Caller, q: schemas.DocumentQuery
                   ) -> dict[str, Any]:
    s = uow.session
    rows, cursor = keyset_page(s, _filtered(uow, caller, q), q.limit, q.cursor,
                               (Document.created_at, Document.id), descending=True)
    return {"items": summaries(s, rows), "next_cursor": cursor}


def count_documents(uow: UnitOfWork, caller: Caller, q: schemas.DocumentFilters
                    ) -> dict[str, Any]:
    query = _filtered(uow, caller, q)
    return {"count": int(uow.session.scalar(
        select(func.count()).select_from(query.subquery())) or 0)}


def customer_documents_summary(uow: UnitOfWork, caller: Caller, customer_id: str
                               ) -> dict[str, Any]:
    """The customer 360's documents section: what the caller may see, newest first."""
    q = schemas.DocumentQuery(customer_id=customer_id, limit=10)
    page = list_documents(uow, caller, q)
    return {"count": count_documents(uow, caller, q)["count"], "items": page["items"]}


# -- what other services' changes mean here -----------------------------------------------
def move_customer_links(uow: UnitOfWork, merged_id: str, survivor_id: str) -> None:
    """A customer merge: the merged customer's documents are now the survivor's."""
    s = uow.session
    already = select(DocumentLink.document_id).where(DocumentLink.kind == "customer",
                                                     DocumentLink.target_id == survivor_id)
    s.execute(delete(DocumentLink).where(DocumentLink.kind == "customer",
                                         DocumentLink.target_id == merged_id,
                                         DocumentLink.document_id.in_(already))
              .execution_options(synchronize_session=False))
    s.execute(update(DocumentLink).where(DocumentLink.kind == "customer",
                                         DocumentLink.target_id == merged_id)
              .values(target_id=survivor_id).execution_options(synchronize_session=False))


def scrub_customer_documents(uow: UnitOfWork, customer_id: str, values: list[str]) -> None:
    """A person customer erased (#26 S8): its documents' titles, tags, metadata, file
    names and extracted text scrubbed of the person's values, their search text rebuilt
    from what is left."""
    s = uow.session
    docs = erasure.customer_documents(s, customer_id)
    erasure.scrub_documents(s, [d.id for d in docs], values)
    for doc in docs:
        s.refresh(doc)
        refresh_search_text(s, doc)
