"""Lifecycles as data: which actions a record's state allows and where each leads.

Every service's lifecycles (leads, quotes, orders, visit plans, expenses, invoices,
tickets…) are :class:`StateMachine` s, so a refused transition is the same 409
everywhere: ``code: invalid_transition`` with the record's ``current_state``, the
``action`` tried and the states it is ``allowed_from``.

    LEAD = StateMachine("lead", {
        "contact": ("new", "contacted"),
        "qualify": ("new contacted", "qualified"),
    })
    lead.status = LEAD.next(lead.status, "qualify")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crm_platform.errors import StateViolation

# An action's sources as a space-separated string (or any iterable of states) and its
# target; a target of None keeps the state (an edit allowed only in some states).
TransitionSpec = tuple[str | Iterable[str], str | None]


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str]
    target: str | None


@dataclass(frozen=True)
class StateMachine:
    """``kind`` names the record in messages ("visit plan"); ``transitions`` maps each
    action to the states it starts from and the state it leads to."""

    kind: str
    spec: Mapping[str, TransitionSpec]
    transitions: dict[str, Transition] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        table: dict[str, Transition] = {}
        for action, (sources, target) in self.spec.items():
            states = sources.split() if isinstance(sources, str) else list(sources)
            if not states:
                raise ValueError(f"{self.kind}: action {action!r} starts from no state")
            table[action] = Transition(frozenset(states), target)
        object.__setattr__(self, "transitions", table)

    @property
    def states(self) -> frozenset[str]:
        found: set[str] = set()
        for t in self.transitions.values():
            found |= t.sources
            if t.target is not None:
                found.add(t.target)
        return frozenset(found)

    @property
    def actions(self) -> frozenset[str]:
        return frozenset(self.transitions)

    def can(self, current: str, action: str) -> bool:
        return current in self.transitions[action].sources

    def allowed_actions(self, current: str) -> list[str]:
        """What may be done to a record in ``current`` (for clients to offer)."""
        return sorted(a for a, t in self.transitions.items() if current in t.sources)

    def next(self, current: str, action: str) -> str:
        """The state ``action`` leads to from ``current``; a 409 ``invalid_transition``
        if ``current`` does not allow it. An unknown action is a programming error."""
        transition = self.transitions[action]
        if current not in transition.sources:
            raise refused(self.kind, current, action, transition.sources)
        return current if transition.target is None else transition.target

    def check(self, current: str, action: str) -> None:
        """Refuse ``action`` unless ``current`` allows it (the state changes later, or
        not at all)."""
        self.next(current, action)


def refused(kind: str, current: str, action: str,
            allowed_from: Iterable[str] = ()) -> StateViolation:
    """The one error for a refused transition, also for rules a table cannot express
    (a closed opportunity cannot be edited, whatever the action)."""
    what = action.replace("_", " ")
    return StateViolation(
        f"cannot {what} a {kind} that is {current.replace('_', ' ')}",
        extra={"current_state": current, "action": action,
               "allowed_from": sorted(allowed_from)})


def bump(record: Any) -> None:
    """A versioned record changed: its version (the ETag a client sends back in
    ``If-Match``) and ``updated_at`` move together."""
    record.version += 1
    record.updated_at = datetime.now(UTC)
