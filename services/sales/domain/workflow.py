"""State machines of leads, opportunities, quotes and orders (SAL-01, 02, 06, 07).

Each table lists, per action, the states it may start from and the state it leads to;
anything else is a 409 ``invalid_transition``."""

from __future__ import annotations

from crm_platform.errors import StateViolation, ValidationFailed

Transitions = dict[str, tuple[frozenset[str], str]]


def _t(sources: str, target: str) -> tuple[frozenset[str], str]:
    return frozenset(sources.split()), target


LEAD: Transitions = {
    "contact": _t("new", "contacted"),
    "qualify": _t("new contacted", "qualified"),
    "disqualify": _t("new contacted qualified", "disqualified"),
    "reopen": _t("disqualified", "contacted"),
    "convert": _t("new contacted qualified", "converted"),
}

OPPORTUNITY: Transitions = {
    "stage": _t("open", "open"),
    "win": _t("open", "won"),
    "lose": _t("open", "lost"),
    "reopen": _t("lost", "open"),
}

QUOTE: Transitions = {
    "edit": _t("draft rejected", "draft"),
    "submit_for_approval": _t("draft", "pending_approval"),
    "submit": _t("draft", "approved"),  # within the discount threshold: no approval needed
    "approve": _t("pending_approval", "approved"),
    "reject": _t("pending_approval", "rejected"),
    "convert": _t("approved", "converted"),
    "supersede": _t("draft pending_approval approved rejected", "superseded"),
}

ORDER: Transitions = {
    "edit": _t("draft", "draft"),
    "submit": _t("draft", "pending_approval"),
    "confirm": _t("draft pending_approval", "confirmed"),
    "approve": _t("pending_approval", "confirmed"),  # the manager's confirmation
    "start_delivery": _t("confirmed", "in_delivery"),
    "complete": _t("in_delivery", "completed"),
    "cancel": _t("draft pending_approval confirmed", "cancelled"),
}


def next_status(machine: Transitions, kind: str, status: str, action: str) -> str:
    sources, target = machine[action]
    if status not in sources:
        raise StateViolation(f"cannot {action.replace('_', ' ')} a {kind} that is "
                             f"{status.replace('_', ' ')}", code="invalid_transition",
                             extra={"status": status, "action": action})
    return target


def require_reason(reason: str | None, what: str) -> str:
    if not reason or not reason.strip():
        raise ValidationFailed(f"a {what} is required", code="reason_required")
    return reason.strip()
