"""Tables of the service desk (its own database, PLT-01)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from crm_platform.db import SequenceTable, SettingsTable, UTCDateTime, messaging_tables, utcnow
from crm_platform.read_models import ContactCopy, CustomerCopy, StaffCopy, TeamCopy
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


MESSAGING = messaging_tables(Base.metadata)
# a ticket with no clock running sorts after every due time
NO_DUE = datetime.fromisoformat("9999-12-31T00:00:00+00:00")


# -- local copies fed by events ----------------------------------------------------------
class Staff(StaffCopy, Base):
    pass


class Team(TeamCopy, Base):
    pass


class Customer(CustomerCopy, Base):
    # kept for looking a caller up by phone (the call centre, SVC-08)
    phones: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)


class Contact(ContactCopy, Base):
    pass


class Setting(SettingsTable, Base):
    pass


class NumberSequence(SequenceTable, Base):
    __tablename__ = "number_sequences"


# -- SLA configuration (SVC-03) ------------------------------------------------------------
class BusinessCalendarRow(Base):
    __tablename__ = "business_calendars"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False)
    # [[weekday, "HH:MM", "HH:MM"], ...]
    hours: Mapped[list[list[Any]]] = mapped_column(JSON, nullable=False)
    holidays: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    workdays: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class SlaPolicy(Base):
    """Targets for tickets of a category and / or priority; ``match_key`` (category/
    priority, ``*`` for any) is unique, so two policies never claim the same tickets."""

    __tablename__ = "sla_policies"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    category: Mapped[str | None] = mapped_column(String(20))
    priority: Mapped[str | None] = mapped_column(String(10))
    match_key: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    first_response_minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    resolution_minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    dispatch_minutes: Mapped[int | None] = mapped_column(Integer)
    calendar_id: Mapped[str | None] = mapped_column(ForeignKey("business_calendars.id"))
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


# -- tickets (SVC-01) ----------------------------------------------------------------------
class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_due", "due_key", "id"),
        Index("ix_tickets_created", "created_at", "id"),
        Index("ix_tickets_customer_created", "customer_id", "created_at"),
        Index("ix_tickets_assignee_status", "assignee_id", "status"),
        Index("ix_tickets_team_status", "team_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True, nullable=False)
    customer_id: Mapped[str | None] = mapped_column(String(36))
    contact_id: Mapped[str | None] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    category: Mapped[str] = mapped_column(String(20), nullable=False)
    channel: Mapped[str] = mapped_column(String(10), nullable=False)
    priority: Mapped[str] = mapped_column(String(10), nullable=False)
    subject: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    # sales publishes no product events yet: the id as sales knows it, and the model,
    # spec and category as the customer or agent states them
    product_id: Mapped[str | None] = mapped_column(String(36))
    product_model: Mapped[str | None] = mapped_column(String(100))
    product_spec: Mapped[str | None] = mapped_column(String(200))
    product_category: Mapped[str | None] = mapped_column(String(100))
    purchase_date: Mapped[date | None] = mapped_column(Date)
    purchase_place: Mapped[str | None] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, index=True)
    assignee_id: Mapped[str | None] = mapped_column(String(36))
    team_id: Mapped[str | None] = mapped_column(String(36))
    created_by: Mapped[str] = mapped_column(String(36), nullable=False)
    source: Mapped[str] = mapped_column(String(10), default="staff", nullable=False)
    resolution: Mapped[str | None] = mapped_column(Text)
    first_responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    close_reason: Mapped[str | None] = mapped_column(String(20))
    reopened_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    escalated_to_id: Mapped[str | None] = mapped_column(String(36))
    sla_policy_id: Mapped[str | None] = mapped_column(String(36))
    sla_policy_name: Mapped[str] = mapped_column(String(200), nullable=False)
    sla_calendar_id: Mapped[str | None] = mapped_column(String(36))
    due_key: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)  # NO_DUE: none
    breached: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class SlaClock(Base):
    """One clock per (ticket, target), durations in microseconds (exact). The sweep
    walks the partial index of clocks still able to breach, by due time."""

    __tablename__ = "sla_clocks"
    __table_args__ = (
        Index("ix_sla_clocks_breachable", "due_at",
              postgresql_where=text("met_at IS NULL AND breached_at IS NULL "
                                    "AND due_at IS NOT NULL"),
              sqlite_where=text("met_at IS NULL AND breached_at IS NULL "
                                "AND due_at IS NOT NULL")),
    )

    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    target: Mapped[str] = mapped_column(String(20), primary_key=True)
    budget_minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    business_hours: Mapped[bool] = mapped_column(Boolean, nullable=False)
    consumed_us: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    running_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_us: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    met_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SlaBreach(Base):
    """A breach, recorded once per (ticket, target): the unique key and the
    ``ticket.sla_breached`` outbox row commit together, so two sweeps racing publish it
    once."""

    __tablename__ = "sla_breaches"
    __table_args__ = (UniqueConstraint("ticket_id", "target", name="uq_sla_breach_target"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), nullable=False)
    target: Mapped[str] = mapped_column(String(20), nullable=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    breached_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    escalation_level: Mapped[int | None] = mapped_column(Integer)
    escalated_to_id: Mapped[str | None] = mapped_column(String(36))


class TicketComment(Base):
    """Public replies (the customer sees them) and internal notes (staff only)."""

    __tablename__ = "ticket_comments"
    __table_args__ = (Index("ix_ticket_comments_ticket", "ticket_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), nullable=False)
    visibility: Mapped[str] = mapped_column(String(10), nullable=False)  # public / internal
    author_kind: Mapped[str] = mapped_column(String(10), nullable=False)  # staff / contact
    created_by: Mapped[str] = mapped_column(String(36), nullable=False)
    author_name: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class TicketLog(Base):
    """What happened to a ticket, in order: status changes, assignments, breaches,
    escalations (``at`` is the moment the clocks used)."""

    __tablename__ = "ticket_log"
    __table_args__ = (Index("ix_ticket_log_ticket", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    actor_id: Mapped[str | None] = mapped_column(String(36))
    action: Mapped[str] = mapped_column(String(30), nullable=False)
    from_status: Mapped[str | None] = mapped_column(String(10))
    to_status: Mapped[str | None] = mapped_column(String(10))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)


# -- work orders (SVC-02) ------------------------------------------------------------------
class WorkOrder(Base):
    __tablename__ = "work_orders"
    __table_args__ = (Index("ix_work_orders_technician_status", "technician_id", "status"),
                      Index("ix_work_orders_created", "created_at", "id"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True, nullable=False)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), nullable=False,
                                           index=True)
    customer_id: Mapped[str | None] = mapped_column(String(36), index=True)
    status: Mapped[str] = mapped_column(String(15), nullable=False)
    technician_id: Mapped[str | None] = mapped_column(String(36))
    product_category: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(300))
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(36), nullable=False)
    dispatched_by: Mapped[str | None] = mapped_column(String(36))
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    work_done: Mapped[str | None] = mapped_column(Text)
    parts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, nullable=False)
    hours: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class TechnicianSkill(Base):
    """A technician's level (1–5) in a product category, for dispatch suggestions."""

    __tablename__ = "technician_skills"

    staff_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    product_category: Mapped[str] = mapped_column(String(100), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, nullable=False)


