"""Events the customer service publishes on ``customer.events`` (the contract)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from crm_platform.events import EventData
from pydantic import Field


class CustomerSnapshot(EventData):
    id: str
    code: str
    name: str
    kind: str
    owner_id: str | None
    owner_team_id: str | None
    status: str
    phones: list[str] = []
    emails: list[str] = []
    tax_id: str | None = None
    industry: str | None = None
    province: str | None = None
    city: str | None = None
    tags: list[str] = []
    version: int


class CustomerCreated(CustomerSnapshot):
    """A customer record was created (directly, by import or by lead conversion)."""

    event_type = "customer.created"


class CustomerUpdated(CustomerSnapshot):
    """Profile fields changed; ``changed`` lists their names."""

    event_type = "customer.updated"
    changed: list[str] = []


class CustomerOwnerChanged(CustomerSnapshot):
    """The owning salesperson changed (None: back in the public pool). Also published at
    creation when an assignment rule gave the customer to someone other than whoever
    entered it; otherwise ``customer.created`` names the first owner. Carries the whole
    record, as every customer event that changes it does, so a copy is kept from any
    one of them."""

    event_type = "customer.owner_changed"
    previous_owner_id: str | None
    reason: str


class CustomerArchived(CustomerSnapshot):
    event_type = "customer.archived"


class CustomerErased(CustomerSnapshot):
    """A person customer's personal data was erased on their request (#26 S8): the
    snapshot is the anonymised record, one version on, which every copy takes in place
    of what it held; each service anonymises what it keeps of the person besides (text
    copied from the record, messages sent to them). ``erased_by`` and ``erased_at``
    record the erasure itself; the erased values are in no event."""

    event_type = "customer.erased"
    erased_by: str
    erased_at: datetime


class CustomerMerged(CustomerSnapshot):
    """``merged_id`` is gone; every reference to it should now point at ``survivor_id``.
    The snapshot is the merged record's last (``status: merged``)."""

    event_type = "customer.merged"
    subject_field = "survivor_id"
    survivor_id: str
    merged_id: str


class CustomerClassified(EventData):
    event_type = "customer.classified"
    id: str
    tier: str | None
    lifecycle: str
    stage: str
    volume_class: str
    rfm_recency: int | None = None
    rfm_frequency: int | None = None
    rfm_monetary: int | None = None
    paid_revenue: Decimal = Decimal("0")


class ContactSnapshot(EventData):
    """A customer's contact person as the customer service has it (phones normalised);
    ``version`` orders snapshots of one contact (services keep a copy,
    :mod:`crm_platform.read_models`). Events published before it was added carry 0."""

    id: str
    customer_id: str
    name: str
    phones: list[str] = []
    emails: list[str] = []
    email: str | None = Field(None, description="the first of emails (kept for subscribers "
                              "written before emails)")
    birthday: date | None = None
    marketing_opt_out: bool = False
    locale: str = "zh-CN"
    wechat_openid: str | None = None
    version: int = 0


class ContactCreated(ContactSnapshot):
    event_type = "contact.created"


class ContactUpdated(ContactSnapshot):
    event_type = "contact.updated"


class ContactDeleted(ContactSnapshot):
    """The contact is gone; the snapshot is its last, one version on."""

    event_type = "contact.deleted"


class ContactErased(ContactSnapshot):
    """The contact's personal data was erased on request (#26 S8): the snapshot is the
    anonymised contact, one version on, which every copy takes in place of what it held.
    ``erased_by`` and ``erased_at`` record the erasure itself."""

    event_type = "contact.erased"
    erased_by: str
    erased_at: datetime


class FollowupLogged(EventData):
    event_type = "followup.logged"
    id: str
    customer_id: str
    owner_id: str
    method: str
    occurred_at: datetime
    next_followup_on: date | None = None


class FollowupDue(EventData):
    """A follow-up's next date is set: a reminder for ``owner_id`` on ``due_on``."""

    event_type = "followup.due"
    id: str
    customer_id: str
    owner_id: str
    due_on: date


class VisitPlanChanged(EventData):
    """Base of the visit_plan.* events (not published itself)."""

    id: str
    customer_id: str
    owner_id: str
    status: str
    planned_at: datetime
    extra: dict[str, Any] = {}


class VisitPlanCreated(VisitPlanChanged):
    event_type = "visit_plan.created"


class VisitPlanAppointed(VisitPlanChanged):
    event_type = "visit_plan.appointed"


class VisitPlanVisited(VisitPlanChanged):
    event_type = "visit_plan.visited"


class VisitPlanReported(VisitPlanChanged):
    event_type = "visit_plan.reported"


class VisitPlanApproved(VisitPlanChanged):
    event_type = "visit_plan.approved"


class VisitPlanReturned(VisitPlanChanged):
    event_type = "visit_plan.returned"


class VisitPlanArchived(VisitPlanChanged):
    event_type = "visit_plan.archived"


VISIT_EVENTS: dict[str, type[VisitPlanChanged]] = {
    "appoint": VisitPlanAppointed, "record": VisitPlanVisited, "report": VisitPlanReported,
    "approve": VisitPlanApproved, "return": VisitPlanReturned, "archive": VisitPlanArchived,
}


# -- membership (CUS-17) -----------------------------------------------------------------
class MemberCardChanged(EventData):
    """A member card was issued (``member_card.issued``) or its status changed."""

    event_type = "member_card.changed"
    id: str
    number: str
    customer_id: str
    status: str
    tier: str | None = None
    balance: int
    version: int


class MemberPointsChanged(EventData):
    """An entry was posted on a card's points ledger; ``balance`` is the card's balance
    after it (the ledger's sum)."""

    event_type = "member.points_changed"
    subject_field = "card_id"
    card_id: str
    customer_id: str
    entry_id: str
    kind: str
    points: int
    balance: int
    qualifying_points: int
    reason: str | None = None
    payment_id: str | None = None
    bonus_points: int = 0


class MemberTierChanged(EventData):
    """A card moved to another tier (``from_tier`` / ``to_tier``: tier codes, None below
    every tier): at a ledger entry, or when the tier run finds the rolling window moved
    (published once per change)."""

    event_type = "member.tier_changed"
    subject_field = "card_id"
    card_id: str
    customer_id: str
    from_tier: str | None = None
    to_tier: str | None = None
    qualifying_points: int
    # what the tier was set from (the qualifying points, or a rolling window's points or
    # money); ``recomputed``: the window moved (the tier run), not a ledger entry
    tier_value: int | None = None
    recomputed: bool = False
