"""RPC inputs and outputs of the service desk (also the gateway's API models).

Request bodies and queries are :class:`~crm_platform.inputs.Strict`: unknown fields, NUL
and lone surrogates are refused. An update's field whose column cannot be emptied is
``kept()``: left out it keeps the stored value, ``null`` is a 422.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from crm_platform.inputs import Ref, Strict, kept
from crm_platform.pagination import Page, PageQuery, one_or_more
from pydantic import BaseModel, ConfigDict, Field, field_validator

Kind = Literal["paid", "contract", "free", "internal"]
Category = Literal["consultation", "fault", "complaint", "suggestion"]
Channel = Literal["phone", "email", "web", "wechat", "sms"]
Priority = Literal["low", "normal", "high", "urgent"]
TicketStatus = Literal["new", "open", "pending", "resolved", "closed"]
TICKET_STATUSES = ("new", "open", "pending", "resolved", "closed")
Target = Literal["first_response", "resolution", "dispatch"]
WorkOrderStatus = Literal["not_dispatched", "dispatched", "confirmed", "in_progress",
                          "completed", "closed", "cancelled"]
CallbackStatus = Literal["due", "done", "unreached", "cancelled"]
Outcome = Literal["reached", "no_answer", "wrong_contact"]
ArticleKind = Literal["article", "standard_answer", "product_defect"]
Visibility = Literal["internal", "public"]
VersionStatus = Literal["draft", "published", "retired"]
# a day a client names: within what a calendar, a purchase or a window can mean
Day = Annotated[date, Field(ge=date(1990, 1, 1), le=date(2999, 12, 31))]
Text = Annotated[str, Field(min_length=1, max_length=20000)]
Subject = Annotated[str, Field(min_length=1, max_length=200)]


# -- tickets -------------------------------------------------------------------------------
class ProductFields(Strict):
    product_id: Ref | None = Field(None, description="the product's id in sales")
    product_model: str | None = Field(None, max_length=100)
    product_spec: str | None = Field(None, max_length=200)
    product_category: str | None = Field(
        None, max_length=100, description="matches technicians' skills for dispatch")
    purchase_date: Day | None = None
    purchase_place: str | None = Field(None, max_length=200)


class TicketCreate(ProductFields):
    customer_id: Ref | None = Field(None, description="required unless kind is internal")
    contact_id: Ref | None = None
    kind: Kind = "free"
    category: Category
    channel: Channel
    priority: Priority = "normal"
    subject: Subject
    description: str | None = Field(None, max_length=20000)
    received_at: datetime | None = Field(
        None, description="when the request came in (default now); may be in the past "
        "(a phone call logged later), never in the future")
    assignee_id: Ref | None = None
    team_id: Ref | None = Field(None, description="the team queue")


class TicketUpdate(ProductFields):
    contact_id: Ref | None = None
    kind: Kind = kept()
    category: Category = kept()
    channel: Channel = kept()
    priority: Priority = kept()
    subject: Subject = kept()
    description: str | None = Field(None, max_length=20000)


class TicketAssign(Strict):
    assignee_id: Ref | None = Field(None, description="a person; null: back to the queue")
    team_id: Ref | None = Field(None, description="the team queue")


class CommentIn(Strict):
    body: Text


class ResolveIn(Strict):
    resolution: Text


class CloseIn(Strict):
    comment: str | None = Field(None, max_length=2000)


class ReasonIn(Strict):
    reason: str = Field(min_length=1, max_length=500)


class StatusIn(Strict):
    comment: str | None = Field(None, max_length=2000,
                                description="added as an internal note")


class SlaTargetOut(BaseModel):
    target: Target
    minutes: int
    business_hours: bool
    due_at: datetime | None
    met_at: datetime | None
    paused: bool
    paused_seconds: float
    breached: bool
    breached_at: datetime | None


class SlaBlock(BaseModel):
    policy_id: str | None
    policy_name: str
    calendar_id: str | None
    paused: bool
    paused_seconds: float
    breached: bool
    next_due_at: datetime | None
    targets: list[SlaTargetOut]


class RatingOut(BaseModel):
    rating: int
    comment: str | None
    source: str
    rated_at: datetime


class TicketFields(BaseModel):
    id: str
    number: str
    customer_id: str | None
    customer_name: str | None
    contact_id: str | None
    contact_name: str | None
    kind: Kind
    category: Category
    channel: Channel
    priority: Priority
    subject: str
    status: TicketStatus
    assignee_id: str | None
    assignee_name: str | None
    team_id: str | None
    team_name: str | None
    received_at: datetime
    due_at: datetime | None = Field(description="the earliest due time of a running clock")
    breached: bool
    escalation_level: int
    source: Literal["staff", "portal"]
    version: int
    created_at: datetime
    updated_at: datetime


class TicketListItem(TicketFields):
    sla_paused: bool


class Ticket(TicketFields):
    description: str | None
    product_id: str | None
    product_model: str | None
    product_spec: str | None
    product_category: str | None
    purchase_date: date | None
    purchase_place: str | None
    created_by: str
    resolution: str | None
    first_responded_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    close_reason: str | None
    reopened_count: int
    escalated_to_id: str | None
    sla: SlaBlock
    rating: RatingOut | None
    allowed_actions: list[str]


class TicketPage(Page[TicketListItem]):
    pass


class TicketQuery(PageQuery):
    status: str | None = Field(None, description="one or more statuses, comma-separated",
                               examples=["new,open,pending"])
    category: Category | None = None
    priority: Priority | None = None
    kind: Kind | None = None
    channel: Channel | None = None
    assignee_id: Ref | None = None
    unassigned: bool | None = None
    team_id: Ref | None = None
    customer_id: Ref | None = None
    breached: bool | None = None
    sort: Literal["due", "-created", "created"] = Field(
        "-created", description="due: the earliest due time first (tickets with no clock "
        "running last); -created: newest first")

    @field_validator("status")
    @classmethod
    def _statuses(cls, value: str | None) -> str | None:
        return one_or_more(value, TICKET_STATUSES)


class Comment(BaseModel):
    id: str
    ticket_id: str
    visibility: Literal["public", "internal"]
    author_kind: Literal["staff", "contact"]
    created_by: str
    author_name: str | None
    body: str
    created_at: datetime


class CommentPage(Page[Comment]):
    pass


class CommentQuery(PageQuery):
    """Oldest first."""


class TicketLogEntry(BaseModel):
    id: int
    at: datetime
    actor_id: str | None
    action: str
    from_status: str | None
    to_status: str | None
    detail: dict[str, Any]


class TicketLogPage(Page[TicketLogEntry]):
    pass


class TicketLogQuery(PageQuery):
    """Oldest first."""


class RatingIn(Strict):
    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(None, max_length=2000)


# -- work orders ---------------------------------------------------------------------------
class WorkOrderCreate(Strict):
    description: str | None = Field(None, max_length=5000)
    address: str | None = Field(None, max_length=300)
    scheduled_at: datetime | None = None
    product_category: str | None = Field(None, max_length=100,
                                         description="default: the ticket's")
    technician_id: Ref | None = Field(None, description="dispatch at once")


class WorkOrderUpdate(Strict):
    description: str | None = Field(None, max_length=5000)
    address: str | None = Field(None, max_length=300)
    scheduled_at: datetime | None = None


class DispatchIn(Strict):
    technician_id: Ref
    scheduled_at: datetime | None = None


class Part(Strict):
    name: str = Field(min_length=1, max_length=200)
    quantity: int = Field(1, ge=1, le=100000)


class CompleteIn(Strict):
    work_done: Text
    parts: list[Part] = Field(default_factory=list, max_length=100)
    hours: str = Field(pattern=r"^\d{1,4}(\.\d{1,2})?$", examples=["1.5"])


class WorkOrder(BaseModel):
    id: str
    number: str
    ticket_id: str
    ticket_number: str
    subject: str
    customer_id: str | None
    customer_name: str | None
    status: WorkOrderStatus
    technician_id: str | None
    technician_name: str | None
    product_category: str | None
    description: str | None
    address: str | None
    scheduled_at: datetime | None
    created_by: str
    dispatched_by: str | None
    dispatched_at: datetime | None
    confirmed_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    closed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    work_done: str | None
    parts: list[dict[str, Any]]
    hours: str | None
    allowed_actions: list[str]
    version: int
    created_at: datetime
    updated_at: datetime


class WorkOrderPage(Page[WorkOrder]):
    pass


class WorkOrderQuery(PageQuery):
    status: WorkOrderStatus | None = None
    technician_id: Ref | None = None
    ticket_id: Ref | None = None
    customer_id: Ref | None = None


class Suggestion(BaseModel):
    technician_id: str
    display_name: str
    skill_level: int = Field(description="in the order's product category; 0: none")
    open_work_orders: int


class SuggestionList(BaseModel):
    product_category: str | None
    items: list[Suggestion]


class SkillIn(Strict):
    product_category: str = Field(min_length=1, max_length=100)
    level: int = Field(ge=1, le=5)


class SkillsIn(Strict):
    skills: list[SkillIn] = Field(max_length=100)


class Technician(BaseModel):
    id: str
    display_name: str
    team_id: str | None
    skills: list[dict[str, Any]]
    open_work_orders: int


class TechnicianPage(Page[Technician]):
    pass


class TechnicianQuery(PageQuery):
    """By name."""


# -- SLA configuration ---------------------------------------------------------------------
class HoursIn(Strict):
    weekday: int = Field(ge=0, le=6, description="Monday 0 … Sunday 6")
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["09:00"])
    end: str = Field(pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$", examples=["18:00"])


class CalendarIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    timezone: str = Field("Asia/Shanghai", min_length=1, max_length=64)
    hours: list[HoursIn] = Field(min_length=1, max_length=70)
    holidays: list[Day] = Field(default_factory=list, max_length=1000)
    workdays: list[Day] = Field(default_factory=list, max_length=1000,
                                description="weekend days worked (调休), with Monday's hours")


class CalendarUpdate(Strict):
    name: str = kept(min_length=1, max_length=200)
    timezone: str = kept(min_length=1, max_length=64)
    hours: list[HoursIn] = kept(min_length=1, max_length=70)
    holidays: list[Day] = kept(max_length=1000)
    workdays: list[Day] = kept(max_length=1000)


class Calendar(BaseModel):
    id: str
    name: str
    timezone: str
    hours: list[dict[str, Any]]
    holidays: list[date]
    workdays: list[date]
    version: int
    created_at: datetime
    updated_at: datetime


class CalendarPage(Page[Calendar]):
    pass


class CalendarQuery(PageQuery):
    """By name."""


Minutes = Annotated[int, Field(ge=1, le=365 * 24 * 60)]


class PolicyIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    category: Category | None = Field(None, description="null: any category")
    priority: Priority | None = Field(None, description="null: any priority")
    first_response_minutes: Minutes
    resolution_minutes: Minutes
    dispatch_minutes: Minutes | None = Field(
        None, description="complaints default to 60 (from received_at, around the clock)")
    calendar_id: Ref | None = Field(None, description="null: around the clock")


class PolicyUpdate(Strict):
    name: str = kept(min_length=1, max_length=200)
    first_response_minutes: Minutes = kept()
    resolution_minutes: Minutes = kept()
    dispatch_minutes: Minutes | None = None
    calendar_id: Ref | None = None


class Policy(BaseModel):
    id: str
    name: str
    category: Category | None
    priority: Priority | None
    first_response_minutes: int
    resolution_minutes: int
    dispatch_minutes: int | None
    calendar_id: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class PolicyPage(Page[Policy]):
    pass


class PolicyQuery(PageQuery):
    """By category, then priority (``*``: any)."""


class ServiceDeskSettings(Strict):
    callback_hours: int = Field(72, ge=1, le=720)
    callback_max_attempts: int = Field(3, ge=3, le=5,
                                       description="failed attempts before unreached")
    timezone: str = Field("Asia/Shanghai", min_length=1, max_length=64,
                          description="for ticket numbers' years and weekly reports")
    default_team_id: Ref | None = Field(None, description="queue of portal requests")
    service_manager_id: Ref | None = Field(
        None, description="second level of escalation (default: an active service "
        "manager)")


class SweepResult(BaseModel):
    breached: int
    escalated: int


# -- callbacks and satisfaction ------------------------------------------------------------
class AttemptIn(Strict):
    outcome: Outcome
    resolved: bool | None = Field(None, description="required when reached")
    rating: int | None = Field(None, ge=1, le=5)
    comment: str | None = Field(None, max_length=2000)


class Attempt(BaseModel):
    at: datetime
    created_by: str
    outcome: Outcome
    resolved: bool | None
    rating: int | None
    comment: str | None


class Callback(BaseModel):
    id: str
    ticket_id: str
    ticket_number: str
    subject: str
    customer_id: str | None
    customer_name: str | None
    contact_id: str | None
    contact_name: str | None
    contact_phones: list[str]
    agent_id: str | None
    status: CallbackStatus
    due_at: datetime
    overdue: bool
    failed_attempts: int
    outcome: str | None
    completed_at: datetime | None
    attempts: list[Attempt]
    version: int
    created_at: datetime


class CallbackPage(Page[Callback]):
    pass


class CallbackQuery(PageQuery):
    status: CallbackStatus | None = None
    overdue: bool | None = Field(None, description="due and past its due time")
    agent_id: Ref | None = None
    ticket_id: Ref | None = None
    customer_id: Ref | None = None


class ReportQuery(Strict):
    model_config = ConfigDict(populate_by_name=True)  # merged with Strict's

    from_: Day = Field(alias="from")
    to: Day = Field(description="exclusive")


class SatisfactionQuery(ReportQuery):
    group_by: Literal["week", "agent", "category"] = "week"


class SatisfactionGroup(BaseModel):
    key: str | None
    label: str | None
    count: int
    average: float | None
    csat_percent: float | None = Field(description="share of ratings 4 and 5")


class SatisfactionReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    group_by: str
    total: SatisfactionGroup
    groups: list[SatisfactionGroup]


class SlaQuery(ReportQuery):
    group_by: Literal["category", "team", "agent"] = "category"


class TargetFigures(BaseModel):
    tickets: int
    breached: int
    breach_rate_percent: float
    met: int
    median_minutes: float | None = Field(description="working time to meet the target")


class SlaGroup(BaseModel):
    key: str | None
    label: str | None
    tickets: int
    targets: dict[str, TargetFigures]


class CallbackFigures(BaseModel):
    due: int = Field(description="callbacks due in the period")
    done_in_time: int
    done_late: int
    unreached: int
    open: int
    rate_percent: float | None = Field(description="done within 72 h / due")


class SlaReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    group_by: str
    total: SlaGroup
    groups: list[SlaGroup]
    callbacks: CallbackFigures


# -- knowledge base ------------------------------------------------------------------------
class ArticleCreate(Strict):
    title: Subject
    body: Text
    category: str = Field(min_length=1, max_length=100)
    kind: ArticleKind = "article"
    visibility: Visibility = "internal"
    product_model: str | None = Field(None, max_length=100)
    tags: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(
        default_factory=list, max_length=30)
    effective_from: Day | None = Field(None, description="default today")
    effective_to: Day | None = Field(None, description="exclusive; null: open-ended")


class ArticleUpdate(Strict):
    category: str = kept(min_length=1, max_length=100)
    kind: ArticleKind = kept()
    visibility: Visibility = kept()
    product_model: str | None = Field(None, max_length=100)
    tags: list[Annotated[str, Field(min_length=1, max_length=50)]] = kept(max_length=30)


class VersionIn(Strict):
    title: Subject | None = Field(None, description="default: the latest version's")
    body: Text | None = Field(None, description="default: the latest version's")
    effective_from: Day | None = Field(None, description="default today")
    effective_to: Day | None = None


class VersionUpdate(Strict):
    title: Subject = kept()
    body: Text = kept()
    effective_from: Day = kept()
    effective_to: Day | None = None


class ArticleFromTicket(Strict):
    category: str | None = Field(None, max_length=100,
                                 description="default: the ticket's product category")
    kind: ArticleKind = "article"
    visibility: Visibility = "internal"


class ArticleVersion(BaseModel):
    number: int
    status: VersionStatus
    title: str
    body: str
    effective_from: date
    effective_to: date | None
    in_effect: bool
    created_by: str
    created_at: datetime
    published_at: datetime | None
    retired_at: datetime | None


class ArticleFields(BaseModel):
    id: str
    number: str
    category: str
    kind: ArticleKind
    visibility: Visibility
    product_model: str | None
    tags: list[str]
    source_ticket_id: str | None
    created_by: str
    latest_version: int
    title: str = Field(description="of the version in effect today, else the latest")
    in_effect_version: int | None
    version: int
    created_at: datetime
    updated_at: datetime


class Article(ArticleFields):
    versions: list[ArticleVersion]


class ArticlePage(Page[ArticleFields]):
    pass


class ArticleQuery(PageQuery):
    category: str | None = Field(None, max_length=100)
    kind: ArticleKind | None = None
    visibility: Visibility | None = None
    in_effect: bool | None = Field(None, description="has a version in effect today")


class SearchQuery(Strict):
    q: str = Field(min_length=1, max_length=200)
    limit: int | None = Field(None, ge=1, le=100)


class SearchHit(BaseModel):
    article_id: str
    number: str
    version: int
    title: str
    snippet: str
    category: str
    kind: ArticleKind
    visibility: Visibility
    effective_from: date
    effective_to: date | None
    score: int


class SearchResult(BaseModel):
    """The best matches (up to ``limit``), best first: a search, not a list to walk."""

    items: list[SearchHit]


# -- the customer's own portal (SVC-07) ----------------------------------------------------
class PortalTicketCreate(Strict):
    category: Category
    subject: Subject
    description: str | None = Field(None, max_length=20000)
    product_model: str | None = Field(None, max_length=100)
    product_spec: str | None = Field(None, max_length=200)
    purchase_date: Day | None = None
    purchase_place: str | None = Field(None, max_length=200)


class PortalComment(BaseModel):
    id: str
    author_kind: Literal["staff", "contact"]
    author_name: str | None
    body: str
    created_at: datetime


class PortalTicketFields(BaseModel):
    id: str
    number: str
    subject: str
    category: Category
    priority: Priority
    status: TicketStatus
    received_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class PortalTicket(PortalTicketFields):
    description: str | None
    product_model: str | None
    product_spec: str | None
    purchase_date: date | None
    purchase_place: str | None
    resolution: str | None
    replies: list[PortalComment]
    rating: RatingOut | None
    can_rate: bool


class PortalTicketPage(Page[PortalTicketFields]):
    pass


class PortalTicketQuery(PageQuery):
    status: TicketStatus | None = None


class PortalArticle(BaseModel):
    id: str
    number: str
    version: int
    title: str
    body: str
    category: str
    kind: ArticleKind
    effective_from: date
    effective_to: date | None


class PortalArticlePage(Page[PortalArticle]):
    pass


class PortalArticleQuery(PageQuery):
    category: str | None = Field(None, max_length=100)


# -- the call centre (SVC-08) --------------------------------------------------------------
Direction = Literal["inbound", "outbound"]
CallState = Literal["ringing", "answered", "ended", "missed"]
CallOutcome = Literal["answered", "missed", "no_answer", "busy", "voicemail",
                      "wrong_number", "resolved", "ticket", "follow_up", "callback",
                      "interested", "not_interested", "do_not_call"]
EntryOutcome = Literal["reached", "interested", "not_interested", "no_answer", "busy",
                       "voicemail", "wrong_number", "callback", "do_not_call"]
EntryStatus = Literal["pending", "callback", "done", "unreached", "skipped"]
ListPurpose = Literal["service", "care", "telemarketing"]
ListSource = Literal["callbacks", "care", "segment", "manual"]
PhoneText = Annotated[str, Field(min_length=1, max_length=40)]
Url = Annotated[str, Field(min_length=1, max_length=1000, pattern=r"^https?://")]


class LookupQuery(Strict):
    phone: PhoneText = Field(description="the number as the telephony shows it, any "
                             "common way of writing it")


class CallerCustomer(BaseModel):
    id: str
    code: str | None
    name: str
    kind: str | None
    owner_id: str | None
    owner_name: str | None
    status: str


class CallerContact(BaseModel):
    id: str
    customer_id: str
    name: str
    phones: list[str]
    marketing_opt_out: bool


class LookupTicket(BaseModel):
    id: str
    number: str
    subject: str
    status: str
    priority: str
    customer_id: str | None


class LookupCall(BaseModel):
    id: str
    direction: Direction
    started_at: datetime
    state: CallState
    outcome: str | None
    agent_id: str | None


class LookupFollowup(BaseModel):
    id: str
    customer_id: str
    owner_id: str
    method: str
    occurred_at: datetime
    content: str
    result: str | None
    next_followup_on: date | None


class LookupOrder(BaseModel):
    id: str
    number: str
    customer_id: str
    owner_id: str | None
    status: str
    amount: str = Field(description="decimal string, in ``currency``")
    currency: str
    created_at: datetime


SectionStatus = Literal["ok", "unavailable", "forbidden"]


class LookupFollowups(BaseModel):
    """The customer service's part: unavailable when it does not answer in time,
    forbidden without ``followup:read``; the lookup still answers."""

    status: SectionStatus
    reason: str | None = None
    items: list[LookupFollowup] = Field(default_factory=list)


class LookupOrders(BaseModel):
    """The sales service's part (open orders: pending approval, confirmed, in delivery):
    unavailable when it does not answer in time, forbidden without ``order:read``."""

    status: SectionStatus
    reason: str | None = None
    items: list[LookupOrder] = Field(default_factory=list)


class CallerLookup(BaseModel):
    """Who is calling: the customers and contacts with this number (those the agent may
    see), their open tickets and their latest calls; their latest follow-ups and open
    orders from the customer and sales services, each as the caller may see them."""

    phone: str = Field(description="the number in E.164")
    customers: list[CallerCustomer]
    contacts: list[CallerContact]
    open_tickets: list[LookupTicket]
    recent_calls: list[LookupCall]
    followups: LookupFollowups
    open_orders: LookupOrders


class CallIn(Strict):
    direction: Direction
    from_number: PhoneText
    to_number: PhoneText
    agent_id: Ref | None = Field(None, description="default: whoever logs it")
    started_at: datetime
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    duration_seconds: int | None = Field(None, ge=0, le=86400,
                                         description="default: answered → ended")
    outcome: CallOutcome | None = None
    recording_url: Url | None = None
    customer_id: Ref | None = Field(None, description="default: found by the number")
    contact_id: Ref | None = None
    ticket_id: Ref | None = None
    lead_id: Ref | None = None
    notes: str | None = Field(None, max_length=20000)


class CallUpdate(Strict):
    outcome: CallOutcome | None = None
    customer_id: Ref | None = None
    contact_id: Ref | None = None
    ticket_id: Ref | None = None
    lead_id: Ref | None = None
    notes: str | None = Field(None, max_length=20000)


class CallTicketIn(Strict):
    """An answered call becomes a ticket in one step (channel phone, received when the
    call started, customer and contact from the call)."""

    category: Category
    subject: Subject
    description: str | None = Field(None, max_length=20000)
    priority: Priority = "normal"
    kind: Kind = "free"


class CallFollowupIn(Strict):
    """An answered call saved as a follow-up (method phone) on its customer in one step:
    when the call was answered, with the call's contact."""

    content: str = Field(min_length=1, max_length=5000)
    result: str | None = Field(None, max_length=2000)
    next_followup_on: date | None = Field(None, description="becomes a reminder")