# -- callbacks and satisfaction (SVC-04, SVC-05) ------------------------------------------
class Callback(Base):
    __tablename__ = "callbacks"
    __table_args__ = (Index("ix_callbacks_status_due", "status", "due_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), nullable=False,
                                           index=True)
    customer_id: Mapped[str | None] = mapped_column(String(36), index=True)
    contact_id: Mapped[str | None] = mapped_column(String(36))
    agent_id: Mapped[str | None] = mapped_column(String(36), index=True)
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    outcome: Mapped[str | None] = mapped_column(String(15))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class CallbackAttempt(Base):
    __tablename__ = "callback_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    callback_id: Mapped[str] = mapped_column(ForeignKey("callbacks.id"), nullable=False,
                                             index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(String(36), nullable=False)
    outcome: Mapped[str] = mapped_column(String(15), nullable=False)
    resolved: Mapped[bool | None] = mapped_column(Boolean)
    rating: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(String(2000))


class SatisfactionRating(Base):
    """One rating per ticket (a later one replaces it), from a callback, the customer's
    own contact in the portal, or an agent recording what the customer said."""

    __tablename__ = "satisfaction_ratings"

    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(String(36), index=True)
    rating: Mapped[int] = mapped_column(Integer, nullable=False)
    comment: Mapped[str | None] = mapped_column(String(2000))
    source: Mapped[str] = mapped_column(String(10), nullable=False)
    # the agent the rating is about (the ticket's assignee then), and the category
    handled_by: Mapped[str | None] = mapped_column(String(36))
    category: Mapped[str] = mapped_column(String(20), nullable=False)
    rated_by: Mapped[str] = mapped_column(String(36), nullable=False)
    rated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)


