"""Tables of the sales service (its own database, PLT-01)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from crm_platform.db import SequenceTable, SettingsTable, UTCDateTime, messaging_tables, utcnow
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


MESSAGING = messaging_tables(Base.metadata)
MONEY = Numeric(18, 2)
RATE = Numeric(7, 4)


# -- local copies fed by other services' events ----------------------------------------
class CustomerCopy(Base):
    """What sales needs to know about a customer, from ``customer.events`` (never from the
    customer database)."""

    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    owner_id: Mapped[str | None] = mapped_column(String(36), index=True)
    owner_team_id: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(10), default="active", nullable=False)
    merged_into_id: Mapped[str | None] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(Integer, default=0, nullable=False)


class Staff(Base):
    """Users from ``gateway.events``: names and teams (for managers and reports)."""

    __tablename__ = "staff"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200), nullable=False)
    team_id: Mapped[str | None] = mapped_column(String(36), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    parent_id: Mapped[str | None] = mapped_column(String(36))
    manager_id: Mapped[str | None] = mapped_column(String(36))


class Setting(SettingsTable, Base):
    pass


class NumberSequence(SequenceTable, Base):
    """Gap-free document numbers (quotes, orders) per series and year."""

    __tablename__ = "number_sequences"


# -- leads and opportunities (SAL-01, SAL-02) ------------------------------------------
class Lead(Base):
    __tablename__ = "leads"
    __table_args__ = (Index("ix_leads_owner_status", "owner_id", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(10), default="company", nullable=False)
    contact_name: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(String(100))
    campaign_id: Mapped[str | None] = mapped_column(String(36), index=True)
    province: Mapped[str | None] = mapped_column(String(50))
    industry: Mapped[str | None] = mapped_column(String(100))
    estimated_amount: Mapped[Decimal | None] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3), default="CNY", nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(15), default="new", nullable=False)
    disqualify_reason: Mapped[str | None] = mapped_column(String(500))
    owner_id: Mapped[str | None] = mapped_column(String(36))
    owner_team_id: Mapped[str | None] = mapped_column(String(36))
    customer_id: Mapped[str | None] = mapped_column(String(36))
    opportunity_id: Mapped[str | None] = mapped_column(String(36))
    converted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(36), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)


class PipelineStage(Base):
    __tablename__ = "pipeline_stages"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    probability: Mapped[Decimal] = mapped_column(Numeric(5, 2), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)


class Opportunity(Base):
    __tablename__ = "opportunities"
    __table_args__ = (
        Index("ix_opportunities_status_stage", "status", "stage_id"),
        Index("ix_opportunities_owner_status", "owner_id", "status"),
        Index("ix_opportunities_closed", "status", "closed_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    customer_id: Mapped[str] = mapped_column(String(36), index=True, nullable=False)
    owner_id: Mapped[str | None] = mapped_column(String(36))
    owner_team_id: Mapped[str | None] = mapped_column(String(36))
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    stage_id: Mapped[str] = mapped_column(String(36), nullable=False)
    expected_close_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="open", nullable=False)
    lost_reason: Mapped[str | None] = mapped_column(String(500))
    lead_id: Mapped[str | None] = mapped_column(String(36))
    # the customer service's contact the deal is with (a converted lead's contact person)
    contact_id: Mapped[str | None] = mapped_column(String(36))
    campaign_id: Mapped[str | None] = mapped_column(String(36), index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)


class StageChange(Base):
    __tablename__ = "opportunity_stage_changes"
    __table_args__ = (Index("ix_stage_changes_opportunity", "opportunity_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    opportunity_id: Mapped[str] = mapped_column(String(36), nullable=False)
    from_stage_id: Mapped[str | None] = mapped_column(String(36))
    to_stage_id: Mapped[str | None] = mapped_column(String(36))
    from_status: Mapped[str | None] = mapped_column(String(10))
    to_status: Mapped[str] = mapped_column(String(10), nullable=False)
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    changed_by: Mapped[str] = mapped_column(String(36), nullable=False)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


# -- campaigns (SAL-04) -------------------------------------------------------------------
class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    theme: Mapped[str | None] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(15), nullable=False)
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    region: Mapped[str | None] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    budget: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    actual_cost: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"), nullable=False)
    materials: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, nullable=False)
    owner_id: Mapped[str] = mapped_column(String(36), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)


class CampaignCost(Base):
    """One row per approved expense from billing: the campaign's actual cost is their sum,
    and the primary key keeps a redelivered ``expense.approved`` from counting twice."""

    __tablename__ = "campaign_costs"

    expense_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(36), index=True, nullable=False)
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)


# -- products (SAL-05) --------------------------------------------------------------------
class ProductCategory(Base):
    __tablename__ = "product_categories"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    parent_id: Mapped[str | None] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)


class ProductLine(Base):
    __tablename__ = "product_lines"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    category_id: Mapped[str | None] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("code", "product_version"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    code: Mapped[str] = mapped_column(String(50), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    product_version: Mapped[str] = mapped_column(String(30), default="1", nullable=False)
    category_id: Mapped[str | None] = mapped_column(String(36))
    line_id: Mapped[str | None] = mapped_column(String(36))
    unit: Mapped[str] = mapped_column(String(20), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    list_price: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    tax_rate: Mapped[Decimal] = mapped_column(RATE, nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    materials: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)


# -- quotes and orders (SAL-06, SAL-07) ----------------------------------------------------
class Quote(Base):
    __tablename__ = "quotes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[str] = mapped_column(String(30), unique=True, nullable=False)
    customer_id: Mapped[str] = mapped_column(String(36), index=True, nullable=False)
    opportunity_id: Mapped[str | None] = mapped_column(String(36))
    owner_id: Mapped[str | None] = mapped_column(String(36))
    owner_team_id: Mapped[str | None] = mapped_column(String(36))
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    tax_amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    max_discount_percent: Mapped[Decimal] = mapped_column(Numeric(5, 2), nullable=False)
    valid_until: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="draft", nullable=False)
    approver_id: Mapped[str | None] = mapped_column(String(36))
    decided_by: Mapped[str | None] = mapped_column(String(36))
    decision_comment: Mapped[str | None] = mapped_column(String(1000))
    order_id: Mapped[str | None] = mapped_column(String(36))
    created_by: Mapped[str] = mapped_column(String(36), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_owner_status", "owner_id", "status"),
        Index("ix_orders_confirmed", "status", "confirmed_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[str] = mapped_column(String(30), unique=True, nullable=False)
    customer_id: Mapped[str] = mapped_column(String(36), index=True, nullable=False)
    quote_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    opportunity_id: Mapped[str | None] = mapped_column(String(36))
    owner_id: Mapped[str | None] = mapped_column(String(36))
    owner_team_id: Mapped[str | None] = mapped_column(String(36))
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    tax_amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    payment_terms: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    key_terms: Mapped[str | None] = mapped_column(Text)
    signed_at: Mapped[date | None] = mapped_column(Date)
    signer: Mapped[str | None] = mapped_column(String(100))
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    contract_document_id: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="draft", nullable=False)
    credit_override_by: Mapped[str | None] = mapped_column(String(36))
    last_credit_check: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    paid_amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"), nullable=False)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_reason: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(36), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)


class OrderPayment(Base):
    """Money billing allocated to (or refunded from) an order, one row per (billing event,
    order): the order's paid amount is their sum, safe against a redelivered event."""

    __tablename__ = "order_payments"

    # "paid:<event id>" or "refund:<event id>"
    source_key: Mapped[str] = mapped_column(String(80), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)


