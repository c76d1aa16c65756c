"""State machines of leads, opportunities, quotes and orders (SAL-01, 02, 06, 07).

Each machine lists, per action, the states it may start from and the state it leads to;
anything else is the platform's 409 ``invalid_transition`` (:mod:`crm_platform.states`)."""

from __future__ import annotations

from crm_platform.errors import ValidationFailed
from crm_platform.states import StateMachine

LEAD = StateMachine("lead", {
    "contact": ("new", "contacted"),
    "qualify": ("new contacted", "qualified"),
    "disqualify": ("new contacted qualified", "disqualified"),
    "reopen": ("disqualified", "contacted"),
    "convert": ("new contacted qualified", "converted"),
    # editing and reassigning keep the state; a converted lead is final
    "edit": ("new contacted qualified disqualified", None),
    "assign": ("new contacted qualified disqualified", None),
})

OPPORTUNITY = StateMachine("opportunity", {
    "stage": ("open", "open"),
    "edit": ("open", None),
    "win": ("open", "won"),
    "lose": ("open", "lost"),
    "reopen": ("lost", "open"),
})

QUOTE = StateMachine("quote", {
    "edit": ("draft rejected", "draft"),
    "submit_for_approval": ("draft", "pending_approval"),
    "submit": ("draft", "approved"),  # within the discount threshold: no approval needed
    "approve": ("pending_approval", "approved"),
    "reject": ("pending_approval", "rejected"),
    "convert": ("approved", "converted"),
    "supersede": ("draft pending_approval approved rejected", "superseded"),
})

ORDER = StateMachine("order", {
    "edit": ("draft", None),
    "submit": ("draft", "pending_approval"),
    "confirm": ("draft pending_approval", "confirmed"),
    "approve": ("pending_approval", "confirmed"),  # the manager's confirmation
    "start_delivery": ("confirmed", "in_delivery"),
    "complete": ("in_delivery", "completed"),
    "cancel": ("draft pending_approval confirmed", "cancelled"),
})


def require_reason(reason: str | None, what: str) -> str:
    if not reason or not reason.strip():
        raise ValidationFailed(f"a {what} is required", code="reason_required")
    return reason.strip()
