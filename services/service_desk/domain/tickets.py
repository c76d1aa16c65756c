"""Tickets (SVC-01): the lifecycle, numbers, and what each step does to the SLA clocks.

    new ──assign / reply──► open ◄──► pending (waiting on the customer)
     └──────────────┬────────┘           │
                    ▼                    ▼
                 resolved ──close──► closed
                    └──── reopen ◄───────┘

Pending pauses every running clock; leaving it resumes them. A public reply by staff
meets the first-response target; assigning the ticket to a person meets the dispatch
target; resolving meets what is still open; reopening runs the resolution clock again.
Internal notes touch no clock and no state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Literal

from crm_platform.errors import ValidationFailed
from crm_platform.states import StateMachine

from services.service_desk.domain import sla
from services.service_desk.domain.calendar import BusinessCalendar

Status = Literal["new", "open", "pending", "resolved", "closed"]
OPEN_STATUSES: tuple[str, ...] = ("new", "open", "pending", "resolved")
ACTIVE_STATUSES: tuple[str, ...] = ("new", "open", "pending")

TICKET = StateMachine("ticket", {
    "open": ("new pending", "open"),
    "set_pending": ("new open", "pending"),
    "resolve": ("new open pending", "resolved"),
    "close": ("resolved", "closed"),
    "reopen": ("resolved closed", "open"),
    # these keep the state (assigning a new ticket to a person also opens it)
    "edit": ("new open pending", None),
    "assign": ("new open pending resolved", None),
    "reply": ("new open pending resolved", None),
    "note": ("new open pending resolved closed", None),
    "escalate": ("new open pending resolved", None),
    "rate": ("resolved closed", None),
})

# a client's clock may run a little ahead of ours; past that, a time "received" in the
# future is refused
RECEIVED_SKEW = timedelta(minutes=2)
EARLIEST_RECEIVED = date(2000, 1, 1)

ClockStep = Callable[[sla.Clock, datetime, BusinessCalendar | None], sla.Clock]


def ticket_number(year: int, sequence: int) -> str:
    """``TK-2026-000042``: one gap-free series per year."""
    return f"TK-{year}-{sequence:06d}"


def received_at(given: datetime | None, now: datetime) -> datetime:
    """When the request reached us: now by default; an agent logging a phone call later
    may put it in the past, never in the future."""
    if given is None:
        return now
    if given.tzinfo is None:
        raise ValidationFailed("received_at needs a time zone offset", code="invalid_time",
                               extra={"errors": [{"field": "received_at",
                                                  "message": "no offset"}]})
    if given > now + RECEIVED_SKEW:
        raise ValidationFailed("received_at cannot be in the future",
                               code="received_in_future",
                               extra={"errors": [{"field": "received_at",
                                                  "message": "in the future"}]})
    if given.date() < EARLIEST_RECEIVED:
        raise ValidationFailed("received_at is too far in the past", code="invalid_time",
                               extra={"errors": [{"field": "received_at",
                                                  "message": "before 2000"}]})
    return min(given, now)


def step_all(clocks: Sequence[sla.Clock], step: ClockStep, at: datetime,
             calendar: BusinessCalendar | None,
             only: Sequence[sla.Target] | None = None) -> list[sla.Clock]:
    return [step(c, at, calendar) if only is None or c.target in only else c for c in clocks]


def clocks_after(action: str, status_before: str, status_after: str,
                 clocks: Sequence[sla.Clock], at: datetime,
                 calendar: BusinessCalendar | None) -> list[sla.Clock]:
    """The clocks once a status change is done: pending pauses, leaving pending resumes,
    resolving meets every open target, reopening runs the resolution clock again."""
    result = list(clocks)
    if status_before == "pending" and status_after != "pending":
        result = step_all(result, sla.resume, at, calendar)
    if status_after == "pending" and status_before != "pending":
        result = step_all(result, sla.pause, at, calendar)
    if action == "resolve":
        result = step_all(result, sla.meet, at, calendar)
    if action == "reopen":
        result = step_all(result, sla.restart, at, calendar, only=("resolution",))
    return result


def check_resolution(text: str | None) -> str:
    if not text or not text.strip():
        raise ValidationFailed("say how the ticket was resolved", code="resolution_required",
                               extra={"errors": [{"field": "resolution",
                                                  "message": "required"}]})
    return text.strip()


def check_customer(kind: str, customer_id: str | None) -> None:
    """Every ticket but an internal one is some customer's."""
    if customer_id is None and kind != "internal":
        raise ValidationFailed("a ticket needs a customer (only internal ones do not)",
                               code="customer_required",
                               extra={"errors": [{"field": "customer_id",
                                                  "message": "required"}]})
