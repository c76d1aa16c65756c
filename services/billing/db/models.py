"""Tables of the billing service (its own database, PLT-01).

Amounts are ``Numeric(20, 4)``: 16 digits before the point, as ``crm_platform.money`` and
the sales service allow, and room for every currency's minor unit; the service always
rounds them to the currency's minor unit before storing (``crm_platform.money``).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from crm_platform.db import SequenceTable, SettingsTable, UTCDateTime, messaging_tables, utcnow
from crm_platform.read_models import CustomerCopy, StaffCopy, TeamCopy
from crm_platform.uow import SHOWN_AS
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
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


MESSAGING = messaging_tables(Base.metadata)
MONEY = Numeric(20, 4)


# -- local copies fed by events ----------------------------------------------------------
class BillingCustomer(CustomerCopy, Base):
    """The customer service's customers (``customer.events``): the owner and team scope
    every billing record."""


class Staff(StaffCopy, Base):
    """The gateway's users: names, teams (for escalation and approvals)."""


class StaffTeam(TeamCopy, Base):
    """The gateway's teams: each team's manager and parent."""


# -- payment plans (BIL-01) --------------------------------------------------------------
class PaymentPlan(Base):
    """One per confirmed order (the unique order_id makes a redelivered or republished
    ``order.confirmed`` a no-op). Also the billing copy of the order for exposure and
    sales figures."""

    __tablename__ = "payment_plans"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(36), unique=True, nullable=False)
    order_number: Mapped[str | None] = mapped_column(String(50))
    customer_id: Mapped[str] = mapped_column(String(36), index=True, nullable=False)
    owner_id: Mapped[str | None] = mapped_column(String(36))
    owner_team_id: Mapped[str | None] = mapped_column(String(36))
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, nullable=False)
    status: Mapped[str] = mapped_column(String(12), default="active", nullable=False)
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    signed_on: Mapped[date | None] = mapped_column(Date)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class Installment(Base):
    __tablename__ = "installments"
    __table_args__ = (UniqueConstraint("plan_id", "number"),
                      Index("ix_installments_status_due", "status", "due_date"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("payment_plans.id"), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    percent: Mapped[Decimal] = mapped_column(Numeric(9, 4), nullable=False)
    due_days: Mapped[int] = mapped_column(Integer, nullable=False)
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    due_date: Mapped[date] = mapped_column(Date, nullable=False)
    # pending → invoiced, or cancelled with its order; back to pending when its invoice
    # is voided; waived when there is nothing to collect (zero amount)
    status: Mapped[str] = mapped_column(String(10), default="pending", nullable=False)
    invoice_id: Mapped[str | None] = mapped_column(String(36))


# -- invoices (BIL-02) -------------------------------------------------------------------
class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (Index("ix_invoices_customer_status", "customer_id", "status"),
                      Index("ix_invoices_status_due", "status", "due_date"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[str] = mapped_column(String(30), unique=True, nullable=False)
    type: Mapped[str] = mapped_column(String(15), nullable=False)
    customer_id: Mapped[str] = mapped_column(String(36), nullable=False)
    order_id: Mapped[str | None] = mapped_column(String(36), index=True)
    plan_id: Mapped[str | None] = mapped_column(String(36))
    installment_number: Mapped[int | None] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)  # tax included
    tax_amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    paid_amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"), nullable=False)
    status: Mapped[str] = mapped_column(String(15), nullable=False)
    issue_date: Mapped[date] = mapped_column(Date, nullable=False)
    due_date: Mapped[date] = mapped_column(Date, nullable=False)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    void_reason: Mapped[str | None] = mapped_column(String(500))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, nullable=False)
    notes: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


# -- payments (BIL-03) -------------------------------------------------------------------
class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (Index("ix_payments_customer_received", "customer_id", "received_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[str] = mapped_column(String(30), unique=True, nullable=False)
    customer_id: Mapped[str] = mapped_column(String(36), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    # what is neither allocated to an invoice nor refunded: the customer's credit balance
    unallocated_amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    refunded_amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"),
                                                     nullable=False)
    method: Mapped[str] = mapped_column(String(20), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    payer_account: Mapped[str | None] = mapped_column(String(100))
    reference: Mapped[str | None] = mapped_column(String(100))
    notes: Mapped[str | None] = mapped_column(Text)
    handler_id: Mapped[str | None] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class Allocation(Base):
    """Money of a payment applied to an invoice. A refund adds a negative row, so the paid
    amount of an invoice on any date is the sum of its rows effective by then (ageing as
    of any date)."""

    __tablename__ = "allocations"
    __table_args__ = (Index("ix_allocations_invoice", "invoice_id", "effective_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True,
                                            nullable=False)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), nullable=False)
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    effective_on: Mapped[date] = mapped_column(Date, nullable=False)
    refund_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class Refund(Base):
    __tablename__ = "refunds"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True,
                                            nullable=False)
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    reason: Mapped[str] = mapped_column(String(500), nullable=False)
    refunded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


# -- credit (BIL-05) ---------------------------------------------------------------------
class CreditProfile(Base):
    __tablename__ = "credit_profiles"

    customer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    credit_limit: Mapped[Decimal | None] = mapped_column(MONEY, info={SHOWN_AS: "limit"})
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    hold: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    hold_reason: Mapped[str | None] = mapped_column(String(500))
    rating: Mapped[str | None] = mapped_column(String(1))
    on_time_ratio: Mapped[Decimal | None] = mapped_column(Numeric(7, 4))
    average_days_late: Mapped[Decimal | None] = mapped_column(Numeric(9, 2))
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    updated_by: Mapped[str | None] = mapped_column(String(36))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class CreditReservation(Base):
    """An order whose confirmation passed the credit check and whose payment plan is not
    made yet (``order.confirmed`` is on its way): its amount counts in the customer's
    exposure from the check on, so the exposure read right after a confirmation is the
    new one, and two orders confirmed at once cannot both use the same room."""

    __tablename__ = "credit_reservations"

    order_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(36), index=True, nullable=False)
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    reserved_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True, nullable=False)


# -- dunning (BIL-06) --------------------------------------------------------------------
class DunningEntry(Base):
    """One row per (invoice, step): the unique key is what makes each reminder fire once,
    whichever replica or run gets there first."""

    __tablename__ = "dunning_log"
    __table_args__ = (UniqueConstraint("invoice_id", "step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), nullable=False)
    step: Mapped[int] = mapped_column(Integer, nullable=False)
    offset_days: Mapped[int] = mapped_column(Integer, nullable=False)
    outcome: Mapped[str] = mapped_column(String(10), nullable=False)  # sent / skipped
    as_of: Mapped[date] = mapped_column(Date, nullable=False)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    owner_id: Mapped[str | None] = mapped_column(String(36))
    manager_id: Mapped[str | None] = mapped_column(String(36))
    outstanding: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


# -- expenses (BIL-08) -------------------------------------------------------------------
class Expense(Base):
    __tablename__ = "expenses"
    __table_args__ = (Index("ix_expenses_submitter_status", "submitter_id", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[str] = mapped_column(String(30), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)  # company / personal
    category: Mapped[str] = mapped_column(String(12), nullable=False)
    channel: Mapped[str] = mapped_column(String(8), nullable=False)  # direct / channel
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    description: Mapped[str] = mapped_column(String(1000), nullable=False)
    incurred_on: Mapped[date] = mapped_column(Date, nullable=False)
    region: Mapped[str | None] = mapped_column(String(100))
    customer_id: Mapped[str | None] = mapped_column(String(36), index=True)
    order_id: Mapped[str | None] = mapped_column(String(36))
    campaign_id: Mapped[str | None] = mapped_column(String(36), index=True)
    submitter_id: Mapped[str] = mapped_column(String(36), nullable=False)
    submitter_team_id: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(36))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_comment: Mapped[str | None] = mapped_column(String(1000))
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


# -- stored value (BIL-09) ---------------------------------------------------------------
class StoredValueAccount(Base):
    """A customer's prepaid balance in one currency: the customer's own account, or one
    per member card (``card_id``; migration 0007). ``balance`` is the sum of its
    entries, changed only with a new entry under the account's row lock; the database
    refuses a negative balance too. ``bonus_balance`` is the part of it given as top-up
    bonus (the rest is principal, money paid in)."""

    __tablename__ = "stored_value_accounts"
    __table_args__ = (
        Index("uq_stored_value_accounts_customer", "customer_id", "currency", unique=True,
              postgresql_where=text("card_id IS NULL"), sqlite_where=text("card_id IS NULL")),
        Index("uq_stored_value_accounts_card", "card_id", "currency", unique=True,
              postgresql_where=text("card_id IS NOT NULL"),
              sqlite_where=text("card_id IS NOT NULL")),
        Index("ix_stored_value_accounts_created", "created_at", "id"),
        CheckConstraint("balance >= 0", name="ck_stored_value_balance"),
        CheckConstraint("bonus_balance >= 0 AND bonus_balance <= balance",
                        name="ck_stored_value_bonus"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(36), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    card_id: Mapped[str | None] = mapped_column(String(36))
    card_number: Mapped[str | None] = mapped_column(String(30))
    # the card's status as the customer service last published it (``member_card.changed``,
    # applied by ``card_version``): a frozen or cancelled card's account takes no top-up
    # and pays nothing (migration 0008)
    card_status: Mapped[str | None] = mapped_column(String(20))
    card_version: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    balance: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    bonus_balance: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"),
                                                   nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class StoredValueEntry(Base):
    """One immutable movement of an account (the database refuses UPDATE and DELETE,
    migration 0005): ``amount`` is signed; a spend names the payment it made and the
    invoice it paid."""

    __tablename__ = "stored_value_entries"
    __table_args__ = (Index("ix_stored_value_entries_account", "account_id", "created_at",
                            "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("stored_value_accounts.id"),
                                            nullable=False)
    kind: Mapped[str] = mapped_column(String(15), nullable=False)
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    balance_after: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    # of ``amount`` and ``balance_after``, the bonus part (migration 0007)
    bonus_amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"),
                                                  nullable=False)
    bonus_after: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"), nullable=False)
    method: Mapped[str | None] = mapped_column(String(20))
    reference: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(String(500))
    invoice_id: Mapped[str | None] = mapped_column(String(36))
    payment_id: Mapped[str | None] = mapped_column(String(36), index=True)
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


# -- configuration -----------------------------------------------------------------------
class Setting(SettingsTable, Base):
    """Tunable rules (invoicing lead days, rating thresholds, dunning schedule) as JSON."""


class NumberSequence(SequenceTable, Base):
    """Document number counters (``invoice-2026``): locked in the numbering transaction,
    so numbers never repeat and a rollback gives the number back."""

    __tablename__ = "number_sequences"
