"""Tickets (SVC-01): log, list, edit, assign, reply, note, move through the lifecycle,
escalate, rate; the customer 360 section."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from crm_platform.auth import Caller
from crm_platform.errors import ValidationFailed, check_version
from crm_platform.pagination import keyset_page
from crm_platform.read_models import Fetch, copy_of, follow_merges
from crm_platform.uow import UnitOfWork
from sqlalchemy import func, select

from services.service_desk import events, schemas
from services.service_desk.db import queries
from services.service_desk.db.models import (
    NO_DUE,
    Contact,
    Customer,
    SatisfactionRating,
    Staff,
    Team,
    Ticket,
    TicketComment,
    TicketLog,
)
from services.service_desk.domain import sla
from services.service_desk.domain import tickets as rules
from services.service_desk.domain.tickets import TICKET
from services.service_desk.use_cases import common
from services.service_desk.use_cases.common import FetchContact


def _bad(field: str, detail: str, code: str, why: str = "not found") -> ValidationFailed:
    return ValidationFailed(detail, code=code, extra={"errors": [{"field": field,
                                                                  "message": why}]})


def _assignee(uow: UnitOfWork, assignee_id: str | None, team_id: str | None
              ) -> tuple[str | None, str | None]:
    """The assignee (an active user) and the team queue (the assignee's by default)."""
    s = uow.session
    if assignee_id is not None:
        staff = queries.active_staff(s, assignee_id)
        if staff is None:
            raise _bad("assignee_id", "the assignee is not an active user",
                       "invalid_assignee")
        team_id = team_id or staff.team_id
    if team_id is not None and s.get(Team, team_id) is None:
        raise _bad("team_id", "team not found", "invalid_team")
    return assignee_id, team_id


def create_ticket(uow: UnitOfWork, caller: Caller, data: schemas.TicketCreate,
                  fetch_customer: Fetch | None = None,
                  fetch_contact: FetchContact | None = None,
                  also: Callable[[Ticket], None] | None = None) -> dict[str, Any]:
    """``also(ticket)``: more to do in the same transaction (a call becoming a ticket
    links the call)."""
    queries.staff_only(caller)
    s = uow.session
    at = common.now()
    received = rules.received_at(data.received_at, at)
    rules.check_customer(data.kind, data.customer_id)
    customer_id = None
    if data.customer_id is not None:
        customer = copy_of(uow.session, Customer, data.customer_id, fetch_customer)
        if customer is None or not caller.can_see_owner(customer.owner_id):
            raise _bad("customer_id", "customer not found", "unknown_customer")
        customer_id = customer.id
    if data.contact_id is not None:
        contact = common.known_contact(uow, customer_id, data.contact_id, fetch_contact) \
            if customer_id else None
        _check_contact_of(uow, contact, customer_id)
    assignee_id, team_id = _assignee(uow, data.assignee_id, data.team_id)
    targets = sla.targets_for(queries.policies(s), data.category, data.priority)
    calendar = queries.calendar(s, targets.calendar_id)
    clocks = sla.start_clocks(targets, received, calendar)
    if assignee_id is not None:  # handed to a person at once: dispatched
        clocks = [sla.meet(c, at, calendar) if c.target == "dispatch" else c for c in clocks]
    fields = data.model_dump(exclude={"received_at", "assignee_id", "team_id",
                                      "customer_id"})
    year = common.year_of(s, at)
    t = Ticket(id=str(uuid.uuid4()), customer_id=customer_id, received_at=received,
               status="open" if assignee_id else "new", assignee_id=assignee_id,
               team_id=team_id, created_by=caller.user_id, source="staff",
               sla_policy_id=targets.policy_id, sla_policy_name=targets.policy_name,
               sla_calendar_id=targets.calendar_id,
               due_key=sla.next_due(clocks) or NO_DUE, breached=False, version=1,
               created_at=at, updated_at=at, **fields,
               # numbers are taken last: everyone numbering waits for this transaction
               number=rules.ticket_number(year, queries.next_number(s, f"ticket-{year}")))
    s.add(t)
    s.flush()  # the clocks' rows name it
    queries.save_clocks(s, t, clocks, loaded=[])  # a new ticket has no clocks yet
    common.log(s, t, at, caller.user_id, "create", None, t.status, received_at=received)
    uow.publish(common.ticket_event(s, events.TicketCreated, t, received_at=received,
                                    next_due_at=sla.next_due(clocks)))
    if assignee_id or team_id:
        uow.publish(common.ticket_event(s, events.TicketAssigned, t))
    if common.late_clocks(clocks):  # logged already past its dispatch time: a breach
        common.save_clocks(uow, t, clocks, at)
    if also is not None:
        also(t)
    uow.commit()
    return common.ticket_out(s, t, clocks)


def _check_contact_of(uow: UnitOfWork, contact: Contact | None,
                      customer_id: str | None) -> None:
    """The contact exists and is one of the customer's (a merged customer's contacts are
    the survivor's)."""
    owner = follow_merges(uow.session, Customer, contact.customer_id) if contact else None
    owner_id = owner.id if owner is not None else (contact.customer_id if contact else None)
    if contact is None or contact.is_deleted or customer_id is None \
            or owner_id != customer_id:
        raise _bad("contact_id", "the contact is not one of the customer's",
                   "invalid_contact")


def get_ticket(uow: UnitOfWork, caller: Caller, ticket_id: str) -> dict[str, Any]:
    return common.ticket_out(uow.session, queries.visible_ticket(uow.session, caller,
                                                                 ticket_id))


def list_tickets(uow: UnitOfWork, caller: Caller, query: schemas.TicketQuery
                 ) -> dict[str, Any]:
    s = uow.session
    q = select(Ticket)
    rule = queries.ticket_scope(caller)
    if rule is not None:
        q = q.where(rule)
    if query.status:
        statuses = query.status.split(",")
        q = q.where(Ticket.status.in_(statuses) if len(statuses) > 1
                    else Ticket.status == statuses[0])
    for name in ("category", "priority", "kind", "channel", "assignee_id", "team_id",
                 "customer_id", "breached"):
        value = getattr(query, name)
        if value is not None:
            q = q.where(getattr(Ticket, name) == value)
    if query.unassigned is not None:
        q = q.where(Ticket.assignee_id.is_(None) if query.unassigned
                    else Ticket.assignee_id.is_not(None))
    key = (Ticket.due_key, Ticket.id) if query.sort == "due" else (Ticket.created_at,
                                                                    Ticket.id)
    rows, cursor = keyset_page(s, q, query.limit, query.cursor, key,
                               descending=query.sort == "-created")
    return {"items": common.ticket_items(s, rows), "next_cursor": cursor}


def update_ticket(uow: UnitOfWork, caller: Caller, ticket_id: str,
                  data: schemas.TicketUpdate, expected_version: int | None
                  ) -> dict[str, Any]:
    s = uow.session
    t = queries.visible_ticket(s, caller, ticket_id, lock=True)
    check_version(t.version, expected_version, "ticket")
    TICKET.check(t.status, "edit")
    changes = data.model_dump(exclude_unset=True)
    at = common.now()
    if changes.get("contact_id") is not None:
        contact = common.known_contact(uow, t.customer_id, changes["contact_id"], None) \
            if t.customer_id else None
        _check_contact_of(uow, contact, t.customer_id)
    retarget = ("category" in changes and changes["category"] != t.category) or (
        "priority" in changes and changes["priority"] != t.priority)
    for name, value in changes.items():
        setattr(t, name, value)
    if retarget:
        _retarget(uow, t, at)
    common.touch(t, at)
    common.log(s, t, at, caller.user_id, "edit", fields=sorted(changes))
    uow.commit()
    return common.ticket_out(s, t)


def _retarget(uow: UnitOfWork, t: Ticket, at: datetime) -> None:
    """A new category or priority: the matching policy's targets apply from now on; a
    target the ticket no longer has is dropped unless it already breached."""
    s = uow.session
    targets = sla.targets_for(queries.policies(s), t.category, t.priority)
    calendar = queries.calendar(s, targets.calendar_id)
    t.sla_policy_id, t.sla_policy_name = targets.policy_id, targets.policy_name
    t.sla_calendar_id = targets.calendar_id
    current = {c.target: c for c in queries.clocks(s, t.id)}
    kept: list[sla.Clock] = []
    for target, minutes in targets.minutes.items():
        clock = current.pop(target, None)
        if clock is None:
            clock = sla.start(target, minutes, sla.business_hours(target), t.received_at,
                              calendar)
            if target == "dispatch" and t.assignee_id:
                clock = sla.meet(clock, at, calendar)
            if t.status == "pending":
                clock = sla.pause(clock, at, calendar)
        else:
            clock = sla.retarget(clock, minutes, calendar)
        kept.append(clock)
    for target, clock in current.items():
        if sla.breached(clock):
            kept.append(clock)
        else:
            for row in queries.clock_rows(s, t.id):
                if row.target == target:
                    s.delete(row)
    s.flush()
    common.save_clocks(uow, t, kept, at)


def assign_ticket(uow: UnitOfWork, caller: Caller, ticket_id: str,
                  data: schemas.TicketAssign) -> dict[str, Any]:
    s = uow.session
    t = queries.visible_ticket(s, caller, ticket_id, lock=True)
    TICKET.check(t.status, "assign")
    if "assignee_id" not in data.model_fields_set and "team_id" not in data.model_fields_set:
        raise ValidationFailed("give an assignee_id or a team_id", code="nothing_to_assign")
    given_team = data.team_id if "team_id" in data.model_fields_set else None
    assignee_id, team_id = _assignee(uow, data.assignee_id, given_team)
    if "team_id" not in data.model_fields_set and assignee_id is None:
        team_id = t.team_id  # back to the queue it was in
    at = common.now()
    assign(uow, t, assignee_id, team_id, at, caller.user_id, "assigned")
    uow.commit()
    return common.ticket_out(s, t)


def assign(uow: UnitOfWork, t: Ticket, assignee_id: str | None, team_id: str | None,
           at: datetime, actor: str | None, reason: str) -> None:
    """Give the (locked) ticket to a person and / or queue: a new ticket opens, and the
    dispatch target is met by a person."""
    s = uow.session
    previous, previous_team = t.assignee_id, t.team_id
    t.assignee_id, t.team_id = assignee_id, team_id
    if assignee_id is not None:
        common.meet_target(uow, t, "dispatch", at)
    common.touch(t, at)
    common.log(s, t, at, actor, "assign", assignee_id=assignee_id, team_id=team_id,
               previous_assignee_id=previous, reason=reason)
    if assignee_id is not None and t.status == "new":
        common.change_status(uow, t, "open", at, actor)
    uow.publish(common.ticket_event(s, events.TicketAssigned, t,
                                    previous_assignee_id=previous,
                                    previous_team_id=previous_team, reason=reason))


def _comment(uow: UnitOfWork, t: Ticket, visibility: str, author_kind: str,
             author_id: str, author_name: str | None, body: str, at: datetime
             ) -> TicketComment:
    comment = TicketComment(id=str(uuid.uuid4()), ticket_id=t.id, visibility=visibility,
                            author_kind=author_kind, created_by=author_id,
                            author_name=author_name, body=body, created_at=at)
    uow.session.add(comment)
    return comment


def comment_out(c: TicketComment) -> dict[str, Any]:
    return schemas.Comment.model_validate(c, from_attributes=True).model_dump(mode="json")


def _author_name(uow: UnitOfWork, caller: Caller) -> str | None:
    staff = uow.session.get(Staff, caller.user_id)
    return staff.display_name if staff is not None else (caller.display_name or None)


def reply_to_ticket(uow: UnitOfWork, caller: Caller, ticket_id: str,
                    data: schemas.CommentIn) -> dict[str, Any]:
    """A public reply: the customer sees it. The first one meets the first-response
    target; replying to a new ticket opens it."""
    s = uow.session
    t = queries.visible_ticket(s, caller, ticket_id, lock=True)
    TICKET.check(t.status, "reply")
    at = common.now()
    comment = _comment(uow, t, "public", "staff", caller.user_id,
                       _author_name(uow, caller), data.body, at)
    if t.first_responded_at is None:
        t.first_responded_at = at
        common.meet_target(uow, t, "first_response", at)
    common.touch(t, at)
    if t.status == "new":
        common.change_status(uow, t, "open", at, caller.user_id)
    s.flush()
    uow.publish(common.ticket_event(s, events.TicketReplied, t, comment_id=comment.id,
                                    author_kind="staff", author_id=caller.user_id))
    uow.commit()
    return comment_out(comment)


def add_note(uow: UnitOfWork, caller: Caller, ticket_id: str, data: schemas.CommentIn
             ) -> dict[str, Any]:
    """An internal note: staff only, no clock, no event."""
    s = uow.session
    t = queries.visible_ticket(s, caller, ticket_id, lock=True)
    TICKET.check(t.status, "note")
    comment = _comment(uow, t, "internal", "staff", caller.user_id,
                       _author_name(uow, caller), data.body, common.now())
    common.touch(t, comment.created_at)
    uow.commit()
    return comment_out(comment)


def list_comments(uow: UnitOfWork, caller: Caller, ticket_id: str,
                  query: schemas.CommentQuery) -> dict[str, Any]:
    s = uow.session
    t = queries.visible_ticket(s, caller, ticket_id)
    rows, cursor = keyset_page(s, select(TicketComment).where(TicketComment.ticket_id == t.id),
                               query.limit, query.cursor,
                               (TicketComment.created_at, TicketComment.id))
    return {"items": [comment_out(c) for c in rows], "next_cursor": cursor}


def ticket_log(uow: UnitOfWork, caller: Caller, ticket_id: str,
               query: schemas.TicketLogQuery) -> dict[str, Any]:
    s = uow.session
    t = queries.visible_ticket(s, caller, ticket_id)
    rows, cursor = keyset_page(s, select(TicketLog).where(TicketLog.ticket_id == t.id),
                               query.limit, query.cursor, (TicketLog.id,))
    return {"items": [schemas.TicketLogEntry.model_validate(r, from_attributes=True)
                      .model_dump(mode="json") for r in rows], "next_cursor": cursor}


def set_status(uow: UnitOfWork, caller: Caller, ticket_id: str, action: str,
               data: schemas.StatusIn | schemas.ResolveIn | schemas.CloseIn
               | schemas.ReasonIn) -> dict[str, Any]:
    """open / set_pending / resolve / close / reopen."""
    s = uow.session
    t = queries.visible_ticket(s, caller, ticket_id, lock=True)
    at = common.now()
    actor = caller.user_id
    if action == "resolve":
        assert isinstance(data, schemas.ResolveIn)
        common.resolve(uow, t, rules.check_resolution(data.resolution), at, actor)
    elif action == "close":
        common.close(uow, t, "manual", at, actor)
    elif action == "reopen":
        assert isinstance(data, schemas.ReasonIn)
        common.reopen(uow, t, data.reason, at, actor)
    else:
        common.change_status(uow, t, action, at, actor)
    comment = getattr(data, "comment", None)
    if comment:
        _comment(uow, t, "internal", "staff", actor, _author_name(uow, caller), comment, at)
    uow.commit()
    return common.ticket_out(s, t)


def escalate_ticket(uow: UnitOfWork, caller: Caller, ticket_id: str,
                    data: schemas.ReasonIn) -> dict[str, Any]:
    s = uow.session
    t = queries.visible_ticket(s, caller, ticket_id, lock=True)
    TICKET.check(t.status, "escalate")
    if common.escalate(uow, t, f"manual: {data.reason}", common.now(),
                       caller.user_id) is None:
        raise ValidationFailed("the ticket is at the highest level of escalation "
                               "(or nobody is there to take it)", code="cannot_escalate")
    uow.commit()
    return common.ticket_out(s, t)


def rate_ticket(uow: UnitOfWork, caller: Caller, ticket_id: str, data: schemas.RatingIn
                ) -> dict[str, Any]:
    """An agent records the customer's rating (said on the phone, by e-mail…)."""
    s = uow.session
    t = queries.visible_ticket(s, caller, ticket_id, lock=True)
    common.rate(uow, t, data.rating, data.comment, "staff", caller.user_id, common.now())
    uow.commit()
    return common.ticket_out(s, t)


def customer_service_summary(uow: UnitOfWork, caller: Caller, customer_id: str
                             ) -> dict[str, Any]:
    """The customer 360 section (CUS-16): open tickets, the latest satisfaction and the
    latest calls (SVC-08)."""
    s = uow.session
    customer = queries.customer_visible(s, caller, customer_id)
    open_q = select(Ticket).where(Ticket.customer_id == customer.id,
                                  Ticket.status.in_(rules.OPEN_STATUSES))
    open_count = s.scalar(select(func.count()).select_from(open_q.subquery())) or 0
    breached = s.scalar(select(func.count()).select_from(
        open_q.where(Ticket.breached.is_(True)).subquery())) or 0
    latest_open = list(s.scalars(open_q.order_by(Ticket.due_key, Ticket.id).limit(5)))
    total = s.scalar(select(func.count()).select_from(Ticket)
                     .where(Ticket.customer_id == customer.id)) or 0
    rating = s.scalar(select(SatisfactionRating)
                      .where(SatisfactionRating.customer_id == customer.id)
                      .order_by(SatisfactionRating.rated_at.desc()).limit(1))
    latest = None
    if rating is not None:
        latest = {**schemas.RatingOut.model_validate(common.rating_out(rating))
                  .model_dump(mode="json"), "ticket_id": rating.ticket_id}
    from services.service_desk.use_cases.calls import customer_calls  # calls import us

    return {"customer_id": customer.id, "open_tickets": int(open_count),
            "open_breached": int(breached), "tickets_total": int(total),
            "open": common.ticket_items(s, latest_open), "latest_satisfaction": latest,
            "recent_calls": customer_calls(s, customer.id)}
