"""Tables of the customer service (its own database, PLT-01)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from crm_platform.db import SequenceTable, SettingsTable, UTCDateTime, messaging_tables, utcnow
from crm_platform.read_models import StaffCopy, TeamCopy
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
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
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


MESSAGING = messaging_tables(Base.metadata)
MONEY = Numeric(18, 2)
# the search text's windows (domain.search.search_windows), looked up by the search
# indexes on PostgreSQL (migration 0009); JSON lists on SQLite, unused there
WINDOWS = ARRAY(Text).with_variant(JSON(), "sqlite")


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        Index("ix_customers_owner_created", "owner_id", "created_at"),
        Index("ix_customers_pool", "owner_id", "last_activity_at"),
        # the default list order (newest first) for callers who see everyone
        Index("ix_customers_created", "created_at", "id"),
        # the public pool newest first, walked in order to fill a page (the pool's list,
        # its branch of a scoped search) instead of sorting every pooled match (0009)
        Index("ix_customers_pool_created", "created_at", "id",
              postgresql_where=text("owner_id IS NULL"), sqlite_where=text("owner_id IS NULL")),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    phones: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    emails: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    tax_id: Mapped[str | None] = mapped_column(String(40))
    industry: Mapped[str | None] = mapped_column(String(100), index=True)
    province: Mapped[str | None] = mapped_column(String(50), index=True)
    city: Mapped[str | None] = mapped_column(String(50))
    district: Mapped[str | None] = mapped_column(String(50))
    region_band: Mapped[str | None] = mapped_column(String(10))
    address: Mapped[str | None] = mapped_column(String(500))
    website: Mapped[str | None] = mapped_column(String(300))
    legal_representative: Mapped[str | None] = mapped_column(String(100))
    registered_capital: Mapped[Decimal | None] = mapped_column(MONEY)
    business_scope: Mapped[str | None] = mapped_column(Text)
    size: Mapped[str | None] = mapped_column(String(50))
    source: Mapped[str | None] = mapped_column(String(100))
    credit_note: Mapped[str | None] = mapped_column(Text)
    category_ids: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    owner_id: Mapped[str | None] = mapped_column(String(36))
    owner_team_id: Mapped[str | None] = mapped_column(String(36), index=True)
    status: Mapped[str] = mapped_column(String(10), default="active", nullable=False)
    merged_into_id: Mapped[str | None] = mapped_column(String(36))
    # classification (CUS-11), recomputed from events
    tier: Mapped[str | None] = mapped_column(String(1), index=True)
    rfm_recency: Mapped[int | None] = mapped_column(Integer)
    rfm_frequency: Mapped[int | None] = mapped_column(Integer)
    rfm_monetary: Mapped[int | None] = mapped_column(Integer)
    lifecycle: Mapped[str] = mapped_column(String(10), default="new", nullable=False)
    stage: Mapped[str] = mapped_column(String(10), default="prospect", nullable=False)
    volume_class: Mapped[str] = mapped_column(String(12), default="occasional", nullable=False)
    paid_revenue: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"), nullable=False)
    paid_orders: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    last_purchase_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_visit_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_followup_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # when the owner last worked the customer (claim, follow-up, visit): drives pool return
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow,
                                                       nullable=False)
    search_text: Mapped[str] = mapped_column(Text, default="", nullable=False)
    # written with search_text (search_columns); never read back by the ORM
    search_bigrams: Mapped[list[str]] = mapped_column(WINDOWS, default=list, nullable=False,
                                                      deferred=True)
    search_digit_grams: Mapped[list[str]] = mapped_column(WINDOWS, default=list,
                                                          nullable=False, deferred=True)
    search_letter_grams: Mapped[list[str]] = mapped_column(WINDOWS, default=list,
                                                           nullable=False, deferred=True)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class PaidOrder(Base):
    """Money billing allocated to one order of a customer, less refunds (CUS-11): the
    order counts in the customer's ``paid_orders`` while money is on it."""

    __tablename__ = "paid_orders"

    order_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(36), index=True, nullable=False)
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)