class Delivery(Base):
    __tablename__ = "order_deliveries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(36), index=True, nullable=False)
    delivered_on: Mapped[date] = mapped_column(Date, nullable=False)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    carrier: Mapped[str | None] = mapped_column(String(100))
    tracking_number: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(36), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


# -- targets and work logs (SAL-08, SAL-09) --------------------------------------------------
class SalesTarget(Base):
    __tablename__ = "sales_targets"
    __table_args__ = (UniqueConstraint("subject_kind", "subject_id", "period"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(4), nullable=False)  # rep | team
    subject_id: Mapped[str] = mapped_column(String(36), nullable=False)
    period: Mapped[str] = mapped_column(String(7), nullable=False)  # 2026, 2026-Q3, 2026-07
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    created_by: Mapped[str] = mapped_column(String(36), nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)


class WorkLog(Base):
    __tablename__ = "work_logs"
    __table_args__ = (Index("ix_work_logs_author_day", "author_id", "day"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    author_id: Mapped[str] = mapped_column(String(36), nullable=False)
    kind: Mapped[str] = mapped_column(String(5), nullable=False)  # log | plan
    day: Mapped[date] = mapped_column(Date, nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    customer_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)


# -- analytics rollups, maintained in the same transaction as each opportunity change ------
class OpenPipelineTotal(Base):
    """Open opportunities per owner, stage and expected close month: the funnel and the
    forecast read these few rows instead of scanning every opportunity."""

    __tablename__ = "open_pipeline_totals"

    owner_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    stage_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    close_month: Mapped[str] = mapped_column(String(7), primary_key=True)  # "" = undated
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)


class ClosedPipelineTotal(Base):
    """Won and lost opportunities per owner, team and close month (win / loss figures)."""

    __tablename__ = "closed_pipeline_totals"

    owner_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(36), primary_key=True)  # "" = no team
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    closed_month: Mapped[str] = mapped_column(String(7), primary_key=True)
    status: Mapped[str] = mapped_column(String(4), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    cycle_days: Mapped[Decimal] = mapped_column(Numeric(18, 4), nullable=False)