class Call(BaseModel):
    id: str
    direction: Direction
    from_number: str
    to_number: str
    party_number: str | None
    agent_id: str | None
    agent_name: str | None
    connector: str | None
    external_id: str | None
    state: CallState
    outcome: str | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    duration_seconds: int | None
    recording_url: str | None
    customer_id: str | None
    customer_name: str | None
    contact_id: str | None
    contact_name: str | None
    ticket_id: str | None
    followup_id: str | None = Field(None, description="the follow-up it was saved as")
    lead_id: str | None
    call_list_entry_id: str | None
    notes: str | None
    version: int
    created_at: datetime


class CallPage(Page[Call]):
    pass


class CallQuery(PageQuery):
    direction: Direction | None = None
    state: CallState | None = None
    agent_id: Ref | None = None
    customer_id: Ref | None = None
    contact_id: Ref | None = None
    ticket_id: Ref | None = None
    phone: PhoneText | None = Field(None, description="the customer's side, any way written")


class ConnectorIn(Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")


class Connector(BaseModel):
    id: str
    name: str
    enabled: bool
    created_at: datetime
    secret: str | None = Field(None, description="shown once, when created")


class ConnectorPage(Page[Connector]):
    pass


class ConnectorQuery(PageQuery):
    pass


class TelephonyEventIn(BaseModel):
    """What a connector sends (signed: Standard Webhooks headers)."""

    model_config = ConfigDict(extra="ignore")

    call_id: str = Field(min_length=1, max_length=100, description="the telephony's id")
    event: Literal["ringing", "answered", "ended", "missed"]
    direction: Direction = "inbound"
    from_number: PhoneText = Field(alias="from")
    to_number: PhoneText = Field(alias="to")
    at: datetime
    agent_id: Ref | None = None
    duration_seconds: int | None = Field(None, ge=0, le=86400)
    recording_url: Url | None = None


class TelephonyAnswer(BaseModel):
    call_id: str
    state: CallState
    duplicate: bool


class PublicRequest(BaseModel):
    """What the gateway forwards of a signed, unauthenticated request."""

    body: str
    headers: dict[str, str]
    query: dict[str, str]


class CallListIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    purpose: ListPurpose
    source: ListSource
    segment_id: Ref | None = Field(None, description="source segment: the customer "
                                   "segment (CUS-12) whose contacts to call")
    care_rule_id: Ref | None = Field(None, description="source care: the care rule "
                                     "(notifications) whose reminded contacts to call; "
                                     "needs notification:read")
    customer_ids: list[Ref] = Field(default_factory=list, max_length=1000,
                                    description="source manual: these customers' contacts")
    agent_ids: list[Ref] = Field(default_factory=list, max_length=100,
                                 description="entries are dealt to these agents in turn")
    max_attempts: int = Field(3, ge=1, le=10)


class CallList(BaseModel):
    id: str
    name: str
    purpose: ListPurpose
    source: ListSource
    segment_id: str | None
    care_rule_id: str | None = None
    status: Literal["active", "closed"]
    max_attempts: int
    entries: int
    open_entries: int
    left_out: dict[str, int] = Field(description="people the source named who were left "
                                     "out, by reason")
    created_by: str
    version: int
    created_at: datetime


class CallListPage(Page[CallList]):
    pass


class CallListQuery(PageQuery):
    status: Literal["active", "closed"] | None = None


class CallListEntry(BaseModel):
    id: str
    call_list_id: str
    position: int
    customer_id: str
    customer_name: str | None
    contact_id: str | None
    contact_name: str | None
    phone: str
    agent_id: str | None
    status: EntryStatus
    attempts: int
    outcome: str | None
    callback_at: datetime | None
    last_call_id: str | None
    version: int


class CallListEntryPage(Page[CallListEntry]):
    pass


class EntryQuery(PageQuery):
    status: EntryStatus | None = None
    agent_id: Ref | None = None
    due: bool | None = Field(None, description="to call now: pending, or a callback "
                             "whose time has come")


class EntryAttemptIn(Strict):
    outcome: EntryOutcome
    callback_at: datetime | None = Field(None, description="with outcome callback")
    call_id: Ref | None = Field(None, description="the call log of this attempt")
    notes: str | None = Field(None, max_length=2000)


class CallReportQuery(ReportQuery):
    agent_id: Ref | None = None


class CallReport(BaseModel):
    calls: int
    inbound: int
    outbound: int
    answer_rate_percent: float | None
    average_handling_seconds: float | None
    callback_completion_percent: float | None
    by_agent_hour: list[dict[str, Any]]
