"""Work orders (派工单, SVC-02): a ticket's field work, dispatched to a technician.

    not_dispatched ─dispatch─► dispatched (unconfirmed) ─confirm─► confirmed ─start─►
    in_progress ─complete (work record)─► completed ─close─► closed

A dispatched order may be dispatched again to someone else (or declined by its
technician, back to not dispatched) until work starts; an order not yet started may be
cancelled. Only the order's technician confirms, starts and completes it (or a
dispatcher, on their behalf).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from crm_platform.errors import Forbidden, ValidationFailed
from crm_platform.states import StateMachine

WORK_ORDER = StateMachine("work order", {
    "dispatch": ("not_dispatched dispatched confirmed", "dispatched"),
    "decline": ("dispatched", "not_dispatched"),
    "confirm": ("dispatched", "confirmed"),
    "start": ("confirmed", "in_progress"),
    "complete": ("in_progress", "completed"),
    "close": ("completed", "closed"),
    "cancel": ("not_dispatched dispatched confirmed", "cancelled"),
    "edit": ("not_dispatched dispatched confirmed in_progress", None),
})
# the orders that count towards a technician's load
LOAD_STATUSES: tuple[str, ...] = ("dispatched", "confirmed", "in_progress")
OPEN_STATUSES: tuple[str, ...] = ("not_dispatched", *LOAD_STATUSES)
TECHNICIAN_ACTIONS = frozenset({"decline", "confirm", "start", "complete"})
MAX_HOURS = Decimal("1000")


def work_order_number(year: int, sequence: int) -> str:
    return f"WO-{year}-{sequence:06d}"


def check_technician_action(action: str, technician_id: str | None, caller_id: str,
                            dispatcher: bool) -> None:
    """Confirming, starting, completing and declining are the technician's own steps."""
    if action in TECHNICIAN_ACTIONS and technician_id != caller_id and not dispatcher:
        raise Forbidden("only the dispatched technician can do this",
                        code="not_the_technician")


def work_hours(value: str) -> Decimal:
    try:
        hours = Decimal(value)
    except InvalidOperation:
        raise ValidationFailed("hours is a decimal number", code="invalid_hours") from None
    if not hours.is_finite() or hours <= 0 or hours > MAX_HOURS:
        raise ValidationFailed(f"hours is more than 0 and at most {MAX_HOURS}",
                               code="invalid_hours")
    return hours.quantize(Decimal("0.01"))


@dataclass(frozen=True)
class Candidate:
    """A technician as the suggestion sees them: skill level in the order's product
    category (0: none recorded) and open orders now."""

    technician_id: str
    display_name: str
    skill_level: int
    open_work_orders: int


def rank_technicians(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Who to dispatch to, best first: technicians with the skill before those without,
    then the least loaded, then the most skilled, then by name (a stable order)."""
    return sorted(candidates, key=lambda c: (c.skill_level == 0, c.open_work_orders,
                                             -c.skill_level, c.display_name,
                                             c.technician_id))
