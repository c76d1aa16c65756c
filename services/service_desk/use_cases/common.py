"""What the service desk's use cases share: tickets as the API and the events show them,
the ticket log, status changes with their clocks, escalation and ratings."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from types import EllipsisType
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from crm_platform.db import insert_ignore, utcnow
from crm_platform.read_models import apply_snapshot
from crm_platform.uow import UnitOfWork
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.service_desk import events, schemas
from services.service_desk.db import queries
from services.service_desk.db.models import (
    NO_DUE,
    Callback,
    Contact,
    SatisfactionRating,
    SlaBreach,
    Ticket,
    TicketLog,
)
from services.service_desk.domain import callbacks as callback_rules
from services.service_desk.domain import sla
from services.service_desk.domain.calendar import zone
from services.service_desk.domain.escalation import next_escalation
from services.service_desk.domain.tickets import TICKET, clocks_after

# ``fetch_customer(id)`` / ``fetch_contact(customer_id, id)`` ask the customer service (as
# the caller) for a record this service has not heard of yet; None when there is none
FetchContact = Callable[[str, str], dict[str, Any] | None]
EventT = TypeVar("EventT", bound=events.TicketEvent)
# actions a client can take on a ticket (the machine also has internal ones)
TICKET_ACTIONS = ("open", "set_pending", "resolve", "close", "reopen", "assign", "reply",
                  "note", "escalate", "rate", "edit")


def now() -> datetime:
    return utcnow()


def local_zone(s: Session) -> ZoneInfo:
    return zone(str(queries.settings(s)["timezone"]))


def year_of(s: Session, moment: datetime) -> int:
    return moment.astimezone(local_zone(s)).year


# -- other services' records ---------------------------------------------------------------
def known_contact(uow: UnitOfWork, customer_id: str, contact_id: str,
                  fetch: FetchContact | None) -> Contact | None:
    s = uow.session
    found = s.get(Contact, contact_id)
    if found is None and fetch is not None:
        remote = fetch(customer_id, contact_id)
        if remote is not None:  # the customer service's record lists emails; events
            emails = remote.get("emails") or []  # carry the first as email too
            apply_snapshot(s, Contact, {**remote, "email": emails[0] if emails else None})
            found = s.get(Contact, contact_id)
    return found


# -- tickets out ---------------------------------------------------------------------------
def targets_of(t: Ticket, clocks: list[sla.Clock]) -> sla.Targets:
    return sla.Targets(t.sla_policy_id, t.sla_policy_name, t.sla_calendar_id,
                       {c.target: int(c.budget.total_seconds() // 60) for c in clocks})


def _fields(t: Ticket, names: dict[str, dict[str, str]]) -> dict[str, Any]:
    return {
        "id": t.id, "number": t.number, "customer_id": t.customer_id,
        "customer_name": names["customers"].get(t.customer_id or ""),
        "contact_id": t.contact_id, "contact_name": names["contacts"].get(t.contact_id or ""),
        "kind": t.kind, "category": t.category, "channel": t.channel,
        "priority": t.priority, "subject": t.subject, "status": t.status,
        "assignee_id": t.assignee_id,
        "assignee_name": names["staff"].get(t.assignee_id or ""),
        "team_id": t.team_id, "team_name": names["teams"].get(t.team_id or ""),
        "received_at": t.received_at, "due_at": None if t.due_key == NO_DUE else t.due_key,
        "breached": t.breached, "escalation_level": t.escalation_level, "source": t.source,
        "version": t.version, "created_at": t.created_at, "updated_at": t.updated_at,
    }


def _names(s: Session, tickets: list[Ticket]) -> dict[str, dict[str, str]]:
    return {
        "customers": queries.customer_names(s, (t.customer_id for t in tickets)),
        "contacts": queries.contact_names(s, (t.contact_id for t in tickets)),
        "staff": queries.staff_names(s, (t.assignee_id for t in tickets)),
        "teams": queries.team_names(s, (t.team_id for t in tickets)),
    }


def ticket_items(s: Session, tickets: list[Ticket]) -> list[dict[str, Any]]:
    names = _names(s, tickets)
    return [schemas.TicketListItem.model_validate(
        {**_fields(t, names), "sla_paused": t.status == "pending"}).model_dump(mode="json")
        for t in tickets]


def rating_out(r: SatisfactionRating | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return {"rating": r.rating, "comment": r.comment, "source": r.source,
            "rated_at": r.rated_at}


def ticket_out(s: Session, t: Ticket, new: list[sla.Clock] | None = None
               ) -> dict[str, Any]:
    """The ticket as the API shows it; ``new``: the clocks of a ticket created just now
    (it has no rating yet)."""
    clocks = queries.clocks(s, t.id) if new is None else new
    data = {
        **_fields(t, _names(s, [t])),
        "description": t.description, "product_id": t.product_id,
        "product_model": t.product_model, "product_spec": t.product_spec,
        "product_category": t.product_category, "purchase_date": t.purchase_date,
        "purchase_place": t.purchase_place, "created_by": t.created_by,
        "resolution": t.resolution, "first_responded_at": t.first_responded_at,
        "resolved_at": t.resolved_at, "closed_at": t.closed_at,
        "close_reason": t.close_reason, "reopened_count": t.reopened_count,
        "escalated_to_id": t.escalated_to_id,
        "sla": sla.view(clocks, targets_of(t, clocks), now()),
        "rating": None if new is not None else rating_out(s.get(SatisfactionRating, t.id)),
        "allowed_actions": [a for a in TICKET.allowed_actions(t.status)
                            if a in TICKET_ACTIONS],
    }
    return schemas.Ticket.model_validate(data).model_dump(mode="json")


def ticket_event(s: Session, cls: type[EventT], t: Ticket, **extra: Any) -> EventT:
    customer = queries.customer_names(s, [t.customer_id])
    return cls(id=t.id, number=t.number, ticket_subject=t.subject,
               customer_id=t.customer_id,
               customer_name=customer.get(t.customer_id or ""), contact_id=t.contact_id,
               kind=t.kind, category=t.category, channel=t.channel, priority=t.priority,
               status=t.status, assignee_id=t.assignee_id, team_id=t.team_id,
               source=t.source, **extra)


def log(s: Session, t: Ticket, at: datetime, actor: str | None, action: str,
        from_status: str | None = None, to_status: str | None = None,
        **detail: Any) -> None:
    s.add(TicketLog(ticket_id=t.id, at=at, actor_id=actor, action=action,
                    from_status=from_status, to_status=to_status, detail=detail))


def touch(t: Ticket, at: datetime) -> None:
    t.version += 1
    t.updated_at = at


# -- status changes ------------------------------------------------------------------------
def change_status(uow: UnitOfWork, t: Ticket, action: str, at: datetime,
                  actor: str | None, **detail: Any) -> str:
    """Move the (locked) ticket by ``action``, its clocks with it; log and publish
    ``ticket.status_changed``. Returns the previous status. The step's own event
    (resolved, closed, reopened) is the caller's."""
    s = uow.session
    before = t.status
    after = TICKET.next(before, action)
    calendar = queries.calendar(s, t.sla_calendar_id)
    clocks = clocks_after(action, before, after, queries.clocks(s, t.id), at, calendar)
    t.status = after
    save_clocks(uow, t, clocks, at)
    touch(t, at)
    log(s, t, at, actor, action, before, after, **detail)
    if after != before:
        uow.publish(ticket_event(s, events.TicketStatusChanged, t, from_status=before,
                                 to_status=after))
    return before


