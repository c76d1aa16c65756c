"""RPC inputs and outputs of the sales service (also the gateway's API models).

Money is a decimal string beside a currency code (``AmountIn``: a JSON number is a 422),
with no more decimals than the currency has (checked in the use cases). An update's
field whose column cannot be emptied is typed without None, so leaving it out keeps it
and ``null`` is a 422."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, Self, get_args

from crm_platform import inputs, money
from crm_platform.inputs import AmountIn, Phone, Ref, Strict, kept
from crm_platform.pagination import Page, PageQuery, one_or_more
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)


def _sales_keeps_its_decimals(code: str) -> str:
    # the amount columns are NUMERIC(18, 2): a third decimal (KWD, BHD) would be rounded
    # away on the insert, silently
    if money.minor_units(code) > 2:
        raise ValueError(f"{code} has {money.minor_units(code)} decimals; sales keeps "
                         "amounts to 2")
    return code


# an ISO 4217 code whose amounts the sales columns hold exactly
Currency = Annotated[inputs.Currency, AfterValidator(_sales_keeps_its_decimals)]
LeadStatus = Literal["new", "contacted", "qualified", "disqualified", "converted"]
OpportunityStatus = Literal["open", "won", "lost"]
QuoteStatus = Literal["draft", "pending_approval", "approved", "rejected", "converted",
                      "superseded"]
OrderStatus = Literal["draft", "pending_approval", "confirmed", "in_delivery", "completed",
                      "cancelled"]
CampaignKind = Literal["advertising", "launch", "promotion", "event", "other"]
# the shapes of the non-money NUMERIC columns and JSON figures
Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2)]  # (5, 2)
TaxRate = Annotated[Decimal, Field(ge=0, le=1, max_digits=7, decimal_places=4,
                                   description="0.13 = 13 %")]  # RATE, NUMERIC(7, 4)
Quantity = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=4)]


class Out(BaseModel):
    """A record as the API answers it. Its ``money_fields`` are written with exactly the
    record's currency's decimals: the column keeps two, so a yen amount read back was
    "6000.00" where the write had answered "6000"."""

    model_config = ConfigDict(from_attributes=True)
    money_fields: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _in_the_currencys_decimals(self) -> Self:
        currency = getattr(self, "currency", None)
        if not isinstance(currency, str):
            return self
        for name in self.money_fields:
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, money.rounded(value, currency))
        return self


class Reason(Strict):
    reason: str = Field(min_length=1, max_length=500)


class Comment(Strict):
    comment: str | None = Field(None, max_length=1000)


class Material(Strict):
    document_id: str | None = Field(None, max_length=100, description="documents service id")
    title: str = Field(min_length=1, max_length=200)
    url: str | None = Field(None, max_length=1000)


# -- leads (SAL-01) -------------------------------------------------------------------------
class LeadIn(Strict):
    name: str = Field(min_length=1, max_length=200, description="company or person")
    kind: Literal["company", "person"] = "company"
    contact_name: str | None = Field(None, max_length=100)
    phone: Phone | None = None
    email: str | None = Field(None, max_length=200)
    source: str | None = Field(None, max_length=100)
    campaign_id: Ref | None = None
    province: str | None = Field(None, max_length=50)
    industry: str | None = Field(None, max_length=100)
    estimated_amount: AmountIn | None = None
    currency: Currency = "CNY"
    note: str | None = Field(None, max_length=4000)
    owner_id: Ref | None = Field(None, description="default: whoever enters the lead")


class LeadUpdate(Strict):
    # the name cannot be cleared; every other field can
    name: str = kept(min_length=1, max_length=200)
    contact_name: str | None = Field(None, max_length=100)
    phone: Phone | None = None
    email: str | None = Field(None, max_length=200)
    source: str | None = Field(None, max_length=100)
    province: str | None = Field(None, max_length=50)
    industry: str | None = Field(None, max_length=100)
    estimated_amount: AmountIn | None = None
    note: str | None = Field(None, max_length=4000)


class LeadAssign(Strict):
    owner_id: Ref


class LeadConvert(Strict):
    opportunity_name: str | None = Field(None, max_length=200)
    amount: AmountIn | None = Field(None, description="default: the lead's estimate")
    expected_close_date: date | None = None
    stage_id: Ref | None = Field(None, description="default: the first stage")


class Lead(Out):
    money_fields = ("estimated_amount",)
    id: str
    name: str
    kind: str
    contact_name: str | None
    phone: str | None
    email: str | None
    source: str | None
    campaign_id: str | None
    province: str | None
    industry: str | None
    estimated_amount: Decimal | None
    currency: str
    note: str | None
    status: LeadStatus
    disqualify_reason: str | None
    owner_id: str | None
    customer_id: str | None
    opportunity_id: str | None
    converted_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


class LeadPage(Page[Lead]):
    pass


class LeadQuery(PageQuery):
    status: LeadStatus | None = None
    owner_id: str | None = None
    campaign_id: str | None = None
    q: str | None = Field(None, max_length=100)


class LeadConversion(BaseModel):
    customer_id: str
    opportunity_id: str
    lead: Lead


# -- pipeline and opportunities (SAL-02) ----------------------------------------------------
class StageIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    probability: Percent = Field(description="win probability in percent")
    position: int = Field(ge=0, le=1000)


class StageUpdate(Strict):
    # every column of a stage is NOT NULL: each may be left out, none cleared
    name: str = kept(min_length=1, max_length=100)
    probability: Percent = kept()
    position: int = kept(ge=0, le=1000)
    is_active: bool = kept()


class Stage(Out):
    id: str
    name: str
    probability: Decimal
    position: int
    is_active: bool
    version: int


class StagePage(Page[Stage]):
    pass


class OpportunityIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    customer_id: Ref
    amount: AmountIn
    currency: Currency = "CNY"
    stage_id: Ref | None = Field(None, description="default: the first stage")
    expected_close_date: date | None = None
    campaign_id: Ref | None = None


class OpportunityUpdate(Strict):
    # name and amount cannot be cleared; the close date and the campaign can
    name: str = kept(min_length=1, max_length=200)
    amount: AmountIn = kept()
    expected_close_date: date | None = None
    campaign_id: Ref | None = None


class StageMove(Strict):
    stage_id: Ref


class Opportunity(Out):
    money_fields = ("amount",)
    id: str
    name: str
    customer_id: str
    owner_id: str | None
    amount: Decimal
    currency: str
    stage_id: str
    stage_name: str | None = None
    probability: Decimal | None = None
    expected_close_date: date | None
    status: OpportunityStatus
    lost_reason: str | None
    lead_id: str | None
    contact_id: str | None = Field(None, description="the customer's contact the deal is "
                                   "with: a converted lead's contact person")
    campaign_id: str | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


class OpportunityPage(Page[Opportunity]):
    pass


class OpportunityQuery(PageQuery):
    status: OpportunityStatus | None = None
    stage_id: str | None = None
    owner_id: str | None = None
    customer_id: str | None = None


class StageChange(Out):
    id: int
    from_stage_id: str | None
    to_stage_id: str | None
    from_status: str | None
    to_status: str
    amount: Decimal
    changed_by: str
    changed_at: datetime


class StageHistory(Page[StageChange]):
    pass


# -- analytics (SAL-03) ----------------------------------------------------------------------
# a year (1900-2999), a quarter or a month
Period = Annotated[str, Field(pattern=r"^(19\d\d|2\d\d\d)(-(Q[1-4]|0[1-9]|1[0-2]))?$",
                              description="YYYY, YYYY-Qn or YYYY-MM")]


class AnalyticsQuery(Strict):
    """What every analytics report filters on: the opportunities' currency, owner (a rep,
    or a team and its sub-teams) and close date (expected while open, actual once
    closed)."""

    currency: Currency = "CNY"
    owner_id: str | None = None
    team_id: str | None = None
    period: Period | None = Field(None, description="the close date's year, quarter or "
                                  "month: YYYY, YYYY-Qn or YYYY-MM")


class WinLossQuery(AnalyticsQuery):
    group_by: Literal["rep", "team", "period", "none"] = Field(
        "none", description="rows per rep, team or close month beside the total")


class FunnelStage(BaseModel):
    stage_id: str
    stage: str
    position: int
    probability: str
    count: int
    amount: str
    weighted_amount: str


class Funnel(BaseModel):
    currency: str
    stages: list[FunnelStage]
    total_count: int
    total_amount: str
    total_weighted_amount: str


class WinLossRow(BaseModel):
    key: str | None
    won: int
    lost: int
    closed: int
    win_rate: str | None
    lost_rate: str | None
    won_amount: str
    average_cycle_days: str | None


class WinLoss(BaseModel):
    currency: str
    group_by: str
    rows: list[WinLossRow]
    total: WinLossRow


class ForecastMonth(BaseModel):
    month: str
    count: int
    amount: str
    weighted_amount: str


class Forecast(BaseModel):
    currency: str
    months: list[ForecastMonth]
    total_amount: str
    total_weighted_amount: str


class RebuildResult(BaseModel):
    rebuilt: bool


# -- campaigns (SAL-04) ----------------------------------------------------------------------
class CampaignIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    theme: str | None = Field(None, max_length=500)
    kind: CampaignKind
    start_date: date | None = None
    end_date: date | None = None
    region: str | None = Field(None, max_length=100)
    currency: Currency = "CNY"
    budget: AmountIn
    materials: list[Material] = Field(default_factory=list, max_length=50)


class CampaignUpdate(Strict):
    # name, budget and materials cannot be cleared; theme, dates and region can
    name: str = kept(min_length=1, max_length=200)
    theme: str | None = Field(None, max_length=500)
    start_date: date | None = None
    end_date: date | None = None
    region: str | None = Field(None, max_length=100)
    budget: AmountIn = kept()
    materials: list[Material] = kept(max_length=50, description="[] removes all")


class Campaign(Out):
    money_fields = ("budget", "actual_cost")
    id: str
    name: str
    theme: str | None
    kind: str
    start_date: date | None
    end_date: date | None
    region: str | None
    currency: str
    budget: Decimal
    actual_cost: Decimal
    materials: list[dict[str, Any]]
    owner_id: str
    created_at: datetime
    version: int


class CampaignPage(Page[Campaign]):
    pass


class CampaignRoi(BaseModel):
    campaign_id: str
    currency: str
    budget: str
    actual_cost: str
    leads: int
    converted_leads: int
    won_opportunities: int
    won_revenue: str
    cost_per_lead: str | None
    roi: str | None


# -- products (SAL-05) -----------------------------------------------------------------------
class ProductCategoryIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    parent_id: Ref | None = None


class ProductCategory(Out):
    id: str
    name: str
    parent_id: str | None
    version: int


class ProductCategoryPage(Page[ProductCategory]):
    pass


class ProductLineIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    category_id: Ref | None = None


class ProductLine(Out):
    id: str
    name: str
    category_id: str | None
    version: int


class ProductLinePage(Page[ProductLine]):
    pass


class ProductIn(Strict):
    code: str = Field(min_length=1, max_length=50)
    name: str = Field(min_length=1, max_length=200)
    product_version: str = Field("1", min_length=1, max_length=30,
                                 description="the product's release, e.g. V2.1")
    category_id: Ref | None = None
    line_id: Ref | None = None
    unit: str = Field(min_length=1, max_length=20)
    currency: Currency = "CNY"
    list_price: AmountIn
    tax_rate: TaxRate = Decimal("0.13")
    materials: list[Material] = Field(default_factory=list, max_length=50)


class ProductUpdate(Strict):
    # only the category and the line can be cleared
    name: str = kept(min_length=1, max_length=200)
    category_id: Ref | None = None
    line_id: Ref | None = None
    unit: str = kept(min_length=1, max_length=20)
    list_price: AmountIn = kept()
    tax_rate: TaxRate = kept()
    is_active: bool = kept()
    materials: list[Material] = kept(max_length=50, description="[] removes all")


class Product(Out):
    money_fields = ("list_price",)
    id: str
    code: str
    name: str
    product_version: str
    category_id: str | None
    line_id: str | None
    unit: str
    currency: str
    list_price: Decimal
    tax_rate: Decimal
    is_active: bool
    materials: list[dict[str, Any]]
    created_at: datetime
    version: int


class ProductPage(Page[Product]):
    pass


class ProductQuery(PageQuery):
    code: str | None = None
    category_id: str | None = None
    line_id: str | None = None
    include_inactive: bool = False


# -- quotes and orders (SAL-06, SAL-07) ----------------------------------------------------------
class LineIn(Strict):
    product_id: Ref
    quantity: Quantity
    unit_price: AmountIn | None = Field(None, description="default: the list price")
    discount_percent: Percent = Decimal("0")


class Line(BaseModel):
    product_id: str
    product_name: str
    unit: str
    quantity: str
    unit_price: str
    discount_percent: str
    effective_discount_percent: str | None = Field(
        None, description="how far the line's amount is below quantity × list price, "
        "whatever fields express it; this is what the discount approval threshold is "
        "compared with. null: priced in a currency other than the list price's (such a "
        "line always needs approval)")
    tax_rate: str
    amount: str
    tax_amount: str


class QuoteIn(Strict):
    customer_id: Ref
    opportunity_id: Ref | None = None
    currency: Currency = "CNY"
    lines: list[LineIn] = Field(min_length=1, max_length=200)
    valid_until: date | None = None
    note: str | None = Field(None, max_length=4000)


class QuoteUpdate(Strict):
    # a quote always has lines; the validity date and the note can be cleared
    lines: list[LineIn] = kept(min_length=1, max_length=200)
    valid_until: date | None = None
    note: str | None = Field(None, max_length=4000)


class Quote(Out):
    money_fields = ("amount", "tax_amount")
    id: str
    number: str
    customer_id: str
    opportunity_id: str | None
    owner_id: str | None
    currency: str
    lines: list[Line]
    amount: Decimal
    tax_amount: Decimal
    max_discount_percent: Decimal
    valid_until: date | None
    note: str | None
    status: QuoteStatus
    approver_id: str | None
    decided_by: str | None
    decision_comment: str | None
    order_id: str | None
    created_at: datetime
    updated_at: datetime
    version: int


class QuotePage(Page[Quote]):
    pass


class QuoteQuery(PageQuery):
    customer_id: str | None = None
    opportunity_id: str | None = None
    status: QuoteStatus | None = None


class Installment(Strict):
    # billing keeps it as NUMERIC(9, 4)
    percent: Decimal = Field(gt=0, le=100, max_digits=7, decimal_places=4)
    due_days: int = Field(ge=0, le=3650, description="days after confirmation")


class PaymentTerms(Strict):
    installments: list[Installment] = Field(
        default_factory=list, description="empty: all due on confirmation")


class OrderFields(Strict):
    key_terms: str | None = Field(None, max_length=8000)
    signed_at: date | None = None
    signer: str | None = Field(None, max_length=100)
    start_date: date | None = None
    end_date: date | None = None
    contract_document_id: str | None = Field(None, max_length=100)


class OrderIn(OrderFields):
    customer_id: Ref
    currency: Currency = "CNY"
    lines: list[LineIn] = Field(min_length=1, max_length=200)
    payment_terms: PaymentTerms = Field(default_factory=PaymentTerms)
    opportunity_id: Ref | None = None


class QuoteConvert(OrderFields):
    payment_terms: PaymentTerms = Field(default_factory=PaymentTerms)


class OrderUpdate(OrderFields):
    # an order always has lines and terms (the order fields above can all be cleared)
    lines: list[LineIn] = kept(min_length=1, max_length=200)
    payment_terms: PaymentTerms = kept(description="no installments: all due on "
                                        "confirmation")


class OrderApprove(Strict):
    credit_override: bool = Field(
        False, description="confirm even though the customer is over their credit limit")
    comment: str | None = Field(None, max_length=1000)


class Order(Out):
    money_fields = ("amount", "tax_amount", "paid_amount")
    id: str
    number: str
    customer_id: str
    quote_id: str | None
    opportunity_id: str | None
    owner_id: str | None
    currency: str
    lines: list[Line]
    amount: Decimal
    tax_amount: Decimal
    payment_terms: dict[str, Any]
    key_terms: str | None
    signed_at: date | None
    signer: str | None
    start_date: date | None
    end_date: date | None
    contract_document_id: str | None
    status: OrderStatus
    credit_override_by: str | None
    last_credit_check: dict[str, Any] | None
    paid_amount: Decimal
    paid_status: Literal["unpaid", "partially_paid", "paid"]
    confirmed_at: datetime | None
    completed_at: datetime | None
    cancelled_reason: str | None
    created_at: datetime
    updated_at: datetime
    version: int


class OrderPage(Page[Order]):
    pass


class OrderQuery(PageQuery):
    customer_id: str | None = None
    status: str | None = Field(None, description="one or more statuses, comma-separated",
                               examples=["confirmed,in_delivery"])
    owner_id: str | None = None

    @field_validator("status")
    @classmethod
    def _statuses(cls, value: str | None) -> str | None:
        return one_or_more(value, get_args(OrderStatus))


class DeliveryLine(Strict):
    product_id: Ref
    quantity: Quantity  # as the order's lines have it


class DeliveryIn(Strict):
    delivered_on: date
    lines: list[DeliveryLine] = Field(default_factory=list, max_length=200)
    carrier: str | None = Field(None, max_length=100)
    tracking_number: str | None = Field(None, max_length=100)
    note: str | None = Field(None, max_length=4000)
    completes_order: bool = Field(False, description="this delivery completes the order")


class Delivery(Out):
    id: str
    order_id: str
    delivered_on: date
    lines: list[dict[str, Any]]
    carrier: str | None
    tracking_number: str | None
    note: str | None
    recorded_by: str
    recorded_at: datetime


class DeliveryPage(Page[Delivery]):
    pass


class SalesSettings(Strict):
    quote_discount_approval_percent: Percent = Field(
        Decimal("10"),
        description="a quote with any line discounted more than this needs the manager")
    # below a tenth of a second every credit check would time out before billing answers
    credit_check_timeout_seconds: float = Field(5, ge=0.1, le=60)


# -- targets and work logs (SAL-08, SAL-09) -------------------------------------------------------
class TargetIn(Strict):
    subject_kind: Literal["rep", "team"]
    subject_id: Ref
    period: str = Field(description="YYYY, YYYY-Qn or YYYY-MM")
    amount: AmountIn
    currency: Currency = "CNY"


class TargetUpdate(Strict):
    amount: AmountIn


class Target(Out):
    money_fields = ("amount", "achieved")
    id: str
    subject_kind: str
    subject_id: str
    period: str
    amount: Decimal
    currency: str
    achieved: Decimal = Decimal("0")
    achievement: str | None = None
    version: int


class TargetPage(Page[Target]):
    pass


class TargetQuery(PageQuery):
    period: str | None = None
    subject_id: str | None = None


class WorkLogIn(Strict):
    kind: Literal["log", "plan"]
    day: date
    content: str = Field(min_length=1, max_length=8000)
    customer_id: Ref | None = None


class WorkLogUpdate(Strict):
    content: str = Field(min_length=1, max_length=8000)


class WorkLog(Out):
    id: str
    author_id: str
    kind: str
    day: date
    content: str
    customer_id: str | None
    created_at: datetime
    updated_at: datetime
    version: int


class WorkLogPage(Page[WorkLog]):
    pass


class WorkLogQuery(PageQuery):
    author_id: str | None = None
    kind: Literal["log", "plan"] | None = None
    day_from: date | None = None
    day_to: date | None = None
