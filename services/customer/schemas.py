"""RPC inputs and outputs of the customer service (also the gateway's API models).

Every input fits its column (``crm_platform.inputs``); an update's field whose column
cannot be emptied is typed without None, so leaving it out keeps it and ``null`` is a 422."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from crm_platform.errors import ValidationFailed
from crm_platform.inputs import AmountIn, Phone, Ref, Strict, kept
from crm_platform.pagination import Page, PageQuery
from pydantic import BaseModel, Field, RootModel, ValidationError, create_model

CustomerKind = Literal["company", "person"]
RegionBand = Literal["urban", "county", "township"]
Tier = Literal["A", "B", "C"]
Lifecycle = Literal["new", "general", "loyal", "at_risk", "lost"]
Stage = Literal["prospect", "active", "former"]
VolumeClass = Literal["key_account", "general", "occasional"]
OwnerChangeReason = Literal[
    "created", "claim", "release", "transfer", "handover", "assignment", "pool_return", "merge"
]
# a custom attribute's value; JSON numbers only finite (jsonb holds no NaN or Infinity)
Scalar = str | int | Annotated[float, Field(allow_inf_nan=False)] | bool | None
# a whole number of days a setting or a condition counts (a century at most: past
# that, the dates they reach overflow)
Days = Annotated[int, Field(ge=1, le=36500)]
# registered capital in yuan, as the business licence states it (NUMERIC(18, 2))
Capital = Annotated[AmountIn, Field(decimal_places=2)]


class Region(Strict):
    province: str | None = Field(None, max_length=50)
    city: str | None = Field(None, max_length=50)
    district: str | None = Field(None, max_length=50)
    band: RegionBand | None = Field(None, description="urban / county / township")


class OwnerRef(BaseModel):
    id: str
    display_name: str


class CustomerFields(Strict):
    """Fields a client may set on create and update (CUS-01)."""

    industry: str | None = Field(None, max_length=100)
    region: Region | None = None
    address: str | None = Field(None, max_length=500)
    website: str | None = Field(None, max_length=300)
    tax_id: str | None = Field(None, max_length=40)
    legal_representative: str | None = Field(None, max_length=100)
    registered_capital: Capital | None = None
    business_scope: str | None = Field(None, max_length=2000)
    size: str | None = Field(None, max_length=50)
    source: str | None = Field(None, max_length=100)
    credit_note: str | None = Field(None, max_length=1000)
    category_ids: list[Ref] = Field(default_factory=list, max_length=20)
    tags: list[str] = Field(default_factory=list, max_length=50)
    attributes: dict[str, Scalar] = Field(default_factory=dict, max_length=100)


class CustomerCreate(CustomerFields):
    name: str = Field(min_length=1, max_length=200)
    kind: CustomerKind
    phone: Phone | None = Field(None, description="main phone")
    email: str | None = Field(None, max_length=320, description="main email")
    phones: list[Phone] = Field(default_factory=list, max_length=10)
    emails: list[str] = Field(default_factory=list, max_length=10)
    owner_id: Ref | None = Field(
        None, description="owner; default by assignment rules (collector owns it)")


class CustomerUpdate(Strict):
    # name and the lists cannot be cleared (send [] to empty a list); the rest can
    name: str = kept(min_length=1, max_length=200)
    phones: list[Phone] = kept(max_length=10)
    emails: list[str] = kept(max_length=10)
    industry: str | None = Field(None, max_length=100)
    region: Region | None = None
    address: str | None = Field(None, max_length=500)
    website: str | None = Field(None, max_length=300)
    tax_id: str | None = Field(None, max_length=40)
    legal_representative: str | None = Field(None, max_length=100)
    registered_capital: Capital | None = None
    business_scope: str | None = Field(None, max_length=2000)
    size: str | None = Field(None, max_length=50)
    source: str | None = Field(None, max_length=100)
    credit_note: str | None = Field(None, max_length=1000)
    category_ids: list[Ref] = kept(max_length=20)
    tags: list[str] = kept(max_length=50)
    attributes: dict[str, Scalar] = kept(max_length=100)


class Classification(BaseModel):
    tier: Tier | None = None
    rfm_recency: int | None = None
    rfm_frequency: int | None = None
    rfm_monetary: int | None = None
    lifecycle: Lifecycle = "new"
    stage: Stage = "prospect"
    volume_class: VolumeClass = "occasional"
    paid_revenue: Decimal = Decimal("0")
    paid_orders: int = 0
    last_purchase_at: datetime | None = None
    last_visit_at: datetime | None = None
    last_followup_at: datetime | None = None


class Customer(BaseModel):
    id: str
    code: str
    name: str
    kind: CustomerKind
    phones: list[str]
    emails: list[str]
    tax_id: str | None
    industry: str | None
    region: Region | None
    address: str | None
    website: str | None
    legal_representative: str | None
    registered_capital: Decimal | None
    business_scope: str | None
    size: str | None
    source: str | None
    credit_note: str | None
    category_ids: list[str]
    tags: list[str]
    attributes: dict[str, Scalar]
    owner_id: str | None
    owner: OwnerRef | None
    owner_team_id: str | None
    in_pool: bool
    status: Literal["active", "archived", "merged"]
    merged_into_id: str | None = None
    classification: Classification
    version: int
    created_by: str | None
    created_at: datetime
    updated_at: datetime


def _partial(model: type[BaseModel], name: str, doc: str, **nested: Any) -> type[BaseModel]:
    """``model`` with every field optional: a list item carries the fields asked for."""
    fields: dict[str, Any] = {}
    for field, info in model.model_fields.items():
        annotation: Any = nested.get(field, info.annotation)
        fields[field] = (annotation | None, None)
    return create_model(name, __doc__=doc, **fields)


PartialClassification = _partial(Classification, "PartialClassification",
                                 "The parts of a classification a list item asked for.")
CustomerListItem = _partial(
    Customer, "CustomerListItem",
    "A customer in a list: the summary (id, code, name, kind, phones, emails, industry, "
    "region, owner, in_pool, status, tags, classification's tier, lifecycle, stage and "
    "last_followup_at, version, created_at, updated_at) or the fields asked for.",
    classification=PartialClassification)

_FIELDS_DOC = ("fields of each item, comma-separated (`classification.tier` for a part of "
               "the classification, `*` for whole records); default: the summary")


class CustomerFilters(Strict):
    """Which customers, in what order: the list's and the export's parameters."""

    q: str | None = Field(None, max_length=100, description="name, code, phone, email, "
                          "contact name; Chinese, full pinyin or initials")
    owner_id: str | None = None
    team_id: str | None = None
    category_id: str | None = None
    kind: CustomerKind | None = None
    province: str | None = None
    city: str | None = None
    industry: str | None = None
    tier: Tier | None = None
    lifecycle: Lifecycle | None = None
    stage: Stage | None = None
    tag: str | None = None
    segment_id: str | None = None
    in_pool: bool | None = None
    include_archived: bool = False
    sort: Literal["name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"] = (
        "-created_at")


class CustomerQuery(CustomerFilters, PageQuery):
    # the names are checked by the service (``domain.list_fields``): 422 invalid_fields
    fields: str | None = Field(None, max_length=1000, pattern=r"^[a-z_.*, ]*$",
                               description=_FIELDS_DOC)



class CustomerPage(Page[CustomerListItem]):  # type: ignore[valid-type]
    pass


class TransferRequest(Strict):
    to_user_id: Ref
    note: str | None = Field(None, max_length=500)


class HandoverRequest(Strict):
    from_user_id: Ref
    to_user_id: Ref


class HandoverResult(BaseModel):
    moved: int = Field(description="customers")
    followups_moved: int = Field(0, description="follow-ups whose reminder is open")
    visit_plans_moved: int = Field(0, description="visit plans not yet approved")
    segments_moved: int = Field(0, description="saved segments")


class HistoryEntry(BaseModel):
    id: int
    customer_id: str
    occurred_at: datetime
    actor_id: str | None
    kind: Literal["created", "updated", "owner_changed", "archived", "merged", "restored",
                  "erased"]
    changes: dict[str, Any]
    reason: str | None


class HistoryPage(Page[HistoryEntry]):
    pass


class HistoryQuery(PageQuery):
    pass


class DuplicateOwner(BaseModel):
    """Body of the 409 ``duplicate_customer`` problem."""

    code: Literal["duplicate_customer"]
    existing_customer_id: str
    owner: OwnerRef | None
    matched_on: list[str]


class Empty(BaseModel):
    pass


class PoolSettings(Strict):
    days_without_followup: Days = 30
    claim_limit: int = Field(200, ge=0, le=100000)


class CsvFile(BaseModel):
    filename: str
    content: str


class ContactIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    title: str | None = Field(None, max_length=100)
    phones: list[Phone] = Field(default_factory=list, max_length=5)
    emails: list[str] = Field(default_factory=list, max_length=5)
    email: str | None = Field(None, max_length=320, description="one address, put first "
                              "in emails (the name contacts had before emails)")
    birthday: date | None = None
    hobbies: str | None = Field(None, max_length=500)
    is_decision_maker: bool = False
    notes: str | None = Field(None, max_length=2000)
    marketing_opt_out: bool = False
    locale: Literal["zh-CN", "en"] = "zh-CN"
    wechat_openid: str | None = Field(None, max_length=64)


class ContactUpdate(Strict):
    # name, phones and the flags cannot be cleared; the rest can
    name: str = kept(min_length=1, max_length=100)
    title: str | None = Field(None, max_length=100)
    phones: list[Phone] = kept(max_length=5)
    emails: list[str] = kept(max_length=5)
    birthday: date | None = None
    hobbies: str | None = Field(None, max_length=500)
    is_decision_maker: bool = kept()
    notes: str | None = Field(None, max_length=2000)
    marketing_opt_out: bool = kept()
    locale: Literal["zh-CN", "en"] = kept()
    wechat_openid: str | None = Field(None, max_length=64)


class Contact(BaseModel):
    id: str
    customer_id: str
    name: str
    title: str | None
    phones: list[str]
    emails: list[str]
    birthday: date | None
    hobbies: str | None
    is_decision_maker: bool
    notes: str | None
    marketing_opt_out: bool
    locale: str
    wechat_openid: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class ContactPage(Page[Contact]):
    pass


CategoryDimension = Literal["type", "region", "position", "industry", "nature"]


class CategoryIn(Strict):
    dimension: CategoryDimension = Field(
        description="type, region, position, industry or nature (government / special / "
        "ordinary company / individual / partner)")
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(None, max_length=500)


class CategoryUpdate(Strict):
    name: str = kept(min_length=1, max_length=100)
    description: str | None = Field(None, max_length=500)
    retired: bool = kept(description="retired categories stay on existing customers but "
                         "cannot be newly assigned")


class Category(BaseModel):
    id: str
    dimension: str
    name: str
    description: str | None
    retired_at: datetime | None
    version: int
    created_at: datetime


class CategoryPage(Page[Category]):
    pass


class CategoryQuery(PageQuery):

    dimension: CategoryDimension | None = None
    include_retired: bool = False


class AccountTeamMemberIn(Strict):
    user_id: Ref
    role: str = Field("member", min_length=1, max_length=50)


class AccountTeamMember(BaseModel):
    user_id: str
    display_name: str
    role: str
    added_at: datetime


class AccountTeam(BaseModel):
    customer_id: str
    owner: OwnerRef | None
    members: list[AccountTeamMember]


FollowupMethod = Literal["phone", "visit", "email", "wechat", "meeting", "other"]


class FollowupIn(Strict):
    method: FollowupMethod
    occurred_at: datetime | None = Field(None, description="default: now")
    contact_id: Ref | None = None
    content: str = Field(min_length=1, max_length=5000)
    result: str | None = Field(None, max_length=2000)
    next_followup_on: date | None = Field(None, description="becomes a reminder")


class Followup(BaseModel):
    id: str
    customer_id: str
    owner_id: str
    method: str
    occurred_at: datetime
    contact_id: str | None
    content: str
    result: str | None
    next_followup_on: date | None
    next_done: bool
    created_at: datetime


class FollowupPage(Page[Followup]):
    pass


class FollowupQuery(PageQuery):
    pass


class DueFollowupQuery(PageQuery):

    due_on_or_before: date | None = Field(None, description="default: today")
    owner_id: str | None = None


class VisitPlanIn(Strict):
    customer_id: Ref
    purpose: str = Field(min_length=1, max_length=200)
    content: str | None = Field(None, max_length=5000)
    planned_at: datetime
    contact_id: Ref | None = None


class VisitAction(Strict):
    action: Literal["appoint", "record", "report", "approve", "return", "archive"]
    appointment_at: datetime | None = None
    visited_at: datetime | None = None
    record: str | None = Field(None, max_length=5000)
    report: str | None = Field(None, max_length=5000)
    comment: str | None = Field(None, max_length=2000)


class VisitPlan(BaseModel):
    id: str
    customer_id: str
    owner_id: str
    purpose: str
    content: str | None
    planned_at: datetime
    status: str
    contact_id: str | None
    appointment_at: datetime | None
    visited_at: datetime | None
    record: str | None
    report: str | None
    reviewer_id: str | None
    review_comment: str | None
    reviewed_at: datetime | None
    overdue: bool
    version: int
    created_at: datetime
    updated_at: datetime


class VisitPlanPage(Page[VisitPlan]):
    pass


class VisitPlanQuery(PageQuery):

    customer_id: str | None = None
    owner_id: str | None = None
    status: str | None = None
    overdue: bool | None = None


class ImportRowResult(BaseModel):
    row: int = Field(description="1-based data row number (after the header)")
    status: Literal["created", "duplicate", "invalid"]
    customer_id: str | None = None
    duplicate_of: str | None = None
    owner: OwnerRef | None = None
    errors: list[str] = Field(default_factory=list)


class ImportResult(BaseModel):
    created: int
    duplicates: int
    invalid: int
    outcome: Literal["all_created", "valid_rows_created", "none_created"] = Field(
        description="all_created: every row is a new customer; valid_rows_created: the "
        "valid rows are customers now, the duplicate and invalid ones were left out (fix "
        "and import those rows again); none_created: no row was imported")
    summary: str = Field(description="the outcome in a sentence")
    ignored_columns: list[str] = Field(
        default_factory=list, description="header columns the import does not read")
    rows: list[ImportRowResult]


# The columns a customer import reads (CUS-13), by header name; any order, others ignored.
IMPORT_COLUMNS: dict[str, str] = {
    "name": "required: the company's or the person's name",
    "kind": "`company` (default) or `person`",
    "phones": "phone numbers, separated by `;` (a column `phone` is read the same way)",
    "emails": "email addresses, separated by `;` (a column `email` is read the same way)",
    "tax_id": "unified social credit code or tax number",
    "industry": "industry",
    "province": "province of the region",
    "city": "city of the region",
    "district": "district of the region",
    "address": "street address",
    "website": "website",
    "source": "where the customer came from",
    "tags": "tags, separated by `;`",
}
IMPORT_ALIASES = {"phone": "phones", "email": "emails"}


class ExportQuery(CustomerFilters):
    """The list's filters and order; the file has every customer they select (up to the
    export's cap) in fixed columns, so the list's paging and ``fields`` do not apply."""


class DuplicateQuery(PageQuery):
    customer_id: str | None = Field(None, description="only the candidates of this customer")


class DuplicateCandidate(BaseModel):
    """Customers that may be one: what they share, and a summary of each."""

    matched_on: Literal["phone", "email", "person_name"] = Field(
        description="phone / email: one customer's number or address is another's (or "
        "their contacts'); person_name: people of the same name in the same province and "
        "city")
    value: str = Field(description="what they share (for person_name: name|province|city)")
    customers: list[CustomerListItem]  # type: ignore[valid-type]


class DuplicatePage(Page[DuplicateCandidate]):
    pass


class MergeRequest(Strict):
    survivor_id: Ref
    merged_id: Ref


class MergeResult(BaseModel):
    survivor: Customer
    merged_id: str
    moved: dict[str, int]


class ClassificationSettings(Strict):
    """Thresholds of the classification (CUS-11); all are settings, none are constants."""

    a_share: float = Field(0.2, gt=0, lt=1, description="top share of payers that is tier A")
    b_share: float = Field(0.3, ge=0, lt=1, description="the next share, tier B")
    new_days: Days = 90
    loyal_orders: int = Field(5, ge=1, le=1_000_000)
    at_risk_days: Days = 180
    lost_days: Days = 365
    active_days: Days = 365
    key_account_revenue: AmountIn = Decimal("1000000")
    general_revenue: AmountIn = Decimal("100000")
    currency: str = Field("CNY", min_length=3, max_length=3, pattern="^[A-Z]{3}$")
    # at least every six minutes (a smaller figure would keep the timer busy), at most
    # once a year
    run_every_hours: float = Field(20, ge=0.1, le=8784)


class RecomputeResult(BaseModel):
    changed: int


class SegmentCondition(Strict):
    field: str = Field(min_length=1, max_length=100,
                       description="a customer field by its path in the customer's JSON, as "
                       "`?fields=` names it: `industry`, `region.province`, "
                       "`classification.tier`, `attributes.<key>` for a custom attribute")
    op: Literal["eq", "ne", "in", "gte", "lte", "contains", "within_days", "older_than_days",
                "is_empty", "not_empty"]
    value: Any = None


class SegmentIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=1000)
    conditions: list[SegmentCondition] = Field(min_length=1, max_length=30)


class SegmentUpdate(Strict):
    name: str = kept(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=1000)
    conditions: list[SegmentCondition] = kept(min_length=1, max_length=30)


class Segment(BaseModel):
    id: str
    name: str
    description: str | None
    conditions: list[SegmentCondition]
    member_count: int | None = Field(None, description="members in your scope, now")
    owner_id: str
    version: int
    created_at: datetime
    updated_at: datetime


class SegmentPage(Page[Segment]):
    pass


class SegmentMembersQuery(PageQuery):
    # the names are checked by the service (``domain.list_fields``): 422 invalid_fields
    fields: str | None = Field(None, max_length=1000, pattern=r"^[a-z_.*, ]*$",
                               description=_FIELDS_DOC)



class Customer360Core(BaseModel):
    """The customer service's part of the 360 view."""

    customer: Customer
    contacts: list[Contact]
    account_team: AccountTeam
    latest_followups: list[Followup]
    open_visit_plans: list[VisitPlan]
    open_reminders: list[Followup]


