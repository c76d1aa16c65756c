"""Events the service desk publishes on ``service_desk.events`` (the contract).

Each carries what a notification needs without asking back: the ticket's number and
subject (``ticket_subject``: CloudEvents' ``subject`` is the record's id), the customer
(and contact), and the people to tell (assignee, technician, whoever a ticket escalates
to)."""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar

from crm_platform.events import EventData
from pydantic import BaseModel


class TicketEvent(EventData):
    """Base of the ticket.* events (not published itself): the ticket as it is after the
    change."""

    id: str
    number: str
    ticket_subject: str
    customer_id: str | None
    customer_name: str | None = None
    contact_id: str | None = None
    kind: str
    category: str
    channel: str
    priority: str
    status: str
    assignee_id: str | None = None
    team_id: str | None = None
    source: str = "staff"


class TicketCreated(TicketEvent):
    event_type = "ticket.created"
    received_at: datetime
    next_due_at: datetime | None = None


class TicketAssigned(TicketEvent):
    """Tell the new assignee (or the team's queue)."""

    event_type = "ticket.assigned"
    previous_assignee_id: str | None = None
    previous_team_id: str | None = None
    reason: str = "assigned"  # assigned / handover


class TicketStatusChanged(TicketEvent):
    """Every change of status; ``ticket.resolved``, ``ticket.closed`` and
    ``ticket.reopened`` follow it for those steps."""

    event_type = "ticket.status_changed"
    from_status: str
    to_status: str


class TicketResolved(TicketEvent):
    event_type = "ticket.resolved"
    resolution: str
    resolved_at: datetime
    callback_id: str | None = None
    callback_due_at: datetime | None = None


class TicketClosed(TicketEvent):
    event_type = "ticket.closed"
    close_reason: str  # confirmed / unreached / manual
    closed_at: datetime


class TicketReopened(TicketEvent):
    event_type = "ticket.reopened"
    reason: str
    reopened_count: int


class TicketReplied(TicketEvent):
    """A public reply: staff answered the customer (tell the contact), or the customer's
    contact wrote in the portal (tell the assignee). Internal notes publish nothing."""

    event_type = "ticket.replied"
    comment_id: str
    author_kind: str  # staff / contact
    author_id: str


class TicketSlaBreached(TicketEvent):
    """A target's due time passed unmet; published once per (ticket, target).
    ``escalated_to_id``: who holds the ticket's escalation after the breach (the
    breach escalates it), so one message reaches the assignee and them."""

    event_type = "ticket.sla_breached"
    target: str  # first_response / resolution / dispatch
    due_at: datetime
    breached_at: datetime
    escalation_level: int = 0
    escalated_to_id: str | None = None


class TicketEscalated(TicketEvent):
    """Tell ``escalated_to_id``: level 1 the manager of the assignee's team, level 2 the
    service manager."""

    event_type = "ticket.escalated"
    level: int
    escalated_to_id: str
    reason: str  # sla_breached:<target> / unhappy_callback / manual


class WorkOrderEvent(EventData):
    id: str
    number: str
    ticket_id: str
    ticket_number: str
    ticket_subject: str
    customer_id: str | None
    customer_name: str | None = None
    status: str
    technician_id: str | None = None
    scheduled_at: datetime | None = None
    address: str | None = None


class WorkOrderDispatched(WorkOrderEvent):
    """Tell the technician (``technician_id``); ``previous_technician_id`` when it was
    dispatched to someone else before."""

    event_type = "work_order.dispatched"
    dispatched_by: str
    dispatched_at: datetime
    previous_technician_id: str | None = None


class WorkOrderCompleted(WorkOrderEvent):
    event_type = "work_order.completed"
    completed_at: datetime
    work_done: str
    hours: str


class CallbackScheduled(EventData):
    """A resolved ticket's callback is due: tell ``agent_id`` before ``due_at``."""

    event_type = "callback.scheduled"
    id: str
    ticket_id: str
    ticket_number: str
    ticket_subject: str
    customer_id: str | None
    contact_id: str | None
    agent_id: str | None
    due_at: datetime


class CallbackCompleted(EventData):
    """The callback ended: ``status`` done (reached) or unreached."""

    event_type = "callback.completed"
    id: str
    ticket_id: str
    ticket_number: str
    customer_id: str | None
    agent_id: str | None
    status: str
    outcome: str  # reached / no_answer / wrong_contact
    resolved: bool | None
    rating: int | None
    failed_attempts: int
    completed_at: datetime
    on_time: bool


class SatisfactionRated(EventData):
    event_type = "satisfaction.rated"
    subject_field: ClassVar[str | None] = "ticket_id"
    ticket_id: str
    ticket_number: str
    customer_id: str | None
    rating: int
    comment: str | None
    source: str  # callback / portal / staff
    handled_by: str | None
    category: str
    rated_at: datetime


class KbArticlePublished(EventData):
    event_type = "kb_article.published"
    id: str
    number: str
    version: int
    title: str
    category: str
    kind: str
    visibility: str
    effective_from: date
    effective_to: date | None
    published_by: str


# -- the call centre (SVC-08) --------------------------------------------------------------
class CallerMatch(BaseModel):
    """A customer or contact whose phone is the caller's number (part of call.ringing)."""

    kind: str  # customer / contact
    id: str
    customer_id: str
    name: str
    owner_id: str | None = None


class CallRinging(EventData):
    """A phone is ringing: who is calling, as the lookup found them, so an agent desktop
    subscribed to ``service_desk.events`` (or a webhook) can pop the caller's screen
    before the agent picks up. ``agent_id``: the agent the telephony rang, if it said."""

    event_type = "call.ringing"
    id: str
    direction: str
    from_number: str
    to_number: str
    party_number: str | None
    agent_id: str | None = None
    connector: str | None = None
    external_id: str | None = None
    started_at: datetime
    matches: list[CallerMatch] = []
    open_ticket_ids: list[str] = []


class CallEnded(EventData):
    """A call ended (``state`` ended) or was missed (``state`` missed): for reports,
    missed-call follow-up and the customer's timeline."""

    event_type = "call.ended"
    id: str
    direction: str
    state: str
    party_number: str | None
    agent_id: str | None = None
    customer_id: str | None = None
    contact_id: str | None = None
    ticket_id: str | None = None
    started_at: datetime
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    duration_seconds: int | None = None
    outcome: str | None = None
    recording_url: str | None = None
