"""Dunning (BIL-06): reminders at day offsets from an invoice's due date.

Steps are numbered from 1 in schedule order (default offsets -3, 0, 7, 15, 30: three
days before, on the due date, then after). A run as of some date sends the latest step
whose date has come and that has not been logged yet; earlier steps not logged by then
are logged as skipped (a "due in 3 days" note is pointless two weeks late), so every
step is logged at most once per invoice and steps never go backwards. From
``escalate_from_step`` on, the owner's manager is told as well.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from crm_platform.errors import ValidationFailed

DEFAULT_OFFSETS: tuple[int, ...] = (-3, 0, 7, 15, 30)
DEFAULT_ESCALATE_FROM_STEP = 4


@dataclass(frozen=True)
class DunningSchedule:
    offsets: tuple[int, ...] = DEFAULT_OFFSETS
    escalate_from_step: int = DEFAULT_ESCALATE_FROM_STEP

    def __post_init__(self) -> None:
        if not self.offsets or len(self.offsets) > 20:
            raise ValidationFailed("a dunning schedule has 1 to 20 steps",
                                   code="invalid_dunning_schedule")
        if any(b <= a for a, b in zip(self.offsets, self.offsets[1:], strict=False)):
            raise ValidationFailed("dunning offsets must be strictly increasing",
                                   code="invalid_dunning_schedule")
        if not 1 <= self.escalate_from_step <= len(self.offsets) + 1:
            raise ValidationFailed("escalate_from_step must name a step (or one past the "
                                   "last: never escalate)", code="invalid_dunning_schedule")

    @classmethod
    def from_settings(cls, raw: Mapping[str, Any]) -> DunningSchedule:
        try:
            offsets = tuple(int(x) for x in raw.get("offsets", DEFAULT_OFFSETS))
            escalate = int(raw.get("escalate_from_step", DEFAULT_ESCALATE_FROM_STEP))
        except (TypeError, ValueError):
            raise ValidationFailed("dunning settings are malformed",
                                   code="invalid_dunning_schedule") from None
        return cls(offsets, escalate)

    def to_settings(self) -> dict[str, Any]:
        return {"offsets": list(self.offsets), "escalate_from_step": self.escalate_from_step}

    def step_date(self, step: int, due_date: date) -> date:
        return due_date + timedelta(days=self.offsets[step - 1])

    def escalated(self, step: int) -> bool:
        return step >= self.escalate_from_step


@dataclass(frozen=True)
class DueSteps:
    fire: int | None
    skip: tuple[int, ...]


def due_steps(schedule: DunningSchedule, due_date: date, issue_date: date, as_of: date,
              logged: Collection[int]) -> DueSteps:
    """What a run as of ``as_of`` does for one open invoice."""
    if as_of < issue_date:
        return DueSteps(None, ())  # the invoice did not exist yet
    reached = [n for n in range(1, len(schedule.offsets) + 1)
               if schedule.step_date(n, due_date) <= as_of]
    if not reached or max(reached) in logged or any(n > max(reached) for n in logged):
        return DueSteps(None, ())
    latest = max(reached)
    return DueSteps(latest, tuple(n for n in reached if n < latest and n not in logged))
