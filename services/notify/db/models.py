"""Tables of the notification service (its own database, PLT-01)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from crm_platform.db import SettingsTable, UTCDateTime, messaging_tables, utcnow
from crm_platform.read_models import ContactCopy, CustomerCopy, StaffCopy, TeamCopy
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


MESSAGING = messaging_tables(Base.metadata)


# -- local copies fed by events -------------------------------------------------------------
class Staff(StaffCopy, Base):
    """The gateway's users: whom to reach (email, phone) in which language."""

    locale: Mapped[str] = mapped_column(String(10), default="zh-CN", nullable=False)


class Team(TeamCopy, Base):
    """The gateway's teams: an owner's manager."""


class Customer(CustomerCopy, Base):
    """The customer service's customers: their owner, and a person customer's phones and
    emails (a person customer is its own contact)."""

    phones: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    emails: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)


class Contact(ContactCopy, Base):
    """The customer service's contact persons."""


class Setting(SettingsTable, Base):
    """Consent policy (quiet hours, caps, time zone) and bookkeeping, as JSON."""


# -- templates and rules (NTF-02, NTF-04) -----------------------------------------------------
class Template(Base):
    __tablename__ = "templates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    # the event whose payload ``data`` is (its fields are checked when saved)
    event_type: Mapped[str | None] = mapped_column(String(200))
    # {"zh-CN": {"subject", "text", "html"}, "en": {...}}
    bodies: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    sms_template_code: Mapped[str | None] = mapped_column(String(100))
    wechat_template_id: Mapped[str | None] = mapped_column(String(100))
    default_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class Rule(Base):
    __tablename__ = "notification_rules"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    event_type: Mapped[str] = mapped_column(String(200), index=True, nullable=False)
    condition: Mapped[str | None] = mapped_column(Text)
    recipients: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    channels: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    template_id: Mapped[str] = mapped_column(ForeignKey("templates.id"), nullable=False)
    category: Mapped[str] = mapped_column(String(20), default="transactional", nullable=False)
    # {"field", "offset_minutes", "at", "repeat_days"}: sent later, relative to the event
    timing: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    default_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


# -- deliveries (NTF-06) and the inbox (NTF-01) -------------------------------------------------
class Delivery(Base):
    """One message to one recipient on one channel. ``dedup_key`` (rule or request,
    recipient, channel, occurrence) is unique: the same occurrence never makes two."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_due", "status", "due_at"),
        Index("ix_deliveries_recipient", "recipient_kind", "recipient_id", "channel",
              "created_at"),
        Index("ix_deliveries_created", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(400), unique=True, nullable=False)
    rule_id: Mapped[str | None] = mapped_column(String(36), index=True)
    template_id: Mapped[str | None] = mapped_column(String(36))
    event_id: Mapped[str | None] = mapped_column(String(64), index=True)
    event_type: Mapped[str | None] = mapped_column(String(200))
    occurrence: Mapped[str] = mapped_column(String(200), nullable=False)
    recipient_kind: Mapped[str] = mapped_column(String(10), nullable=False)
    recipient_id: Mapped[str] = mapped_column(String(36), nullable=False)
    recipient_name: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(320))
    channel: Mapped[str] = mapped_column(String(10), nullable=False)
    category: Mapped[str] = mapped_column(String(20), nullable=False)
    locale: Mapped[str] = mapped_column(String(10), nullable=False)
    subject: Mapped[str] = mapped_column(Text, default="", nullable=False)
    body_text: Mapped[str] = mapped_column(Text, default="", nullable=False)
    body_html: Mapped[str | None] = mapped_column(Text)
    provider_template: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(12), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)  # why suppressed / deferred / failed
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provider: Mapped[str | None] = mapped_column(String(30))
    provider_message_id: Mapped[str | None] = mapped_column(String(100), index=True)
    provider_response: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class InboxMessage(Base):
    __tablename__ = "inbox_messages"
    __table_args__ = (Index("ix_inbox_recipient", "recipient_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    recipient_id: Mapped[str] = mapped_column(String(36), nullable=False)
    delivery_id: Mapped[str] = mapped_column(String(36), unique=True, nullable=False)
    event_type: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(Text, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class OptOut(Base):
    """Marketing opt-outs recorded here (one-click unsubscribe, RFC 8058), beside the
    contact's own flag in the customer service."""

    __tablename__ = "opt_outs"

    recipient_key: Mapped[str] = mapped_column(String(60), primary_key=True)
    source: Mapped[str] = mapped_column(String(30), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class ProviderToken(Base):
    """Access tokens of providers that issue them (WeChat), shared by every replica."""

    __tablename__ = "provider_tokens"

    provider: Mapped[str] = mapped_column(String(30), primary_key=True)
    token: Mapped[str] = mapped_column(Text, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


# -- reminders and care (NTF-03) --------------------------------------------------------------
class Schedule(Base):
    """A rule's message due later, from one event (a follow-up's date, a delivery's
    service interval). A newer event about the same subject moves it."""

    __tablename__ = "schedules"
    __table_args__ = (UniqueConstraint("rule_id", "subject_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(36), nullable=False)
    subject_key: Mapped[str] = mapped_column(String(200), nullable=False)
    event: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    next_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True, nullable=False)
    occurrence: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class ScheduleRun(Base):
    """A calendar rule's fan-out for one day (birthdays) or holiday: when it last ran
    (the next run looks at contacts copied since)."""

    __tablename__ = "schedule_runs"

    rule_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    occurrence: Mapped[str] = mapped_column(String(100), primary_key=True)
    ran_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    planned: Mapped[int] = mapped_column(Integer, default=0, nullable=False)


class Holiday(Base):
    __tablename__ = "holidays"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    date: Mapped[date] = mapped_column(Date, unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


# -- outbound webhooks (NTF-07) -----------------------------------------------------------------
class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    description: Mapped[str | None] = mapped_column(String(500))
    event_types: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    secret: Mapped[str] = mapped_column(String(100), nullable=False)
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10), default="active", nullable=False)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class WebhookDelivery(Base):
    """One event to one endpoint; ``id`` is the ``webhook-id`` on every attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("endpoint_id", "event_id"),
                      Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
                      Index("ix_webhook_deliveries_endpoint", "endpoint_id", "created_at",
                            "id"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"),
                                             nullable=False)
    event_id: Mapped[str] = mapped_column(String(64), nullable=False)
    event_type: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replay: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(40), index=True, nullable=False)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    response_body: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    trigger: Mapped[str] = mapped_column(String(10), nullable=False)


# -- inbound lead capture ------------------------------------------------------------------------
class InboundSource(Base):
    __tablename__ = "inbound_sources"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True, nullable=False)
    secret: Mapped[str] = mapped_column(String(100), nullable=False)
    owner_id: Mapped[str] = mapped_column(String(36), nullable=False)
    campaign_id: Mapped[str | None] = mapped_column(String(36))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class InboundLead(Base):
    __tablename__ = "inbound_leads"
    __table_args__ = (UniqueConstraint("source_id", "external_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("inbound_sources.id"), nullable=False)
    external_id: Mapped[str] = mapped_column(String(200), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow,
                                                  nullable=False)
