"""SLA clocks (SVC-03): one clock per target of a ticket.

A ticket has a first-response and a resolution target; a complaint also has a dispatch
target (SVC-03: dispatched within 60 minutes of receipt). Each clock has a budget of
working time (the policy's minutes) and runs from the ticket's ``received_at``:

- it runs in the policy calendar's working hours (around the clock without a calendar);
  the dispatch clock always runs around the clock, since the 60 minutes are counted
  from receipt whatever the hour;
- it pauses while the ticket is pending (waiting on the customer) and resumes where it
  stopped, so its due time moves by exactly the working time spent paused;
- it stops when its target is met: first response at the first public reply (or the
  resolution), dispatch when the ticket is assigned to a person or a work order is
  dispatched, resolution when the ticket is resolved; a reopened ticket's resolution
  clock runs again with what was left;
- it is breached once its due time passes unmet; a breach is recorded once per clock.

Clocks are values: every operation returns a new clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from crm_platform.errors import ValidationFailed

from services.service_desk.domain.calendar import ZERO, BusinessCalendar, add_time, elapsed_time

Target = Literal["first_response", "resolution", "dispatch"]
TARGETS: tuple[Target, ...] = ("first_response", "resolution", "dispatch")
Priority = Literal["low", "normal", "high", "urgent"]
Category = Literal["consultation", "fault", "complaint", "suggestion"]

# targets (minutes) when no policy matches the ticket
DEFAULT_MINUTES: dict[str, tuple[int, int]] = {  # priority -> (first response, resolution)
    "urgent": (30, 4 * 60),
    "high": (60, 8 * 60),
    "normal": (4 * 60, 24 * 60),
    "low": (8 * 60, 72 * 60),
}
COMPLAINT_DISPATCH_MINUTES = 60
MAX_MINUTES = 365 * 24 * 60


@dataclass(frozen=True)
class Clock:
    target: Target
    budget: timedelta
    business_hours: bool
    consumed: timedelta = ZERO  # working time used before ``running_since``
    running_since: datetime | None = None
    paused_at: datetime | None = None
    paused_total: timedelta = ZERO  # wall time spent paused, for the ticket's sla block
    due_at: datetime | None = None  # None while paused or met
    met_at: datetime | None = None
    breached_at: datetime | None = None

    @property
    def running(self) -> bool:
        return self.running_since is not None

    @property
    def paused(self) -> bool:
        return self.paused_at is not None


def _calendar(clock: Clock, calendar: BusinessCalendar | None) -> BusinessCalendar | None:
    return calendar if clock.business_hours else None


def start(target: Target, minutes: int, business_hours: bool, at: datetime,
          calendar: BusinessCalendar | None) -> Clock:
    clock = Clock(target, timedelta(minutes=minutes), business_hours, running_since=at)
    return dataclasses.replace(clock, due_at=add_time(_calendar(clock, calendar), at,
                                                      clock.budget))


def _used(clock: Clock, at: datetime, calendar: BusinessCalendar | None) -> timedelta:
    if clock.running_since is None:
        return clock.consumed
    return clock.consumed + elapsed_time(_calendar(clock, calendar), clock.running_since, at)


def pause(clock: Clock, at: datetime, calendar: BusinessCalendar | None) -> Clock:
    """Stop a running clock, keeping the working time used so far."""
    if not clock.running or clock.met_at is not None:
        return clock
    return dataclasses.replace(clock, consumed=_used(clock, at, calendar),
                               running_since=None, paused_at=at, due_at=None)


def resume(clock: Clock, at: datetime, calendar: BusinessCalendar | None) -> Clock:
    """Run a paused clock again with the budget it had left."""
    if clock.paused_at is None or clock.met_at is not None:
        return clock
    resumed = dataclasses.replace(clock, running_since=at, paused_at=None,
                                  paused_total=clock.paused_total + (at - clock.paused_at))
    return _with_due(resumed, calendar)


def _with_due(clock: Clock, calendar: BusinessCalendar | None) -> Clock:
    assert clock.running_since is not None
    left = clock.budget - clock.consumed  # none left: due at once
    return dataclasses.replace(clock, due_at=add_time(_calendar(clock, calendar),
                                                      clock.running_since, left))


def meet(clock: Clock, at: datetime, calendar: BusinessCalendar | None) -> Clock:
    """The target is met at ``at`` (a paused clock too: the pause ends there)."""
    if clock.met_at is not None:
        return clock
    paused_total = clock.paused_total + (at - clock.paused_at if clock.paused_at else ZERO)
    return dataclasses.replace(clock, consumed=_used(clock, at, calendar), running_since=None,
                               paused_at=None, paused_total=paused_total, met_at=at)


def restart(clock: Clock, at: datetime, calendar: BusinessCalendar | None) -> Clock:
    """A met clock runs again from ``at`` with what it had left (a reopened ticket)."""
    if clock.met_at is None:
        return clock
    return _with_due(dataclasses.replace(clock, met_at=None, running_since=at), calendar)


def retarget(clock: Clock, minutes: int, calendar: BusinessCalendar | None) -> Clock:
    """A new budget (the ticket's priority or category changed): a running clock's due time
    follows; a breach already recorded stays."""
    changed = dataclasses.replace(clock, budget=timedelta(minutes=minutes))
    return _with_due(changed, calendar) if changed.running else changed


def is_due(clock: Clock, now: datetime) -> bool:
    """Unmet, not yet recorded as breached, and past its due time."""
    return (clock.met_at is None and clock.breached_at is None and clock.due_at is not None
            and clock.due_at <= now)


def breach(clock: Clock, at: datetime) -> Clock:
    return dataclasses.replace(clock, breached_at=at)


def breached(clock: Clock) -> bool:
    """Recorded as breached, or met after its due time (a late first response)."""
    if clock.breached_at is not None:
        return True
    return (clock.met_at is not None and clock.due_at is not None
            and clock.met_at > clock.due_at)


def paused_for(clock: Clock, now: datetime) -> timedelta:
    return clock.paused_total + (now - clock.paused_at if clock.paused_at else ZERO)


# -- policies ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Policy:
    """A row of ``/sla-policies``: targets for a category and / or priority (None: any)."""

    id: str
    name: str
    category: str | None
    priority: str | None
    first_response_minutes: int
    resolution_minutes: int
    dispatch_minutes: int | None
    calendar_id: str | None


@dataclass(frozen=True)
class Targets:
    policy_id: str | None
    policy_name: str
    calendar_id: str | None
    minutes: dict[Target, int]


def check_minutes(values: Iterable[int | None]) -> None:
    for value in values:
        if value is not None and not 1 <= value <= MAX_MINUTES:
            raise ValidationFailed(f"a target is 1 to {MAX_MINUTES} minutes",
                                   code="invalid_sla_target")


def match_policy(policies: Sequence[Policy], category: str, priority: str) -> Policy | None:
    """The most specific policy for the ticket: category and priority, then category,
    then priority, then one for any ticket."""
    best: tuple[int, Policy] | None = None
    for p in policies:
        if p.category not in (None, category) or p.priority not in (None, priority):
            continue
        rank = (2 if p.category else 0) + (1 if p.priority else 0)
        if best is None or rank > best[0]:
            best = (rank, p)
    return best[1] if best else None


def targets_for(policies: Sequence[Policy], category: str, priority: str) -> Targets:
    """What the ticket's clocks aim at; a complaint always has a dispatch target (the
    policy's, else :data:`COMPLAINT_DISPATCH_MINUTES`)."""
    policy = match_policy(policies, category, priority)
    if policy is None:
        first, resolution = DEFAULT_MINUTES.get(priority, DEFAULT_MINUTES["normal"])
        minutes: dict[Target, int] = {"first_response": first, "resolution": resolution}
        found = Targets(None, "default", None, minutes)
        dispatch = None
    else:
        minutes = {"first_response": policy.first_response_minutes,
                   "resolution": policy.resolution_minutes}
        found = Targets(policy.id, policy.name, policy.calendar_id, minutes)
        dispatch = policy.dispatch_minutes
    if category == "complaint":
        minutes["dispatch"] = dispatch or COMPLAINT_DISPATCH_MINUTES
    elif dispatch is not None:
        minutes["dispatch"] = dispatch
    return found


def business_hours(target: Target) -> bool:
    """The dispatch clock counts from receipt around the clock; the others follow the
    policy's calendar."""
    return target != "dispatch"


def start_clocks(targets: Targets, received_at: datetime,
                 calendar: BusinessCalendar | None) -> list[Clock]:
    return [start(target, minutes, business_hours(target), received_at, calendar)
            for target, minutes in targets.minutes.items()]


def next_due(clocks: Iterable[Clock]) -> datetime | None:
    """The earliest due time of a clock still running (the ticket's place in the queue)."""
    dues = [c.due_at for c in clocks if c.met_at is None and c.due_at is not None]
    return min(dues) if dues else None


def view(clocks: Sequence[Clock], targets: Targets, now: datetime) -> dict[str, Any]:
    """The ticket's ``sla`` block."""
    by_target = {c.target: c for c in clocks}
    items = []
    for target in TARGETS:
        clock = by_target.get(target)
        if clock is None:
            continue
        items.append({
            "target": target,
            "minutes": int(clock.budget.total_seconds() // 60),
            "business_hours": clock.business_hours,
            "due_at": clock.due_at,
            "met_at": clock.met_at,
            "paused": clock.paused,
            "paused_seconds": paused_for(clock, now).total_seconds(),
            "breached": breached(clock),
            "breached_at": clock.breached_at,
        })
    paused = [c for c in clocks if c.paused]
    return {
        "policy_id": targets.policy_id,
        "policy_name": targets.policy_name,
        "calendar_id": targets.calendar_id,
        "paused": bool(paused),
        "paused_seconds": max((paused_for(c, now).total_seconds() for c in clocks),
                              default=0.0),
        "breached": any(breached(c) for c in clocks),
        "next_due_at": next_due(clocks),
        "targets": items,
    }