def meet_target(uow: UnitOfWork, t: Ticket, target: sla.Target, at: datetime) -> None:
    s = uow.session
    calendar = queries.calendar(s, t.sla_calendar_id)
    clocks = [sla.meet(c, at, calendar) if c.target == target else c
              for c in queries.clocks(s, t.id)]
    save_clocks(uow, t, clocks, at)


def save_clocks(uow: UnitOfWork, t: Ticket, clocks: list[sla.Clock], at: datetime) -> None:
    """Write the (locked) ticket's clocks. A clock met after its due time before the
    sweep reached it is recorded as breached now, as the sweep would have recorded it:
    a target met late is a breach, with its event and its escalation."""
    late = {c.target for c in late_clocks(clocks)}
    queries.save_clocks(uow.session, t, [sla.breach(c, at) if c.target in late else c
                                         for c in clocks])
    if late:
        record_breaches(uow, t, [c for c in clocks if c.target in late], at)


BREACH_TABLE: Any = SlaBreach.__table__


def late_clocks(clocks: list[sla.Clock]) -> list[sla.Clock]:
    """Clocks met after their due time and not yet recorded as breached."""
    return [c for c in clocks if sla.breached(c) and c.breached_at is None]


def record_breaches(uow: UnitOfWork, t: Ticket, clocks: list[sla.Clock], at: datetime,
                    top: str | None | EllipsisType = ...) -> tuple[int, int]:
    """Record the (locked) ticket's ``clocks`` as breached at ``at``: a breach row each
    (unique per ticket and target, so a breach recorded twice inserts and publishes
    nothing more), one escalation, and ``ticket.sla_breached`` each. Returns (breaches
    recorded, escalations)."""
    s = uow.session
    recorded: list[sla.Clock] = []
    for clock in clocks:
        assert clock.due_at is not None
        if not insert_ignore(s, BREACH_TABLE, {"ticket_id": t.id, "target": clock.target,
                                              "due_at": clock.due_at, "breached_at": at}):
            continue
        recorded.append(clock)
        log(s, t, at, None, "sla_breached", target=clock.target,
            due_at=clock.due_at.isoformat())
    escalated = 0
    if recorded:
        targets = {c.target for c in clocks}
        to = escalate(uow, t, f"sla_breached:{sorted(targets)[0]}", at, None, top)
        if to is not None:
            escalated = 1
            for row in s.scalars(select(SlaBreach).where(SlaBreach.ticket_id == t.id,
                                                         SlaBreach.target.in_(targets))):
                row.escalation_level, row.escalated_to_id = t.escalation_level, to
    # published after the escalation, so the breach names who it went to
    for clock in recorded:
        uow.publish(ticket_event(s, events.TicketSlaBreached, t,
                                 target=clock.target, due_at=clock.due_at,
                                 breached_at=at, escalation_level=t.escalation_level,
                                 escalated_to_id=t.escalated_to_id))
    return len(recorded), escalated