class CollectorConfig(Strict):
    """Whoever enters the customer owns it."""


class RegionConfig(Strict):
    """A customer in this province goes to this owner."""

    province: str = Field(min_length=1, max_length=50)
    owner_id: Ref


class RoundRobinConfig(Strict):
    """New staff take turns: whoever was assigned longest ago (or never) is next."""

    team_id: Ref | None = Field(None, description="only this team's new staff take turns; "
                                "default: all new staff")


class CapacityConfig(Strict):
    """The collector keeps the customer below the cap; at it, the least loaded rep under
    the cap gets it, and with nobody under it the customer goes to the pool."""

    max: int = Field(ge=1, le=1_000_000, description="customers a rep may own")


RULE_CONFIGS: dict[str, type[Strict]] = {
    "collector": CollectorConfig, "region": RegionConfig, "round_robin": RoundRobinConfig,
    "capacity": CapacityConfig}


def rule_config(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` checked against the rule kind's model (unknown keys refused), as stored."""
    try:
        typed = RULE_CONFIGS[kind].model_validate(config)
    except ValidationError as exc:
        raise ValidationFailed(f"not a configuration of a {kind} rule", code="invalid_rule",
                               extra={"errors": [
                                   {"field": ".".join(["config", *map(str, e["loc"])]),
                                    "message": e["msg"]} for e in exc.errors()]}) from None
    return typed.model_dump(exclude_none=True)


class _RuleIn(Strict):
    priority: int = Field(100, ge=0, le=10000, description="lower runs first")
    active: bool = True


class CollectorRuleIn(_RuleIn):
    kind: Literal["collector"]
    config: CollectorConfig = Field(default_factory=CollectorConfig)


class RegionRuleIn(_RuleIn):
    kind: Literal["region"]
    config: RegionConfig


class RoundRobinRuleIn(_RuleIn):
    kind: Literal["round_robin"]
    config: RoundRobinConfig = Field(default_factory=RoundRobinConfig)


class CapacityRuleIn(_RuleIn):
    kind: Literal["capacity"]
    config: CapacityConfig


class AssignmentRuleIn(RootModel[Annotated[
        CollectorRuleIn | RegionRuleIn | RoundRobinRuleIn | CapacityRuleIn,
        Field(discriminator="kind")]]):
    """An assignment rule: its ``kind`` decides the fields of its ``config``."""


class AssignmentRuleUpdate(Strict):
    config: dict[str, Scalar] = kept(description="the whole configuration, as the rule's "
                                     "kind takes it (see creating a rule)")
    priority: int = kept(ge=0, le=10000)
    active: bool = kept()


class AssignmentRule(BaseModel):
    id: str
    kind: str
    config: dict[str, Scalar]
    priority: int
    active: bool
    version: int
    created_at: datetime


class AssignmentRulePage(Page[AssignmentRule]):
    pass


# -- membership (CUS-17) -----------------------------------------------------------------
CardStatus = Literal["active", "frozen", "cancelled"]
PointsKind = Literal["earn", "clawback", "adjust", "redeem", "reversal", "expire"]
Points = Annotated[int, Field(ge=1, le=1_000_000_000)]
Multiplier = Annotated[str, Field(pattern=r"^\d{1,4}(\.\d{1,2})?$", examples=["1.5"])]


class MemberTierIn(Strict):
    code: str = Field(min_length=1, max_length=30, pattern=r"^[A-Za-z0-9_-]+$",
                      examples=["gold"])
    name: str = Field(min_length=1, max_length=100, examples=["金卡"])
    threshold: int = Field(ge=0, le=1_000_000_000,
                           description="qualifying points at which a card reaches the tier")
    multiplier: Multiplier = Field("1", description="points earned are multiplied by it")


class MemberTierUpdate(Strict):
    name: str = kept(min_length=1, max_length=100)
    threshold: int = kept(ge=0, le=1_000_000_000)
    multiplier: Multiplier = kept()


class MemberTier(BaseModel):
    id: str
    code: str
    name: str
    threshold: int
    multiplier: str
    version: int
    created_at: datetime
    updated_at: datetime


class MemberTierPage(Page[MemberTier]):
    pass


class MemberTierQuery(PageQuery):
    sort: Literal["threshold", "-threshold"] = "threshold"


class MemberCardIn(Strict):
    customer_id: Ref


class MemberCard(BaseModel):
    id: str
    number: str
    customer_id: str
    customer_name: str | None
    status: CardStatus
    tier: str | None = Field(description="the code of the tier the card is in")
    balance: int = Field(description="points to redeem: the sum of the ledger")
    qualifying_points: int = Field(description="points that count for the tier: earned, "
                                   "clawed back and adjusted (not redeemed)")
    tier_value: int = Field(description="what the tier was last set from: the qualifying "
                            "points, or under a tier_period the window's qualifying points "
                            "or whole currency units paid")
    allowed_actions: list[str]
    version: int
    created_at: datetime
    updated_at: datetime


class MemberCardPage(Page[MemberCard]):
    pass


class MemberCardQuery(PageQuery):
    customer_id: str | None = None
    status: CardStatus | None = None
    tier: str | None = Field(None, max_length=30)
    sort: Literal["-created_at", "created_at", "number", "-number", "-balance"] = "-created_at"


class CardStatusChange(Strict):
    action: Literal["freeze", "unfreeze", "cancel"]
    reason: str | None = Field(None, max_length=500)


class PointsAdjust(Strict):
    points: int = Field(ge=-1_000_000_000, le=1_000_000_000,
                        description="added (positive) or taken (negative); not zero")
    reason: str = Field(min_length=1, max_length=500)


class PointsRedeem(Strict):
    points: Points
    reason: str = Field(min_length=1, max_length=500)


class PointsReverse(Strict):
    reason: str = Field(min_length=1, max_length=500)


class PointsBonusGiven(BaseModel):
    """What one campaign bonus rule gave an earn entry."""

    rule_id: str
    name: str
    campaign_id: str | None = None
    points: int
    fixed_points: int = Field(0, description="of ``points``, the rule's once-per-payment "
                              "points")


class PointsEntry(BaseModel):
    id: str
    card_id: str
    customer_id: str
    kind: PointsKind
    points: int = Field(description="signed: what the entry added to the balance")
    qualifying: bool
    balance_after: int
    reason: str | None
    payment_id: str | None
    amount: str | None = Field(description="the money the entry was earned on (decimal "
                               "string) or clawed back for")
    currency: str | None
    reverses_id: str | None
    bonus_points: int = Field(0, description="the part of ``points`` that campaign bonus "
                              "rules gave (negative on a claw-back: the bonus's share)")
    bonus_rules: list[PointsBonusGiven] = Field(default_factory=list)
    created_by: str | None
    created_at: datetime


class PointsEntryPage(Page[PointsEntry]):
    pass


class PointsEntryQuery(PageQuery):
    kind: PointsKind | None = None
    sort: Literal["-created_at", "created_at"] = "-created_at"


class PointsPosting(BaseModel):
    """A ledger entry posted and the card after it."""

    entry: PointsEntry
    card: MemberCard


class PointsExpiry(Strict):
    years: int = Field(ge=0, le=50, description="points posted in year Y can be used until "
                       "31 December of year Y+years and expire the day after (spending "
                       "takes the oldest points first)")


class TierPeriod(Strict):
    measure: Literal["points", "spend"] = Field(
        "points", description="points: the qualifying points; spend: the money paid, in "
        "whole units of the settings' currency (less refunds; campaign bonuses do not "
        "count). Tier thresholds are in that measure")
    months: int | None = Field(12, ge=1, le=120, description="the rolling window: what "
                               "was posted in the last N months; null: all time")


class MembershipSettings(Strict):
    currency: str = Field("CNY", pattern=r"^[A-Z]{3}$",
                          description="money paid in this currency earns points")
    points_per_unit: Multiplier = Field("1", description="points per unit of the currency "
                                        "(before the tier's multiplier; rounded down)")
    points_expiry: PointsExpiry | None = Field(
        None, description="when points expire; absent or null: never")
    tier_period: TierPeriod | None = Field(
        None, description="what the tier follows; absent or null: the qualifying points "
        "of all time")


class PointsExpiryRun(Strict):
    as_of: date | None = Field(None, description="the day to expire points on (default: "
                               "today, UTC); points whose last usable day is before it "
                               "expire")


class PointsExpiryResult(BaseModel):
    as_of: date
    cards: int = Field(description="cards on which points expired in this run")
    points: int = Field(description="points expired in this run (a second run on the same "
                        "day expires nothing more)")


class TierRecomputeRun(Strict):
    as_of: date | None = Field(None, description="the day the window ends on (default: "
                               "today, UTC)")


class TierRecomputeResult(BaseModel):
    as_of: date
    cards: int = Field(description="cards (not cancelled) looked at")
    changed: int = Field(description="cards whose tier changed (each published one "
                         "member.tier_changed); a second run on the same day changes none")


# -- campaign bonus rules (CUS-17, issue #27) ------------------------------------------------
BonusMultiplier = Annotated[str, Field(pattern=r"^\d{1,2}(\.\d{1,2})?$", examples=["2"])]
TierCodes = Annotated[list[Annotated[str, Field(min_length=1, max_length=30)]],
                      Field(max_length=20)]


class PointsBonusRuleIn(Strict):
    name: str = Field(min_length=1, max_length=200, examples=["双十一双倍积分"])
    campaign_id: Ref | None = Field(None, description="the sales campaign the rule belongs "
                                    "to; its dates are the rule's unless given")
    starts_on: date | None = Field(None, description="first day (UTC) of payments covered")
    ends_on: date | None = Field(None, description="last day (UTC) of payments covered")
    multiplier: BonusMultiplier | None = Field(
        None, description="the payment's points times this (above 1, at most 10): the "
        "bonus is the extra")
    fixed_points: int = Field(0, ge=0, le=1_000_000, description="points added once per "
                              "payment")
    min_amount: AmountIn | None = Field(None, description="only payments of at least "
                                        "this much (the settings' currency)")
    tiers: TierCodes = Field(default_factory=list, description="only cards in these tiers "
                             "(empty: every tier)")
    segment_id: Ref | None = Field(None, description="only customers in this segment "
                                   "when the payment arrives")
    active: bool = True


class PointsBonusRuleUpdate(Strict):
    name: str = kept(min_length=1, max_length=200)
    starts_on: date = kept()
    ends_on: date = kept()
    multiplier: BonusMultiplier | None = None
    fixed_points: int = kept(ge=0, le=1_000_000)
    min_amount: AmountIn | None = None
    tiers: TierCodes = kept()
    segment_id: Ref | None = None
    active: bool = kept()


class PointsBonusRule(BaseModel):
    id: str
    name: str
    campaign_id: str | None
    campaign_name: str | None
    starts_on: date
    ends_on: date
    multiplier: str | None
    fixed_points: int
    min_amount: str | None
    tiers: list[str]
    segment_id: str | None
    active: bool
    version: int
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class PointsBonusRulePage(Page[PointsBonusRule]):
    pass


class PointsBonusRuleQuery(PageQuery):
    campaign_id: str | None = Field(None, max_length=36)
    active: bool | None = None
    running_on: date | None = Field(None, description="rules whose dates cover this day")
    sort: Literal["-starts_on", "starts_on"] = "-starts_on"
