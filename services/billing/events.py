"""Events the billing service publishes on ``billing.events`` (the contract).

Amounts are decimal strings with the currency's decimals (``"1234.50"``) beside a
``currency`` code; dates are ISO dates, times ISO datetimes in UTC.
"""

from __future__ import annotations

from datetime import date, datetime

from crm_platform.events import EventData
from pydantic import BaseModel


class InstallmentRef(BaseModel):
    number: int
    percent: str
    amount: str
    due_date: date


class PaymentPlanCreated(EventData):
    """An order's payment plan (BIL-01): one per confirmed order."""

    event_type = "payment_plan.created"
    id: str
    order_id: str
    order_number: str | None = None
    customer_id: str
    owner_id: str | None = None
    currency: str
    amount: str
    installments: list[InstallmentRef]


class PaymentPlanCancelled(EventData):
    """The order was cancelled: its installments not yet invoiced are cancelled."""

    event_type = "payment_plan.cancelled"
    id: str
    order_id: str
    customer_id: str
    cancelled_installments: list[int]
    reason: str | None = None


class InvoiceIssued(EventData):
    event_type = "invoice.issued"
    id: str
    number: str
    type: str
    customer_id: str
    owner_id: str | None = None
    order_id: str | None = None
    plan_id: str | None = None
    installment_number: int | None = None
    currency: str
    amount: str
    tax_amount: str
    issue_date: date
    due_date: date


class InvoicePaid(EventData):
    """Paid in full (``paid_at``: when the last money arrived)."""

    event_type = "invoice.paid"
    subject_field = "invoice_id"
    invoice_id: str
    number: str | None = None
    order_id: str | None = None
    customer_id: str
    amount: str
    currency: str
    paid_at: datetime


class InvoiceOverdue(EventData):
    event_type = "invoice.overdue"
    subject_field = "invoice_id"
    invoice_id: str
    number: str
    customer_id: str
    owner_id: str | None = None
    order_id: str | None = None
    due_date: date
    outstanding: str
    currency: str


class InvoiceVoided(EventData):
    event_type = "invoice.voided"
    subject_field = "invoice_id"
    invoice_id: str
    number: str
    customer_id: str
    order_id: str | None = None
    amount: str
    currency: str
    reason: str
    voided_at: datetime


class InvoiceDunningStep(EventData):
    """A payment reminder is due: notify the owner (and ``manager_id`` when escalated)."""

    event_type = "invoice.dunning_step"
    subject_field = "invoice_id"
    invoice_id: str
    number: str | None = None
    customer_id: str
    owner_id: str | None = None
    manager_id: str | None = None
    step: int
    offset_days: int
    escalated: bool
    due_date: date | None = None
    outstanding: str
    currency: str


class AllocationRef(BaseModel):
    invoice_id: str
    order_id: str | None = None
    amount: str


class PaymentReceived(EventData):
    """Money arrived. ``allocations`` say which invoices (and orders) it paid;
    ``unallocated`` is kept as the customer's credit balance."""

    event_type = "payment.received"
    subject_field = "payment_id"
    payment_id: str
    number: str | None = None
    customer_id: str
    owner_id: str | None = None
    amount: str
    currency: str
    method: str
    received_at: datetime
    unallocated: str = "0"
    allocations: list[AllocationRef] = []


class PaymentAllocated(EventData):
    """Credit balance of an earlier payment was applied to invoices (no new money)."""

    event_type = "payment.allocated"
    subject_field = "payment_id"
    payment_id: str
    customer_id: str
    currency: str
    allocations: list[AllocationRef]


class PaymentRefunded(EventData):
    """Money went back; ``allocations`` are the amounts taken back from invoices."""

    event_type = "payment.refunded"
    subject_field = "payment_id"
    payment_id: str
    refund_id: str
    customer_id: str
    owner_id: str | None = None
    amount: str
    currency: str
    reason: str
    refunded_at: datetime
    allocations: list[AllocationRef] = []


class CreditUpdated(EventData):
    """A customer's credit limit or hold changed."""

    event_type = "credit.updated"
    subject_field = "customer_id"
    customer_id: str
    limit: str | None
    currency: str
    hold: bool
    version: int


class CreditLimitExceeded(EventData):
    """A credit check refused an order (over the limit or on hold)."""

    event_type = "credit.limit_exceeded"
    subject_field = "customer_id"
    customer_id: str
    owner_id: str | None = None
    order_id: str | None = None
    amount: str
    currency: str
    limit: str | None
    exposure: str
    available: str | None
    reason: str


class CreditRatingChanged(EventData):
    event_type = "credit.rating_changed"
    subject_field = "customer_id"
    customer_id: str
    previous_rating: str | None
    rating: str | None
    on_time_ratio: str | None
    average_days_late: str | None


class ExpenseSubmitted(EventData):
    """Waiting for ``approver_id`` (the submitter's team manager, if known)."""

    event_type = "expense.submitted"
    subject_field = "expense_id"
    expense_id: str
    submitter_id: str
    approver_id: str | None = None
    amount: str
    currency: str
    category: str


class ExpenseApproved(EventData):
    event_type = "expense.approved"
    subject_field = "expense_id"
    expense_id: str
    campaign_id: str | None = None
    customer_id: str | None = None
    order_id: str | None = None
    submitter_id: str
    approver_id: str
    kind: str
    channel: str
    amount: str
    currency: str
    category: str
    approved_at: datetime


class ExpenseRejected(EventData):
    event_type = "expense.rejected"
    subject_field = "expense_id"
    expense_id: str
    submitter_id: str
    approver_id: str
    comment: str


class StoredValueChanged(EventData):
    """A stored-value account moved (BIL-09): ``kind`` top_up, spend (``invoice_id`` and
    the ``payment_id`` it made), refund, or payment_refund (a refunded stored-value
    payment put back); ``amount`` is signed, ``balance`` the account's after it."""

    event_type = "stored_value.changed"
    subject_field = "account_id"
    account_id: str
    customer_id: str
    entry_id: str
    kind: str
    amount: str
    currency: str
    balance: str
    invoice_id: str | None = None
    payment_id: str | None = None
    # of ``amount`` / ``balance``, the top-up bonus part; the member card whose account
    # it is (None: the customer's own account)
    bonus_amount: str = "0"
    bonus_balance: str = "0"
    card_id: str | None = None
