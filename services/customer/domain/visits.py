"""Visit plans (CUS-10): plan → appointment → visit record → report → manager review
(approve, or return with comments for a new report) → archived."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from crm_platform.errors import Forbidden
from crm_platform.states import StateMachine

VisitStatus = Literal["planned", "appointed", "visited", "reported", "returned", "approved",
                      "archived"]
VisitAction = Literal["appoint", "record", "report", "approve", "return", "archive"]

VISIT_PLAN = StateMachine("visit plan", {
    "appoint": ("planned appointed", "appointed"),
    "record": ("planned appointed", "visited"),
    "report": ("visited returned", "reported"),
    "approve": ("reported", "approved"),
    "return": ("reported", "returned"),
    "archive": ("approved", "archived"),
})
OPEN_STATES = frozenset({"planned", "appointed", "visited", "reported", "returned"})


def check_actor(action: VisitAction, owner_id: str, actor_id: str, is_reviewer: bool) -> None:
    """The owner works the plan; only their manager reviews it (and not their own)."""
    if action in ("approve", "return"):
        if not is_reviewer or actor_id == owner_id:
            raise Forbidden("only the rep's manager reviews a visit report",
                            code="not_the_reviewer")
    elif actor_id != owner_id and not is_reviewer:
        raise Forbidden("only the plan's owner or their manager changes it")


def is_overdue(status: str, planned_at: datetime, now: datetime) -> bool:
    return status in ("planned", "appointed") and planned_at < now
