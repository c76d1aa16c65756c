"""RPC inputs and outputs of the notification service (also the gateway's API models)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from crm_platform.inputs import Ref, Strict, kept
from crm_platform.pagination import Page, PageQuery
from pydantic import BaseModel, ConfigDict, Field

Channel = Literal["inbox", "email", "sms", "wechat"]
Category = Literal["transactional", "care", "marketing"]
Locale = Literal["zh-CN", "en"]
DeliveryStatus = Literal["queued", "sent", "delivered", "failed", "suppressed"]
EventPattern = Annotated[str, Field(min_length=1, max_length=200,
                                    pattern=r"^[a-z_][a-z0-9_]*(\.([a-z0-9_]+|\*))*$|^\*$",
                                    examples=["invoice.*", "customer.owner_changed"])]
LocalTime = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["09:00"])]


class Query(PageQuery):
    """A list without filters of its own."""


# -- inbox (NTF-01) -----------------------------------------------------------------------------
class InboxQuery(PageQuery):
    unread: bool | None = Field(None, description="only unread (true) or read (false)")


class InboxMessage(BaseModel):
    id: str
    event_type: str | None
    title: str
    body: str
    read_at: datetime | None
    created_at: datetime


class InboxPage(Page[InboxMessage]):
    pass


class UnreadCount(BaseModel):
    unread: int


class MarkedRead(BaseModel):
    marked: int


# -- templates (NTF-04) -------------------------------------------------------------------------
class TemplateBody(Strict):
    subject: str | None = Field(None, max_length=500)
    text: str = Field(min_length=1, max_length=20000)
    html: str | None = Field(None, max_length=100000)


class TemplateIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    event_type: EventPattern | None = Field(
        None, description="the event whose payload the template reads as `data` (its "
        "fields are checked)")
    bodies: dict[Locale, TemplateBody] = Field(min_length=1, description="per locale")
    sms_template_code: str | None = Field(None, max_length=100)
    wechat_template_id: str | None = Field(None, max_length=100)


class TemplateUpdate(Strict):
    name: str = kept(min_length=1, max_length=200)
    event_type: EventPattern | None = None
    bodies: dict[Locale, TemplateBody] = kept(min_length=1)
    sms_template_code: str | None = Field(None, max_length=100)
    wechat_template_id: str | None = Field(None, max_length=100)


class Template(BaseModel):
    id: str
    name: str
    event_type: str | None
    bodies: dict[str, dict[str, str | None]]
    sms_template_code: str | None
    wechat_template_id: str | None
    default_key: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class TemplatePage(Page[Template]):
    pass


class PreviewRequest(Strict):
    locale: Locale = "zh-CN"
    data: dict[str, Any] = Field(default_factory=dict, description="the event payload")
    recipient_name: str = Field("张三", max_length=200)
    owner: dict[str, str] = Field(default_factory=dict)
    customer: dict[str, str] = Field(default_factory=dict)
    holiday: dict[str, str] = Field(default_factory=dict)


class Preview(BaseModel):
    locale: str
    subject: str
    text: str
    html: str | None


# -- rules (NTF-02, NTF-03) ------------------------------------------------------------------------
Recipient = Literal["owner", "assignee", "technician", "approver", "manager", "submitter",
                    "agent", "holder", "escalated_to", "requester", "owner_manager",
                    "customer_contacts", "archivists"]


class Timing(Strict):
    field: str = Field(min_length=1, max_length=100,
                       description="the event's date or time field the message is timed by")
    offset_minutes: int = Field(0, ge=-525600, le=5256000)
    at: LocalTime | None = Field(None, description="local time when the field is a date")
    repeat_days: int | None = Field(None, ge=1, le=3650)


class RuleIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    event_type: EventPattern = Field(description="event type or pattern; "
                                     "schedule.birthday / schedule.holiday for care")
    condition: str | None = Field(None, max_length=2000,
                                  description="jinja2 expression, e.g. `data.escalated`")
    recipients: list[Recipient] = Field(min_length=1)
    channels: list[Channel] = Field(min_length=1)
    template_id: Ref
    category: Category = "transactional"
    timing: Timing | None = None
    enabled: bool = True


class RuleUpdate(Strict):
    name: str = kept(min_length=1, max_length=200)
    event_type: EventPattern = kept()
    condition: str | None = Field(None, max_length=2000)
    recipients: list[Recipient] = kept(min_length=1)
    channels: list[Channel] = kept(min_length=1)
    template_id: Ref = kept()
    category: Category = kept()
    timing: Timing | None = None
    enabled: bool = kept()


class Rule(BaseModel):
    id: str
    name: str
    event_type: str
    condition: str | None
    recipients: list[str]
    channels: list[str]
    template_id: str
    category: str
    timing: dict[str, Any] | None
    enabled: bool
    default_key: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class RuleQuery(PageQuery):
    event_type: str | None = Field(None, max_length=200)


class RulePage(Page[Rule]):
    pass


# -- consent settings and the calendar (NTF-03, NTF-05) --------------------------------------------
class QuietHours(Strict):
    start: LocalTime
    end: LocalTime
    channels: list[Channel] = ["sms", "wechat", "email"]
    categories: list[Category] = ["marketing", "care"]


class Cap(Strict):
    category: Category | Literal["*"]
    channel: Channel | Literal["*"]
    max: int = Field(ge=0, le=10000)
    period_days: int = Field(ge=1, le=366)


class ConsentSettings(Strict):
    timezone: str = Field("Asia/Shanghai", max_length=60)
    quiet_hours: QuietHours | None = None
    caps: list[Cap] = []


class HolidayIn(Strict):
    date: date
    name: str = Field(min_length=1, max_length=100)


class Holiday(BaseModel):
    id: str
    date: date
    name: str
    version: int
    created_at: datetime


class HolidayPage(Page[Holiday]):
    pass


class SchedulerRun(Strict):
    at: datetime | None = Field(None, description="run as of this time (default: now)")


class SchedulerResult(BaseModel):
    at: datetime
    reminders: int
    calendar: int


# -- sending by request and the delivery log (NTF-05, NTF-06) --------------------------------------
class NotificationRecipients(Strict):
    contact_ids: list[Ref] = Field(default_factory=list, max_length=1000)
    customer_ids: list[Ref] = Field(default_factory=list, max_length=1000,
                                    description="each customer's contacts")
    user_ids: list[Ref] = Field(default_factory=list, max_length=1000)


class NotificationIn(Strict):
    template_id: Ref
    category: Category = "marketing"
    channels: list[Channel] = Field(min_length=1)
    recipients: NotificationRecipients
    data: dict[str, Any] = Field(default_factory=dict)


class PortalInviteMail(Strict):
    """The gateway's portal invitation to a contact (SVC-07): the one-time token reaches
    the contact by e-mail from here, never through the event bus."""

    contact_id: Ref
    customer_id: Ref
    customer_name: str | None = Field(None, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=320)
    locale: str = Field("zh-CN", max_length=10)
    username: str = Field(min_length=1, max_length=150)
    invite_token: str = Field(min_length=1, max_length=200)
    expires_at: datetime
    accept_url: str | None = Field(None, max_length=500)


class NotificationResult(BaseModel):
    id: str
    queued: int
    suppressed: int
    delivery_ids: list[str]


class DeliveryQuery(PageQuery):
    status: DeliveryStatus | None = None
    channel: Channel | None = None
    recipient_id: str | None = Field(None, max_length=36)
    event_id: str | None = Field(None, max_length=64)
    rule_id: str | None = Field(None, max_length=36)


class Delivery(BaseModel):
    id: str
    rule_id: str | None
    template_id: str | None
    event_id: str | None
    event_type: str | None
    occurrence: str
    recipient_kind: str
    recipient_id: str
    recipient_name: str | None
    address: str | None
    channel: str
    category: str
    locale: str
    subject: str
    body_text: str
    status: str
    reason: str | None
    attempts: int
    due_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    provider: str | None
    provider_message_id: str | None
    provider_response: str | None
    created_at: datetime


class DeliveryPage(Page[Delivery]):
    pass


# -- outbound webhooks (NTF-07) -------------------------------------------------------------------
class WebhookIn(Strict):
    url: str = Field(min_length=1, max_length=2000)
    event_types: list[EventPattern] = Field(min_length=1, max_length=100)
    description: str | None = Field(None, max_length=500)


class WebhookUpdate(Strict):
    url: str = kept(min_length=1, max_length=2000)
    event_types: list[EventPattern] = kept(min_length=1, max_length=100)
    description: str | None = Field(None, max_length=500)


class Webhook(BaseModel):
    id: str
    url: str
    description: str | None
    event_types: list[str]
    status: str
    failing_since: datetime | None
    disabled_reason: str | None
    previous_secret_expires_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


class WebhookWithSecret(Webhook):
    secret: str = Field(description="shown once: the key receivers verify signatures with")


class WebhookPage(Page[Webhook]):
    pass


class RotateSecret(Strict):
    overlap_hours: float = Field(24, ge=0, le=720,
                                 description="how long the old secret still signs too")


class WebhookAttempt(BaseModel):
    attempted_at: datetime
    status_code: int | None
    error: str | None
    response_body: str | None
    duration_ms: int
    trigger: str


class WebhookDelivery(BaseModel):
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    succeeded_at: datetime | None
    created_at: datetime
    attempt_log: list[WebhookAttempt] = []


class WebhookDeliveryQuery(PageQuery):
    status: Literal["pending", "succeeded", "failed"] | None = None


class WebhookDeliveryPage(Page[WebhookDelivery]):
    pass


class ReplaySince(Strict):
    since: datetime
    status: Literal["all", "failed"] = "all"


class Replayed(BaseModel):
    replayed: int


# -- inbound lead capture and public endpoints -----------------------------------------------------
class InboundSourceIn(Strict):
    name: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    owner_id: Ref = Field(description="who the source's leads go to")
    campaign_id: Ref | None = None


class InboundSource(BaseModel):
    id: str
    name: str
    owner_id: str
    campaign_id: str | None
    enabled: bool
    version: int
    created_at: datetime


class InboundSourceWithSecret(InboundSource):
    secret: str


class InboundSourcePage(Page[InboundSource]):
    pass


class InboundLeadIn(Strict):
    """What a source posts (signed as Standard Webhooks)."""

    model_config = ConfigDict(extra="ignore")  # sources send more than we keep

    id: str = Field(min_length=1, max_length=200, description="the source's own id")
    name: str = Field(min_length=1, max_length=200, description="company or person")
    kind: Literal["company", "person"] = "company"
    contact_name: str | None = Field(None, max_length=100)
    phone: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=200)
    province: str | None = Field(None, max_length=50)
    industry: str | None = Field(None, max_length=100)
    note: str | None = Field(None, max_length=4000)


class InboundLeadAccepted(BaseModel):
    id: str
    source: str
    external_id: str
    duplicate: bool


class PublicRequest(BaseModel):
    """What the gateway forwards of an unauthenticated request (signed by its sender)."""

    body: str
    headers: dict[str, str]
    query: dict[str, str]


class Unsubscribed(BaseModel):
    unsubscribed: bool


class ReceiptsAccepted(BaseModel):
    updated: int