def open_callbacks(s: Session, ticket_id: str) -> list[Callback]:
    return list(s.scalars(select(Callback).where(
        Callback.ticket_id == ticket_id, Callback.status == "due").with_for_update()))


def resolve(uow: UnitOfWork, t: Ticket, resolution: str, at: datetime, actor: str) -> None:
    """Resolve the ticket and schedule its callback (SVC-04)."""
    s = uow.session
    change_status(uow, t, "resolve", at, actor)
    t.resolution = resolution
    t.resolved_at = at
    t.first_responded_at = t.first_responded_at or at
    hours = int(queries.settings(s)["callback_hours"])
    callback = Callback(id=str(uuid.uuid4()), ticket_id=t.id, customer_id=t.customer_id,
                        contact_id=t.contact_id, agent_id=t.assignee_id or actor,
                        status="due", due_at=callback_rules.due_at(at, hours),
                        failed_attempts=0, version=1, created_at=at, updated_at=at)
    s.add(callback)
    uow.publish(ticket_event(s, events.TicketResolved, t, resolution=resolution,
                             resolved_at=at, callback_id=callback.id,
                             callback_due_at=callback.due_at))
    uow.publish(events.CallbackScheduled(
        id=callback.id, ticket_id=t.id, ticket_number=t.number, ticket_subject=t.subject,
        customer_id=t.customer_id, contact_id=t.contact_id, agent_id=callback.agent_id,
        due_at=callback.due_at))


def close(uow: UnitOfWork, t: Ticket, reason: str, at: datetime, actor: str) -> None:
    change_status(uow, t, "close", at, actor, close_reason=reason)
    t.closed_at = at
    t.close_reason = reason
    uow.publish(ticket_event(uow.session, events.TicketClosed, t, close_reason=reason,
                             closed_at=at))


def reopen(uow: UnitOfWork, t: Ticket, reason: str, at: datetime, actor: str) -> None:
    """Reopen: the resolution clock runs again; a callback still due is cancelled (the
    ticket will be resolved, and called back, again)."""
    s = uow.session
    change_status(uow, t, "reopen", at, actor, reason=reason)
    t.reopened_count += 1
    t.resolved_at = t.closed_at = t.close_reason = None
    for callback in open_callbacks(s, t.id):
        callback.status = callback_rules.CALLBACK.next(callback.status, "cancel")
        callback.updated_at = at
        callback.version += 1
    uow.publish(ticket_event(s, events.TicketReopened, t, reason=reason,
                             reopened_count=t.reopened_count))


def service_manager(s: Session) -> str | None:
    return queries.service_manager(s, queries.settings(s)["service_manager_id"])


def escalate(uow: UnitOfWork, t: Ticket, reason: str, at: datetime, actor: str | None,
             top: str | None | EllipsisType = ...) -> str | None:
    """Take the (locked) ticket one level up; the user it went to, or None when there is
    no higher level (or nobody there). ``top``: the service manager (None: there is
    none), if the caller has looked them up already."""
    s = uow.session
    step = next_escalation(t.escalation_level,
                           queries.team_manager(s, t.assignee_id, t.team_id),
                           service_manager(s) if isinstance(top, EllipsisType) else top)
    if step is None:
        return None
    t.escalation_level = step.level
    t.escalated_to_id = step.to_user_id
    touch(t, at)
    log(s, t, at, actor, "escalate", level=step.level, escalated_to_id=step.to_user_id,
        reason=reason)
    uow.publish(ticket_event(s, events.TicketEscalated, t, level=step.level,
                             escalated_to_id=step.to_user_id, reason=reason))
    return step.to_user_id


def rate(uow: UnitOfWork, t: Ticket, rating: int, comment: str | None, source: str,
         rated_by: str, at: datetime) -> SatisfactionRating:
    """Record the ticket's rating (replacing an earlier one) and publish it."""
    s = uow.session
    TICKET.check(t.status, "rate")
    row = s.get(SatisfactionRating, t.id, with_for_update=True)
    if row is None:
        row = SatisfactionRating(ticket_id=t.id)
        s.add(row)
    row.customer_id = t.customer_id
    row.rating = rating
    row.comment = comment
    row.source = source
    row.handled_by = t.assignee_id
    row.category = t.category
    row.rated_by = rated_by
    row.rated_at = at
    log(s, t, at, rated_by, "rate", rating=rating, source=source)
    uow.publish(events.SatisfactionRated(
        ticket_id=t.id, ticket_number=t.number, customer_id=t.customer_id, rating=rating,
        comment=comment, source=source, handled_by=t.assignee_id, category=t.category,
        rated_at=at))
    return row


def move_customer(s: Session, model: Any, merged_id: str, survivor_id: str) -> None:
    s.execute(update(model).where(model.customer_id == merged_id)
              .values(customer_id=survivor_id).execution_options(synchronize_session=False))
