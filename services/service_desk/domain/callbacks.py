"""Callbacks (回访, SVC-04): after a ticket is resolved, someone calls the customer back
within 72 hours to confirm it is fixed and ask how it went.

Each attempt has an outcome. Reached and happy (resolved, and no rating or a rating of
3 or more): the callback is done and the ticket closes. Reached but unresolved or
unhappy (rating 2 or less): the callback is done and the ticket reopens and escalates.
No answer: another attempt later, until the configured number of failed attempts (3 to
5), when the callback ends unreached and the ticket closes as unreached; a wrong contact
ends it unreached at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from crm_platform.errors import ValidationFailed
from crm_platform.states import StateMachine

Outcome = Literal["reached", "no_answer", "wrong_contact"]
TicketStep = Literal["close", "reopen", "close_unreached"]

CALLBACK = StateMachine("callback", {
    "attempt": ("due", None),
    "complete": ("due", "done"),
    "give_up": ("due", "unreached"),
    "cancel": ("due", "cancelled"),
})
DEFAULT_HOURS = 72
MIN_ATTEMPTS, MAX_ATTEMPTS = 3, 5
UNHAPPY_AT_MOST = 2


@dataclass(frozen=True)
class Decision:
    action: Literal["attempt", "complete", "give_up"]
    ticket: TicketStep | None
    escalate: bool
    unhappy: bool


def due_at(resolved_at: datetime, hours: int = DEFAULT_HOURS) -> datetime:
    return resolved_at + timedelta(hours=hours)


def check_max_attempts(value: int) -> int:
    if not MIN_ATTEMPTS <= value <= MAX_ATTEMPTS:
        raise ValidationFailed(f"a callback gives up after {MIN_ATTEMPTS} to {MAX_ATTEMPTS} "
                               "failed attempts", code="invalid_callback_attempts")
    return value


def decide(outcome: Outcome, resolved: bool | None, rating: int | None,
           failed_before: int, max_failed: int) -> Decision:
    """What one attempt does to the callback and its ticket."""
    if outcome != "reached" and (resolved is not None or rating is not None):
        raise ValidationFailed("only a reached customer says whether it is resolved or "
                               "rates it", code="invalid_attempt")
    if outcome == "reached":
        if resolved is None:
            raise ValidationFailed("say whether the customer confirmed it is resolved",
                                   code="invalid_attempt",
                                   extra={"errors": [{"field": "resolved",
                                                      "message": "required when reached"}]})
        unhappy = not resolved or (rating is not None and rating <= UNHAPPY_AT_MOST)
        return Decision("complete", "reopen" if unhappy else "close", unhappy, unhappy)
    if outcome == "wrong_contact" or failed_before + 1 >= max_failed:
        return Decision("give_up", "close_unreached", False, False)
    return Decision("attempt", None, False, False)
