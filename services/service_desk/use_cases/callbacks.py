"""Callbacks (SVC-04): the call back to the customer after a ticket is resolved, its
attempts, and what they do to the ticket (close, close unreached, reopen and
escalate); satisfaction recorded from the call (SVC-05)."""

from __future__ import annotations

from typing import Any

from crm_platform.auth import Caller
from crm_platform.errors import NotFound
from crm_platform.pagination import keyset_page
from crm_platform.uow import UnitOfWork
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.service_desk import events, schemas
from services.service_desk.db import queries
from services.service_desk.db.models import Callback, CallbackAttempt, Contact, Ticket
from services.service_desk.domain import callbacks as rules
from services.service_desk.domain.callbacks import CALLBACK
from services.service_desk.use_cases import common


def _scope(caller: Caller) -> Any:
    """Callbacks of tickets the caller sees, and their own."""
    rule = queries.ticket_scope(caller)
    if rule is None:
        return None
    people = sorted(caller.visible_owner_ids() or ())
    return Callback.agent_id.in_(people) | Callback.ticket_id.in_(select(Ticket.id)
                                                                  .where(rule))


def callback_out(s: Session, c: Callback) -> dict[str, Any]:
    t = s.get(Ticket, c.ticket_id)
    assert t is not None
    contact = s.get(Contact, c.contact_id) if c.contact_id else None
    attempts = s.scalars(select(CallbackAttempt).where(CallbackAttempt.callback_id == c.id)
                         .order_by(CallbackAttempt.id))
    at = common.now()
    data = {
        "id": c.id, "ticket_id": c.ticket_id, "ticket_number": t.number,
        "subject": t.subject, "customer_id": c.customer_id,
        "customer_name": queries.customer_names(s, [c.customer_id]).get(c.customer_id or ""),
        "contact_id": c.contact_id, "contact_name": contact.name if contact else None,
        "contact_phones": list(contact.phones) if contact else [],
        "agent_id": c.agent_id, "status": c.status, "due_at": c.due_at,
        "overdue": c.status == "due" and c.due_at < at,
        "failed_attempts": c.failed_attempts, "outcome": c.outcome,
        "completed_at": c.completed_at, "version": c.version, "created_at": c.created_at,
        "attempts": [schemas.Attempt.model_validate(a, from_attributes=True) for a in attempts],
    }
    return schemas.Callback.model_validate(data).model_dump(mode="json")


def _visible(s: Session, caller: Caller, callback_id: str) -> Callback:
    query = select(Callback).where(Callback.id == callback_id)
    rule = _scope(caller)
    if rule is not None:
        query = query.where(rule)
    found = s.scalar(query)
    if found is None:
        raise NotFound("callback not found", code="callback_not_found")
    return found


def list_callbacks(uow: UnitOfWork, caller: Caller, query: schemas.CallbackQuery
                   ) -> dict[str, Any]:
    s = uow.session
    q = select(Callback)
    rule = _scope(caller)
    if rule is not None:
        q = q.where(rule)
    for name in ("status", "agent_id", "ticket_id", "customer_id"):
        value = getattr(query, name)
        if value is not None:
            q = q.where(getattr(Callback, name) == value)
    if query.overdue is not None:
        at = common.now()
        late = (Callback.status == "due") & (Callback.due_at < at)
        q = q.where(late if query.overdue else ~late)
    # oldest first: the callback nearest its 72 hours comes first
    rows, cursor = keyset_page(s, q, query.limit, query.cursor,
                               (Callback.created_at, Callback.id))
    return {"items": [callback_out(s, c) for c in rows], "next_cursor": cursor}


def get_callback(uow: UnitOfWork, caller: Caller, callback_id: str) -> dict[str, Any]:
    return callback_out(uow.session, _visible(uow.session, caller, callback_id))


def record_attempt(uow: UnitOfWork, caller: Caller, callback_id: str,
                   data: schemas.AttemptIn) -> dict[str, Any]:
    s = uow.session
    c = _visible(s, caller, callback_id)
    # the ticket first, then the callback: the order every writer locks in
    t = s.get(Ticket, c.ticket_id, with_for_update=True, populate_existing=True)
    c = s.get(Callback, c.id, with_for_update=True, populate_existing=True)
    assert t is not None and c is not None
    CALLBACK.check(c.status, "attempt")
    settings = queries.settings(s)
    decision = rules.decide(data.outcome, data.resolved, data.rating, c.failed_attempts,
                            rules.check_max_attempts(int(settings["callback_max_attempts"])))
    at = common.now()
    s.add(CallbackAttempt(callback_id=c.id, at=at, created_by=caller.user_id,
                          outcome=data.outcome, resolved=data.resolved, rating=data.rating,
                          comment=data.comment))
    if data.outcome != "reached":
        c.failed_attempts += 1
    c.version += 1
    c.updated_at = at
    if decision.action != "attempt":
        c.status = CALLBACK.next(c.status, decision.action)
        c.outcome = "unhappy" if decision.unhappy else data.outcome
        c.completed_at = at
    if data.rating is not None:
        common.rate(uow, t, data.rating, data.comment, "callback", caller.user_id, at)
    actor = caller.user_id
    if decision.ticket == "close" and t.status == "resolved":
        common.close(uow, t, "confirmed", at, actor)
    elif decision.ticket == "close_unreached" and t.status == "resolved":
        common.close(uow, t, "unreached", at, actor)
    elif decision.ticket == "reopen" and t.status in ("resolved", "closed"):
        why = "the customer is not satisfied" if data.resolved else "not resolved"
        common.reopen(uow, t, f"callback: {why}", at, actor)
    if decision.escalate:
        common.escalate(uow, t, "unhappy_callback", at, actor)
    if c.status != "due":
        uow.publish(events.CallbackCompleted(
            id=c.id, ticket_id=t.id, ticket_number=t.number, customer_id=c.customer_id,
            agent_id=c.agent_id, status=c.status, outcome=data.outcome,
            resolved=data.resolved, rating=data.rating, failed_attempts=c.failed_attempts,
            completed_at=at, on_time=at <= c.due_at))
    uow.commit()
    return callback_out(s, c)
