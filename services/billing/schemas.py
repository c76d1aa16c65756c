"""RPC inputs and outputs of the billing service (also the gateway's API models).

Money travels as decimal strings (``"1234.50"``, ``AmountIn``) beside an ISO 4217
currency code; JSON numbers are refused for amounts (they are floats to most clients).
An update's field whose column cannot be emptied is typed without None: leaving it out
keeps it, ``null`` is a 422.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from crm_platform.inputs import AmountIn, Currency, Ref, Strict, kept
from crm_platform.pagination import Page, PageQuery
from pydantic import BaseModel, ConfigDict, Field

DecimalIn = Annotated[str, Field(pattern=r"^\d{1,12}(\.\d{1,6})?$", examples=["0.13"])]
Money = Annotated[str, Field(description="decimal string", examples=["1234.50"])]
InvoiceType = Literal["vat_special", "vat_ordinary", "other"]
InvoiceStatus = Literal["issued", "partially_paid", "paid", "overdue", "void"]
PlanStatus = Literal["active", "cancelled"]
InstallmentStatus = Literal["pending", "invoiced", "cancelled", "waived"]
# how money is received (a top-up of stored value too)
ReceivedMethod = Literal["bank_transfer", "cash", "cheque", "acceptance_bill", "other"]
# a payment's method: money received, or stored value spent on an invoice (BIL-09; only
# through ``POST /stored-value-accounts/{id}/spend``)
PaymentMethod = Literal["bank_transfer", "cash", "cheque", "acceptance_bill", "other",
                        "stored_value"]
GroupBy = Literal["customer", "rep", "team"]
ExpenseKind = Literal["company", "personal"]
ExpenseCategory = Literal["travel", "lodging", "venue", "rent", "pr", "promotion", "other"]
ExpenseChannel = Literal["direct", "channel"]
ExpenseStatus = Literal["draft", "submitted", "approved", "rejected"]
# the day a job or a report runs as of: the runs add up to ten years of dunning offsets,
# lead days or a day to it, and past 9999-12-31 there is no date (a 502)
AsOf = Annotated[date, Field(ge=date(1900, 1, 1), le=date(2999, 12, 31))]


# -- payment plans -----------------------------------------------------------------------
class InstallmentOut(BaseModel):
    number: int
    percent: str
    due_days: int
    amount: Money
    due_date: date
    invoice_id: str | None
    status: InstallmentStatus


class PaymentPlan(BaseModel):
    id: str
    order_id: str
    order_number: str | None
    customer_id: str
    customer_name: str | None
    owner_id: str | None
    currency: str
    amount: Money
    status: PlanStatus
    confirmed_at: datetime
    signed_on: date | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    installments: list[InstallmentOut]
    version: int
    created_at: datetime
    updated_at: datetime


class PaymentPlanPage(Page[PaymentPlan]):
    pass


class PaymentPlanQuery(PageQuery):
    order_id: str | None = None
    customer_id: str | None = None
    status: PlanStatus | None = None


class InstallmentInvoiceIn(Strict):
    type: InvoiceType | None = Field(None, description="default: the billing setting")
    notes: str | None = Field(None, max_length=2000)


# -- invoices ----------------------------------------------------------------------------
class InvoiceLineIn(Strict):
    description: str = Field(min_length=1, max_length=300)
    quantity: DecimalIn = "1"
    unit_price: AmountIn = Field(description="tax included")
    tax_rate: DecimalIn = "0"
    product_id: Ref | None = None


class InvoiceCreate(Strict):
    customer_id: Ref
    order_id: Ref | None = None
    type: InvoiceType
    currency: Currency
    due_date: date
    issue_date: date | None = Field(None, description="default today")
    lines: list[InvoiceLineIn] = Field(min_length=1, max_length=200)
    notes: str | None = Field(None, max_length=2000)


class InvoiceLineOut(BaseModel):
    description: str
    product_id: str | None = None
    quantity: str
    unit_price: str
    tax_rate: str
    amount: Money
    tax_amount: Money


class Invoice(BaseModel):
    id: str
    number: str
    type: InvoiceType
    customer_id: str
    customer_name: str | None
    order_id: str | None
    plan_id: str | None
    installment_number: int | None
    currency: str
    amount: Money = Field(description="tax included")
    tax_amount: Money
    net_amount: Money
    paid_amount: Money
    outstanding: Money
    status: InvoiceStatus
    issue_date: date
    due_date: date
    paid_at: datetime | None
    voided_at: datetime | None
    void_reason: str | None
    lines: list[InvoiceLineOut]
    notes: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class InvoicePage(Page[Invoice]):
    pass


class InvoiceQuery(PageQuery):
    order_id: str | None = None
    customer_id: str | None = None
    status: InvoiceStatus | None = None


class VoidRequest(Strict):
    reason: str = Field(min_length=1, max_length=500)


class DunningLogEntry(BaseModel):
    step: int
    offset_days: int
    outcome: Literal["sent", "skipped"]
    as_of: date
    escalated: bool
    owner_id: str | None
    manager_id: str | None
    outstanding: Money
    currency: str
    created_at: datetime


class DunningLog(BaseModel):
    invoice_id: str
    items: list[DunningLogEntry]


# -- payments ----------------------------------------------------------------------------
class AllocationIn(Strict):
    invoice_id: Ref
    amount: AmountIn


class PaymentCreate(Strict):
    customer_id: Ref
    amount: AmountIn
    currency: Currency
    method: ReceivedMethod
    received_at: datetime
    payer_account: str | None = Field(None, max_length=100)
    reference: str | None = Field(None, max_length=100)
    notes: str | None = Field(None, max_length=2000)
    allocations: list[AllocationIn] | None = Field(
        None, max_length=200, description="default: oldest due invoices first; the rest "
        "is kept as the customer's credit balance")


class AllocationOut(BaseModel):
    invoice_id: str
    invoice_number: str | None
    order_id: str | None
    amount: Money = Field(description="negative: taken back by a refund")
    effective_on: date
    refund_id: str | None


class RefundOut(BaseModel):
    id: str
    amount: Money
    reason: str
    refunded_at: datetime
    created_by: str | None


class Payment(BaseModel):
    id: str
    number: str
    customer_id: str
    customer_name: str | None
    amount: Money
    currency: str
    method: PaymentMethod
    received_at: datetime
    payer_account: str | None
    reference: str | None
    notes: str | None
    handler_id: str | None
    allocated_amount: Money
    unallocated_amount: Money
    refunded_amount: Money
    allocations: list[AllocationOut]
    refunds: list[RefundOut]
    version: int
    created_at: datetime


class PaymentPage(Page[Payment]):
    pass


class PaymentQuery(PageQuery):
    customer_id: str | None = None
    method: PaymentMethod | None = None


class RefundRequest(Strict):
    amount: AmountIn
    reason: str = Field(min_length=1, max_length=500)
    refunded_at: datetime | None = Field(None, description="default now")


class AllocateRequest(Strict):
    allocations: list[AllocationIn] | None = Field(
        None, max_length=200, description="default: oldest due invoices first")


# -- receivables and ageing ---------------------------------------------------------------
class ReceivableQuery(PageQuery):
    customer_id: str | None = None
    owner_id: str | None = None
    currency: Currency | None = None


class Receivable(BaseModel):
    customer_id: str
    customer_name: str | None
    owner_id: str | None
    owner_team_id: str | None
    currency: str
    open_invoices: int
    invoiced: Money = Field(description="amount of the open invoices")
    paid: Money = Field(description="paid so far on the open invoices")
    outstanding: Money
    overdue: Money = Field(description="outstanding past the due date")


class ReceivablePage(Page[Receivable]):
    pass


class AgeingQuery(Strict):
    as_of: AsOf | None = Field(None, description="default today")
    group_by: GroupBy = "customer"
    currency: Currency | None = None
    customer_id: str | None = None


class AgeingRow(BaseModel):
    key: str | None = Field(description="customer, rep or team id (null: none)")
    name: str | None
    currency: str
    invoices: int
    buckets: dict[str, Money] = Field(
        description="current (not yet due), 0-30, 31-60, 61-90, 90+ days past due")
    total: Money


class AgeingTotal(BaseModel):
    currency: str
    invoices: int
    buckets: dict[str, Money]
    total: Money


class AgeingReport(BaseModel):
    as_of: date
    group_by: GroupBy
    bucket_names: list[str]
    rows: list[AgeingRow]
    totals: list[AgeingTotal]


# -- credit ------------------------------------------------------------------------------
class CreditProfile(BaseModel):
    customer_id: str
    customer_name: str | None
    limit: Money | None
    currency: str
    hold: bool
    hold_reason: str | None
    rating: Literal["A", "B", "C", "D"] | None
    on_time_ratio: str | None
    average_days_late: str | None
    rated_at: datetime | None
    open_receivables: Money
    uninvoiced_orders: Money
    confirming_orders: Money = Field(
        description="orders confirmed moments ago whose payment plan billing is still "
        "making: counted in the exposure from their credit check on")
    computing: bool = Field(description="true while such orders are being taken in: the "
                            "exposure already counts them, the receivables will follow")
    exposure: Money
    available: Money | None
    credit_balance: Money = Field(description="unallocated payments kept for later")
    version: int
    updated_at: datetime | None


class CreditUpdate(Strict):
    limit: AmountIn | None = Field(description="null: no limit")
    currency: Currency
    hold: bool = kept(description="left out: as it is")  # cannot be cleared
    hold_reason: str | None = Field(None, max_length=500)


class CreditCheckRequest(Strict):
    amount: AmountIn
    currency: Currency
    order_id: Ref | None = None


class CreditCheckResult(BaseModel):
    allowed: bool
    reason: Literal["ok", "over_limit", "credit_hold"]
    limit: Money | None
    exposure: Money
    available: Money | None
    rating: str | None
    currency: str
    detail: str | None = None


# -- dunning and settings ------------------------------------------------------------------
# at most ten years either side of the due date: an integer past 64 bits cannot be
# written to the settings' JSON, and a run cannot add billions of days to a date
OffsetDays = Annotated[int, Field(ge=-3650, le=3650)]


class DunningSettings(Strict):
    offsets: list[OffsetDays] = Field([-3, 0, 7, 15, 30], min_length=1, max_length=20,
                                      description="days from the due date, increasing")
    escalate_from_step: int = Field(4, ge=1, le=21, description="from this step (1-based) "
                                    "the owner's manager is told too; one past the last: "
                                    "never")


class JobRun(Strict):
    as_of: AsOf | None = Field(None, description="default today")
    customer_id: Ref | None = Field(None, description="only this customer's records")


class DunningRunResult(BaseModel):
    as_of: date
    invoices: int
    sent: int
    skipped: int


class GradeThreshold(Strict):
    min_on_time_ratio: DecimalIn
    max_average_days_late: DecimalIn


class BillingSettings(Strict):
    invoice_lead_days: int = Field(7, ge=0, le=365, description="installments are "
                                   "invoiced this many days before they are due")
    default_invoice_type: InvoiceType = "vat_ordinary"
    default_currency: Currency = "CNY"
    rating: dict[Literal["A", "B", "C"], GradeThreshold] | None = None


class BillingJobRun(JobRun):
    job: Literal["installments", "overdue", "dunning", "ratings"]


class BillingJobResult(BaseModel):
    job: str
    as_of: date
    processed: int


# -- statements and reports ----------------------------------------------------------------
class StatementQuery(Strict):
    model_config = ConfigDict(populate_by_name=True)  # merged with Strict's

    customer_id: str
    from_: AsOf = Field(alias="from")
    to: AsOf
    currency: Currency | None = Field(None, description="default: the billing currency")


class StatementLine(BaseModel):
    date: date
    kind: Literal["invoice", "invoice_void", "payment", "refund"]
    reference_id: str
    number: str
    debit: Money
    credit: Money
    balance: Money


class Statement(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    customer_id: str
    customer_name: str | None
    currency: str
    from_: date = Field(alias="from")
    to: date
    opening_balance: Money
    total_debit: Money
    total_credit: Money
    closing_balance: Money
    lines: list[StatementLine]


class PeriodQuery(Strict):
    model_config = ConfigDict(populate_by_name=True)  # merged with Strict's

    from_: AsOf = Field(alias="from")
    to: AsOf
    group_by: Literal["rep", "customer", "team"] = "rep"
    currency: Currency | None = None


class PeriodRow(BaseModel):
    key: str | None
    name: str | None
    currency: str
    sales_amount: Money = Field(description="orders confirmed in the period")
    invoiced: Money = Field(description="invoices issued in the period, not void")
    received: Money = Field(description="payments received less refunds made")
    refunded: Money
    receivable: Money = Field(description="outstanding at the end of the period")
    expenses: Money = Field(description="approved expenses incurred in the period")


class PeriodTotal(BaseModel):
    currency: str
    sales_amount: Money
    invoiced: Money
    received: Money
    refunded: Money
    receivable: Money
    expenses: Money


class PeriodReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    group_by: str
    rows: list[PeriodRow]
    totals: list[PeriodTotal]


# -- expenses ----------------------------------------------------------------------------
class ExpenseCreate(Strict):
    kind: ExpenseKind
    category: ExpenseCategory
    channel: ExpenseChannel = "direct"
    amount: AmountIn
    currency: Currency = "CNY"
    description: str = Field(min_length=1, max_length=1000)
    incurred_on: date
    region: str | None = Field(None, max_length=100)
    customer_id: Ref | None = None
    order_id: Ref | None = None
    campaign_id: Ref | None = None


class ExpenseUpdate(Strict):
    # the region and the links can be cleared; the rest are NOT NULL
    kind: ExpenseKind = kept()
    category: ExpenseCategory = kept()
    channel: ExpenseChannel = kept()
    amount: AmountIn = kept()
    currency: Currency = kept()
    description: str = kept(min_length=1, max_length=1000)
    incurred_on: date = kept()
    region: str | None = Field(None, max_length=100)
    customer_id: Ref | None = None
    order_id: Ref | None = None
    campaign_id: Ref | None = None


class Expense(BaseModel):
    id: str
    number: str
    kind: ExpenseKind
    category: ExpenseCategory
    channel: ExpenseChannel
    amount: Money
    currency: str
    description: str
    incurred_on: date
    region: str | None
    customer_id: str | None
    order_id: str | None
    campaign_id: str | None
    submitter_id: str
    submitter_team_id: str | None
    status: ExpenseStatus
    approver_id: str | None = Field(None, description="who is to approve it (submitted: "
                                    "the submitter's team manager)")
    submitted_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    decision_comment: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class ExpensePage(Page[Expense]):
    pass


class ExpenseQuery(PageQuery):
    status: ExpenseStatus | None = None
    submitter_id: str | None = None
    campaign_id: str | None = None
    customer_id: str | None = None
    category: ExpenseCategory | None = None


class ExpenseDecision(Strict):
    comment: str | None = Field(None, max_length=1000)


class CampaignCost(BaseModel):
    campaign_id: str
    currency: str
    approved: Money
    pending: Money
    expenses: int


class CampaignCostQuery(Strict):
    campaign_id: str


class CampaignCostReport(BaseModel):
    items: list[CampaignCost]


# -- stored value (BIL-09) ----------------------------------------------------------------
StoredValueKind = Literal["top_up", "spend", "refund", "payment_refund"]


class StoredValueAccountIn(Strict):
    customer_id: Ref
    currency: Currency
    card_id: Ref | None = Field(None, description="a member card of the customer: the "
                                "card's own account (one per card and currency); absent: "
                                "the customer's own account")


class StoredValueAccount(BaseModel):
    id: str
    customer_id: str
    customer_name: str | None
    card_id: str | None = None
    card_number: str | None = None
    card_status: Literal["active", "frozen", "cancelled"] | None = Field(
        None, description="a card account's card as billing last heard of it: frozen, it "
        "takes no top-up and pays nothing; cancelled, only its principal may be refunded")
    currency: str
    balance: Money = Field(description="the sum of the account's entries; never negative: "
                           "principal + bonus")
    principal_balance: Money = Field(description="of the balance, money paid in")
    bonus_balance: Money = Field(description="of the balance, top-up bonus (not refundable)")
    version: int
    created_at: datetime
    updated_at: datetime


class StoredValueAccountPage(Page[StoredValueAccount]):
    pass


class StoredValueAccountQuery(PageQuery):
    customer_id: str | None = None
    card_id: str | None = Field(None, max_length=36)
    currency: Currency | None = None
    sort: Literal["-created_at", "created_at", "-balance"] = "-created_at"


class TopUpIn(Strict):
    amount: AmountIn
    currency: Currency
    method: ReceivedMethod
    reference: str | None = Field(None, max_length=100)


class SpendIn(Strict):
    invoice_id: Ref
    amount: AmountIn
    currency: Currency


class StoredValueRefundIn(Strict):
    amount: AmountIn
    currency: Currency
    reason: str = Field(min_length=1, max_length=500)
    method: ReceivedMethod = "bank_transfer"


class StoredValueEntry(BaseModel):
    id: str
    account_id: str
    kind: StoredValueKind
    amount: Money = Field(description="signed: what the entry did to the balance")
    principal_amount: Money = Field(description="of amount, the principal")
    bonus_amount: Money = Field(description="of amount, the bonus (a top-up's bonus, a "
                                "spend's bonus part, a refund's forfeited bonus)")
    currency: str
    balance_after: Money
    principal_after: Money
    bonus_after: Money
    method: str | None
    reference: str | None
    reason: str | None
    invoice_id: str | None
    payment_id: str | None
    created_by: str | None
    created_at: datetime


class StoredValueEntryPage(Page[StoredValueEntry]):
    pass


class StoredValueEntryQuery(PageQuery):
    kind: StoredValueKind | None = None
    sort: Literal["-created_at", "created_at"] = "-created_at"


class StoredValuePosting(BaseModel):
    """An entry posted and the account after it."""

    entry: StoredValueEntry
    account: StoredValueAccount


class StoredValueStatementQuery(Strict):
    model_config = ConfigDict(populate_by_name=True)  # merged with Strict's

    account_id: Ref
    from_: AsOf = Field(alias="from")
    to: AsOf


class StoredValueStatementPart(BaseModel):
    opening: Money
    credit: Money
    debit: Money
    closing: Money


class StoredValueStatement(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    account_id: str
    customer_id: str
    currency: str
    from_: date = Field(alias="from")
    to: date
    opening_balance: Money
    total_credit: Money
    total_debit: Money
    closing_balance: Money = Field(description="opening + credits - debits, exactly")
    principal: StoredValueStatementPart = Field(description="the same for the principal")
    bonus: StoredValueStatementPart = Field(description="the same for the bonus")
    entries: list[StoredValueEntry]


class StoredValueBonusTier(Strict):
    currency: Currency
    min_amount: AmountIn = Field(description="a top-up of at least this much …")
    bonus: AmountIn = Field(description="… gets this bonus on top (the highest tier "
                            "reached, once per top-up)")


class StoredValueSettings(Strict):
    top_up_bonus: list[StoredValueBonusTier] = Field(
        default_factory=list, max_length=50, description="top-up bonus tiers (充值赠送); "
        "empty: no bonus")


class StoredValueBalanceQuery(Strict):
    customer_id: Ref


class StoredValueCurrencyBalance(BaseModel):
    currency: str
    balance: Money
    principal_balance: Money
    bonus_balance: Money
    accounts: list[StoredValueAccount] = Field(description="the customer's own account "
                                               "and its cards' accounts; balance is "
                                               "their sum")


class StoredValueBalances(BaseModel):
    customer_id: str
    balances: list[StoredValueCurrencyBalance]