class CustomerKey(Base):
    """Duplicate guard: each identity key (normalized name, tax id, phone, email) belongs
    to one live customer. The primary key makes the database refuse the second claim."""

    __tablename__ = "customer_keys"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True,
                                             nullable=False)


class CustomerHistory(Base):
    __tablename__ = "customer_history"
    __table_args__ = (Index("ix_customer_history_customer", "customer_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(36), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    actor_id: Mapped[str | None] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    reason: Mapped[str | None] = mapped_column(String(200))


class Staff(StaffCopy, Base):
    """The gateway's users (``crm_platform.read_models``), with the round-robin's
    bookkeeping of this service's own: when a rule last gave someone a customer."""

    last_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StaffTeam(TeamCopy, Base):
    """The gateway's teams (for a rep's manager)."""


class Setting(SettingsTable, Base):
    """Tunable rules (pool days, claim limit, classification thresholds) as JSON."""


class CodeSequence(SequenceTable, Base):
    __tablename__ = "code_sequences"


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True,
                                             nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    title: Mapped[str | None] = mapped_column(String(100))
    phones: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    emails: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    birthday: Mapped[date | None] = mapped_column(Date)
    hobbies: Mapped[str | None] = mapped_column(String(500))
    is_decision_maker: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    notes: Mapped[str | None] = mapped_column(Text)
    marketing_opt_out: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    # how notifications reach the contact: in which language, and the contact's openid
    # with the company's WeChat Official Account
    locale: Mapped[str] = mapped_column(String(10), default="zh-CN", nullable=False)
    wechat_openid: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class AccountTeamMember(Base):
    __tablename__ = "account_team"
    __table_args__ = (UniqueConstraint("customer_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True,
                                             nullable=False)
    user_id: Mapped[str] = mapped_column(String(36), index=True, nullable=False)
    role: Mapped[str] = mapped_column(String(50), default="member", nullable=False)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class CustomerCategory(Base):
    __tablename__ = "customer_categories"
    __table_args__ = (UniqueConstraint("dimension", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(20), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str | None] = mapped_column(String(500))
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class FollowUp(Base):
    """A follow-up record (CUS-09); ``next_followup_on`` is the reminder still open until
    ``next_done``."""

    __tablename__ = "followups"
    __table_args__ = (Index("ix_followups_customer_time", "customer_id", "occurred_at"),
                      Index("ix_followups_owner_next", "owner_id", "next_followup_on"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), nullable=False)
    owner_id: Mapped[str] = mapped_column(String(36), nullable=False)
    method: Mapped[str] = mapped_column(String(20), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    contact_id: Mapped[str | None] = mapped_column(String(36))
    content: Mapped[str] = mapped_column(Text, nullable=False)
    result: Mapped[str | None] = mapped_column(Text)
    next_followup_on: Mapped[date | None] = mapped_column(Date)
    next_done: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class VisitPlan(Base):
    """Visit plan → appointment → visit record → report → review → archived (CUS-10)."""

    __tablename__ = "visit_plans"
    __table_args__ = (Index("ix_visit_plans_owner_status", "owner_id", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True,
                                             nullable=False)
    owner_id: Mapped[str] = mapped_column(String(36), nullable=False)
    purpose: Mapped[str] = mapped_column(String(200), nullable=False)
    content: Mapped[str | None] = mapped_column(Text)
    planned_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    status: Mapped[str] = mapped_column(String(20), default="planned", nullable=False)
    contact_id: Mapped[str | None] = mapped_column(String(36))
    appointment_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    visited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    record: Mapped[str | None] = mapped_column(Text)
    report: Mapped[str | None] = mapped_column(Text)
    reviewer_id: Mapped[str | None] = mapped_column(String(36))
    review_comment: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class AssignmentRuleRow(Base):
    __tablename__ = "assignment_rules"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    priority: Mapped[int] = mapped_column(Integer, default=100, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class SegmentRow(Base):
    __tablename__ = "segments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str | None] = mapped_column(String(1000))
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    owner_id: Mapped[str] = mapped_column(String(36), nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


# -- membership (CUS-17) -----------------------------------------------------------------
class MemberTier(Base):
    """An admin-defined tier (普通, 银卡, 金卡, 钻石): reached at ``threshold`` qualifying
    points; earning is multiplied by ``multiplier``."""

    __tablename__ = "member_tiers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    code: Mapped[str] = mapped_column(String(30), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    threshold: Mapped[int] = mapped_column(Integer, unique=True, nullable=False)
    multiplier: Mapped[Decimal] = mapped_column(Numeric(6, 2), nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class MemberCard(Base):
    """A customer's membership card. ``balance`` and ``qualifying_points`` are the sums
    of its ledger, kept beside it and changed only with a new entry, under the card's
    row lock (two redemptions at once cannot both spend the same points)."""

    __tablename__ = "member_cards"
    __table_args__ = (Index("ix_member_cards_created", "created_at", "id"),
                      CheckConstraint("balance >= 0", name="ck_member_cards_balance"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[str] = mapped_column(String(30), unique=True, nullable=False)
    # one card per customer (a cancelled card keeps it: its ledger stays with it)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), unique=True,
                                             nullable=False)
    status: Mapped[str] = mapped_column(String(10), default="active", nullable=False)
    tier_code: Mapped[str | None] = mapped_column(String(30), index=True)
    balance: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    qualifying_points: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    # what the tier was last set from: the qualifying points, or with a rolling tier
    # period the window's points or whole units paid (migration 0016)
    tier_value: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    issued_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class PointsEntry(Base):
    """One immutable line of a card's points ledger (the database refuses UPDATE and
    DELETE, migration 0014). ``source_event_id`` is the billing event that earned or
    clawed back the points (unique: an event counts once); ``payment_id`` ties claw-backs
    to what the payment earned; ``reverses_id`` (unique) the entry a reversal undoes."""

    __tablename__ = "points_entries"
    __table_args__ = (Index("ix_points_entries_card", "card_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    card_id: Mapped[str] = mapped_column(ForeignKey("member_cards.id"), nullable=False)
    customer_id: Mapped[str] = mapped_column(String(36), nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    points: Mapped[int] = mapped_column(Integer, nullable=False)
    qualifying: Mapped[bool] = mapped_column(Boolean, nullable=False)
    balance_after: Mapped[int] = mapped_column(Integer, nullable=False)
    reason: Mapped[str | None] = mapped_column(String(500))
    payment_id: Mapped[str | None] = mapped_column(String(36), index=True)
    amount: Mapped[Decimal | None] = mapped_column(MONEY)
    currency: Mapped[str | None] = mapped_column(String(3))
    source_event_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    reverses_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    # the part of ``points`` campaign bonus rules gave, and which rules (migration 0016)
    bonus_points: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    bonus_rules: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class PointsBonusRule(Base):
    """A campaign bonus rule (积分活动): extra points on payments received between
    ``starts_on`` and ``ends_on``, optionally only for some tiers, a segment's customers,
    payments from ``min_amount``; ``campaign_id`` names the sales campaign it belongs to."""

    __tablename__ = "points_bonus_rules"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    campaign_id: Mapped[str | None] = mapped_column(String(36), index=True)
    campaign_name: Mapped[str | None] = mapped_column(String(200))
    starts_on: Mapped[date] = mapped_column(Date, nullable=False)
    ends_on: Mapped[date] = mapped_column(Date, nullable=False)
    multiplier: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    fixed_points: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    min_amount: Mapped[Decimal | None] = mapped_column(MONEY)
    tiers: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    segment_id: Mapped[str | None] = mapped_column(String(36))
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
