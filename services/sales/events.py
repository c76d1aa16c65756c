"""Events the sales service publishes on ``sales.events`` (the contract)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from crm_platform.events import EventData


class LeadCreated(EventData):
    event_type = "lead.created"
    id: str
    name: str
    source: str | None
    campaign_id: str | None
    owner_id: str | None


class LeadConverted(EventData):
    """A lead became a customer (through the customer service) and an opportunity."""

    event_type = "lead.converted"
    id: str
    customer_id: str
    opportunity_id: str
    campaign_id: str | None
    owner_id: str | None


class OpportunityEvent(EventData):
    id: str
    customer_id: str
    owner_id: str | None
    stage_id: str
    status: str
    amount: Decimal
    currency: str
    campaign_id: str | None = None


class OpportunityStageChanged(OpportunityEvent):
    event_type = "opportunity.stage_changed"
    from_stage_id: str | None


class OpportunityWon(OpportunityEvent):
    event_type = "opportunity.won"


class OpportunityLost(OpportunityEvent):
    event_type = "opportunity.lost"
    lost_reason: str


class QuoteEvent(EventData):
    id: str
    number: str
    customer_id: str
    owner_id: str | None
    amount: Decimal
    currency: str
    max_discount_percent: Decimal


class QuoteSubmitted(QuoteEvent):
    """A quote over the discount threshold waits for ``approver_id`` (the owner's
    manager)."""

    event_type = "quote.submitted"
    approver_id: str | None


class QuoteApproved(QuoteEvent):
    event_type = "quote.approved"
    decided_by: str | None


class QuoteRejected(QuoteEvent):
    event_type = "quote.rejected"
    decided_by: str
    comment: str | None


class OrderEvent(EventData):
    subject_field: ClassVar[str | None] = "order_id"
    order_id: str
    number: str
    customer_id: str
    owner_id: str | None
    owner_team_id: str | None


class OrderConfirmed(OrderEvent):
    """Billing builds the payment plan from this; the customer service counts the order."""

    event_type = "order.confirmed"
    customer_name: str
    currency: str
    amount: Decimal
    tax_amount: Decimal
    lines: list[dict[str, Any]]
    payment_terms: dict[str, Any]
    confirmed_at: datetime
    signed_at: date | None
    start_date: date | None
    end_date: date | None
    credit_override_by: str | None


class OrderCancelled(OrderEvent):
    event_type = "order.cancelled"
    reason: str
    was_confirmed: bool


class OrderDelivered(OrderEvent):
    event_type = "order.delivered"
    delivery_id: str
    delivered_on: date
    lines: list[dict[str, Any]]


class OrderCompleted(OrderEvent):
    event_type = "order.completed"
    completed_at: datetime


class ProductSnapshot(EventData):
    """A catalogue product as sales has it; ``version`` orders snapshots of one product
    (the documents service keeps a copy to link product materials)."""

    id: str
    code: str
    name: str
    product_version: str
    is_active: bool
    version: int


class ProductCreated(ProductSnapshot):
    event_type = "product.created"


class ProductUpdated(ProductSnapshot):
    event_type = "product.updated"


class CampaignSnapshot(EventData):
    """A marketing campaign as sales has it; ``version`` orders snapshots."""

    id: str
    name: str
    kind: str
    owner_id: str
    version: int


class CampaignCreated(CampaignSnapshot):
    event_type = "campaign.created"


class CampaignUpdated(CampaignSnapshot):
    event_type = "campaign.updated"


class OrderCreated(EventData):
    """A draft order was entered (its contract file may be archived before it is
    confirmed)."""

    event_type = "order.created"
    id: str
    number: str
    customer_id: str
    owner_id: str | None
    status: str
    version: int
