"""Escalation (SVC-03, SVC-04): a breached target or an unhappy customer takes a ticket
one level up — first to the manager of the assignee's team (of the ticket's team when
nobody is assigned), then to the service manager. A level with nobody to go to is
skipped; past the service manager there is no higher level.
"""

from __future__ import annotations

from dataclasses import dataclass

TEAM_MANAGER, SERVICE_MANAGER = 1, 2


@dataclass(frozen=True)
class Escalation:
    level: int
    to_user_id: str


def next_escalation(level: int, team_manager_id: str | None,
                    service_manager_id: str | None) -> Escalation | None:
    """Where a ticket at ``level`` (0: never escalated) goes next, or None."""
    if level < TEAM_MANAGER and team_manager_id:
        return Escalation(TEAM_MANAGER, team_manager_id)
    if level < SERVICE_MANAGER and service_manager_id:
        return Escalation(SERVICE_MANAGER, service_manager_id)
    return None
