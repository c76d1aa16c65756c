"""The customer's own portal (SVC-07): a customer's contact, signed in through the
gateway, raises requests and complaints, follows their customer's tickets with the
public replies (never an internal note, never another customer's ticket — those are
404), replies, rates a resolved or closed ticket, and reads public knowledge-base
articles in effect today.

Every operation starts from :func:`queries.portal_customer`: the caller's customer as
the gateway vouched for it, and nothing else."""

from __future__ import annotations

import uuid
from typing import Any

from crm_platform.auth import Caller
from crm_platform.errors import NotFound
from crm_platform.pagination import keyset_page
from crm_platform.uow import UnitOfWork
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.service_desk import events, schemas
from services.service_desk.db import queries
from services.service_desk.db.models import (
    NO_DUE,
    Contact,
    KbArticle,
    SatisfactionRating,
    Ticket,
    TicketComment,
)
from services.service_desk.domain import sla
from services.service_desk.domain.tickets import TICKET, ticket_number
from services.service_desk.use_cases import common, knowledge


def _ticket(s: Session, caller: Caller, ticket_id: str, lock: bool = False) -> Ticket:
    customer_id, _ = queries.portal_customer(s, caller)
    query = select(Ticket).where(Ticket.id == ticket_id, Ticket.customer_id == customer_id)
    if lock:
        query = query.with_for_update()
    found = s.scalar(query)
    if found is None:
        raise NotFound("ticket not found", code="ticket_not_found")
    return found


_FIELDS = tuple(schemas.PortalTicketFields.model_fields)


def _fields(t: Ticket) -> dict[str, Any]:
    return {name: getattr(t, name) for name in _FIELDS}


def ticket_out(s: Session, t: Ticket) -> dict[str, Any]:
    replies = s.scalars(select(TicketComment).where(
        TicketComment.ticket_id == t.id, TicketComment.visibility == "public")
        .order_by(TicketComment.created_at, TicketComment.id))
    data = {
        **_fields(t), "description": t.description, "product_model": t.product_model,
        "product_spec": t.product_spec, "purchase_date": t.purchase_date,
        "purchase_place": t.purchase_place, "resolution": t.resolution,
        "replies": [schemas.PortalComment.model_validate(c, from_attributes=True)
                    for c in replies],
        "rating": common.rating_out(s.get(SatisfactionRating, t.id)),
        "can_rate": TICKET.can(t.status, "rate"),
    }
    return schemas.PortalTicket.model_validate(data).model_dump(mode="json")


def list_tickets(uow: UnitOfWork, caller: Caller, query: schemas.PortalTicketQuery
                 ) -> dict[str, Any]:
    s = uow.session
    customer_id, _ = queries.portal_customer(s, caller)
    q = select(Ticket).where(Ticket.customer_id == customer_id)
    if query.status is not None:
        q = q.where(Ticket.status == query.status)
    rows, cursor = keyset_page(s, q, query.limit, query.cursor,
                               (Ticket.created_at, Ticket.id), descending=True)
    return {"items": [schemas.PortalTicketFields.model_validate(_fields(t))
                      .model_dump(mode="json") for t in rows], "next_cursor": cursor}


def get_ticket(uow: UnitOfWork, caller: Caller, ticket_id: str) -> dict[str, Any]:
    return ticket_out(uow.session, _ticket(uow.session, caller, ticket_id))