# -- knowledge base (SVC-06) ---------------------------------------------------------------
class KbArticle(Base):
    __tablename__ = "kb_articles"
    __table_args__ = (Index("ix_kb_articles_created", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True, nullable=False)
    category: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    visibility: Mapped[str] = mapped_column(String(10), nullable=False)
    product_model: Mapped[str | None] = mapped_column(String(100))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    source_ticket_id: Mapped[str | None] = mapped_column(String(36))
    created_by: Mapped[str] = mapped_column(String(36), nullable=False)
    latest_version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class KbVersion(Base):
    __tablename__ = "kb_versions"
    __table_args__ = (UniqueConstraint("article_id", "number", name="uq_kb_version_number"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    article_id: Mapped[str] = mapped_column(ForeignKey("kb_articles.id"), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    effective_from: Mapped[date] = mapped_column(Date, nullable=False)
    effective_to: Mapped[date | None] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(36), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    published_by: Mapped[str | None] = mapped_column(String(36))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class KbTerm(Base):
    """Search terms of published versions (:func:`domain.knowledge.terms`)."""

    __tablename__ = "kb_terms"

    version_id: Mapped[str] = mapped_column(ForeignKey("kb_versions.id"), primary_key=True)
    term: Mapped[str] = mapped_column(String(40), primary_key=True)
    in_title: Mapped[bool] = mapped_column(Boolean, nullable=False)
    __table_args__ = (Index("ix_kb_terms_term", "term"),)


# -- the call centre (SVC-08) --------------------------------------------------------------
class TelephonyConnector(Base):
    """A telephony system that reports calls through the signed webhook; its own secret."""

    __tablename__ = "telephony_connectors"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    secret: Mapped[str] = mapped_column(String(100), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    created_by: Mapped[str] = mapped_column(String(36), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class Call(Base):
    """One phone call, logged by an agent or reported by a connector (``external_id``:
    the telephony's call id, unique per connector)."""

    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("connector_id", "external_id", name="uq_calls_connector_external"),
        Index("ix_calls_agent_started", "agent_id", "started_at"),
        Index("ix_calls_customer_started", "customer_id", "started_at"),
        Index("ix_calls_started", "started_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    connector_id: Mapped[str | None] = mapped_column(String(36))
    external_id: Mapped[str | None] = mapped_column(String(100))
    direction: Mapped[str] = mapped_column(String(10), nullable=False)
    from_number: Mapped[str] = mapped_column(String(40), nullable=False)
    to_number: Mapped[str] = mapped_column(String(40), nullable=False)
    # the customer's side in E.164 (from on an inbound call, to on an outbound one)
    party_number: Mapped[str | None] = mapped_column(String(40), index=True)
    agent_id: Mapped[str | None] = mapped_column(String(36))
    customer_id: Mapped[str | None] = mapped_column(String(36))
    contact_id: Mapped[str | None] = mapped_column(String(36))
    ticket_id: Mapped[str | None] = mapped_column(String(36), index=True)
    # the customer service's follow-up this call was saved as
    followup_id: Mapped[str | None] = mapped_column(String(36))
    lead_id: Mapped[str | None] = mapped_column(String(36))
    call_list_entry_id: Mapped[str | None] = mapped_column(String(36))
    state: Mapped[str] = mapped_column(String(10), nullable=False)
    outcome: Mapped[str | None] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    recording_url: Mapped[str | None] = mapped_column(String(1000))
    notes: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class TelephonyEvent(Base):
    """Each telephony event applied, once: a replayed message (same ``webhook-id``) or
    the same event of a call sent again is recognised here."""

    __tablename__ = "telephony_events"
    __table_args__ = (
        UniqueConstraint("connector_id", "message_id", name="uq_telephony_events_message"),
        UniqueConstraint("connector_id", "external_call_id", "kind",
                         name="uq_telephony_events_call_kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connector_id: Mapped[str] = mapped_column(String(36), nullable=False)
    message_id: Mapped[str] = mapped_column(String(100), nullable=False)
    external_call_id: Mapped[str] = mapped_column(String(100), nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    call_id: Mapped[str] = mapped_column(String(36), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class CallList(Base):
    """An outbound call list built from a source (callbacks due, care reminders, a
    customer segment, or named people)."""

    __tablename__ = "call_lists"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    purpose: Mapped[str] = mapped_column(String(15), nullable=False)
    source: Mapped[str] = mapped_column(String(10), nullable=False)
    segment_id: Mapped[str | None] = mapped_column(String(36))
    # source care: the notification service's care rule whose reminders it was built from
    care_rule_id: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    left_out: Mapped[dict[str, int]] = mapped_column(JSON, default=dict, nullable=False)
    created_by: Mapped[str] = mapped_column(String(36), nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class CallListEntry(Base):
    """One person to call on a list. ``active_key`` is the contact (or customer) while
    the entry is open on an active list: unique, so nobody is on two at once."""

    __tablename__ = "call_list_entries"
    __table_args__ = (Index("ix_call_list_entries_list", "call_list_id", "position"),
                      Index("ix_call_list_entries_agent_status", "agent_id", "status"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    call_list_id: Mapped[str] = mapped_column(ForeignKey("call_lists.id"), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    customer_id: Mapped[str] = mapped_column(String(36), nullable=False)
    contact_id: Mapped[str | None] = mapped_column(String(36))
    phone: Mapped[str] = mapped_column(String(40), nullable=False)
    callback_id: Mapped[str | None] = mapped_column(String(36))
    agent_id: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    outcome: Mapped[str | None] = mapped_column(String(20))
    callback_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    asked_callback: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    last_call_id: Mapped[str | None] = mapped_column(String(36))
    active_key: Mapped[str | None] = mapped_column(String(36), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