def create_ticket(uow: UnitOfWork, caller: Caller, data: schemas.PortalTicketCreate
                  ) -> dict[str, Any]:
    """A request or complaint from the customer's contact: web channel, normal priority,
    into the default queue; the SLA clocks start now."""
    s = uow.session
    customer_id, contact_id = queries.portal_customer(s, caller)
    at = common.now()
    targets = sla.targets_for(queries.policies(s), data.category, "normal")
    clocks = sla.start_clocks(targets, at, queries.calendar(s, targets.calendar_id))
    team_id = queries.settings(s)["default_team_id"]
    year = common.year_of(s, at)
    t = Ticket(id=str(uuid.uuid4()), customer_id=customer_id, contact_id=contact_id,
               kind="free", channel="web", priority="normal", received_at=at, status="new",
               team_id=team_id, created_by=caller.user_id, source="portal",
               sla_policy_id=targets.policy_id, sla_policy_name=targets.policy_name,
               sla_calendar_id=targets.calendar_id, due_key=sla.next_due(clocks) or NO_DUE,
               breached=False, version=1, created_at=at,
               updated_at=at, **data.model_dump(),
               number=ticket_number(year, queries.next_number(s, f"ticket-{year}")))
    s.add(t)
    s.flush()  # the clocks' rows name it
    queries.save_clocks(s, t, clocks, loaded=[])  # a new ticket has no clocks yet
    common.log(s, t, at, caller.user_id, "create", None, "new", source="portal")
    uow.publish(common.ticket_event(s, events.TicketCreated, t, received_at=at,
                                    next_due_at=sla.next_due(clocks)))
    if team_id:
        uow.publish(common.ticket_event(s, events.TicketAssigned, t))
    uow.commit()
    return ticket_out(s, t)


def reply(uow: UnitOfWork, caller: Caller, ticket_id: str, data: schemas.CommentIn
          ) -> dict[str, Any]:
    """The customer writes back: a pending ticket opens again (its clocks resume), a
    resolved one reopens; a closed one takes no more replies (raise a new request)."""
    s = uow.session
    t = _ticket(s, caller, ticket_id, lock=True)
    TICKET.check(t.status, "reply")
    at = common.now()
    contact = s.get(Contact, caller.portal_contact_id)
    comment = TicketComment(id=str(uuid.uuid4()), ticket_id=t.id, visibility="public",
                            author_kind="contact", created_by=caller.user_id,
                            author_name=contact.name if contact else caller.display_name,
                            body=data.body, created_at=at)
    s.add(comment)
    if t.status == "pending":
        common.change_status(uow, t, "open", at, caller.user_id)
    elif t.status == "resolved":
        common.reopen(uow, t, "the customer replied", at, caller.user_id)
    else:
        common.touch(t, at)
    s.flush()
    uow.publish(common.ticket_event(s, events.TicketReplied, t, comment_id=comment.id,
                                    author_kind="contact", author_id=caller.user_id))
    uow.commit()
    return ticket_out(s, t)


def rate(uow: UnitOfWork, caller: Caller, ticket_id: str, data: schemas.RatingIn
         ) -> dict[str, Any]:
    s = uow.session
    t = _ticket(s, caller, ticket_id, lock=True)
    common.rate(uow, t, data.rating, data.comment, "portal", caller.user_id, common.now())
    uow.commit()
    return ticket_out(s, t)


# -- knowledge base ------------------------------------------------------------------------
def _article_out(s: Session, article_id: str) -> dict[str, Any]:
    a, v = knowledge.in_effect_article(s, article_id, public_only=True)
    return schemas.PortalArticle.model_validate({
        "id": a.id, "number": a.number, "version": v.number, "title": v.title,
        "body": v.body, "category": a.category, "kind": a.kind,
        "effective_from": v.effective_from, "effective_to": v.effective_to,
    }).model_dump(mode="json")


def get_article(uow: UnitOfWork, caller: Caller, article_id: str) -> dict[str, Any]:
    queries.portal_customer(uow.session, caller)
    return _article_out(uow.session, article_id)


def list_articles(uow: UnitOfWork, caller: Caller, query: schemas.PortalArticleQuery
                  ) -> dict[str, Any]:
    s = uow.session
    queries.portal_customer(s, caller)
    q = knowledge.published_query(s, public_only=True)
    if query.category is not None:
        q = q.where(KbArticle.category == query.category)
    rows, cursor = keyset_page(s, q, query.limit, query.cursor,
                               (KbArticle.created_at, KbArticle.id), descending=True)
    return {"items": [_article_out(s, a.id) for a in rows], "next_cursor": cursor}


def search(uow: UnitOfWork, caller: Caller, query: schemas.SearchQuery) -> dict[str, Any]:
    s = uow.session
    queries.portal_customer(s, caller)
    items = knowledge.search(s, query.q, query.limit, public_only=True)
    return schemas.SearchResult.model_validate({"items": items}).model_dump(mode="json")
