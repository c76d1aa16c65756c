"""Ownership rules (CUS-04 … CUS-07): one owner per customer, the public pool, claims,
assignment of new customers and handover."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from crm_platform.auth import Caller
from crm_platform.errors import Conflict, Forbidden, ValidationFailed

RuleKind = Literal["collector", "region", "round_robin", "capacity"]


@dataclass(frozen=True)
class StaffLoad:
    """A salesperson as assignment sees them."""

    id: str
    is_active: bool
    is_new_staff: bool
    owned: int
    last_assigned_at: datetime | None
    team_id: str | None = None


@dataclass(frozen=True)
class AssignmentRule:
    kind: RuleKind
    # as schemas.RULE_CONFIGS types it: region {"province": "广东", "owner_id": "..."};
    # round_robin {} or {"team_id": "..."}; capacity {"max": 500}; collector {}
    config: dict[str, object]
    priority: int = 100


def check_claim(owner_id: str | None, owned: int, limit: int) -> None:
    """A rep claims an unowned customer from the pool, within their per-rep limit."""
    if owner_id is not None:
        raise Conflict("this customer already has an owner", code="already_owned",
                       extra={"owner_id": owner_id})
    if owned >= limit:
        raise Conflict(f"claim limit reached ({limit} customers)", code="claim_limit_reached",
                       extra={"limit": limit})


def check_release(owner_id: str | None, caller: Caller) -> None:
    if owner_id is None:
        raise Conflict("this customer is already in the pool", code="already_in_pool")
    if owner_id != caller.user_id and caller.scope == "own":
        raise Forbidden("only the owner or their manager can release a customer")


def check_transfer(current_owner: str | None, to_user: StaffLoad | None) -> None:
    if to_user is None or not to_user.is_active:
        raise ValidationFailed("the new owner is unknown or inactive", code="invalid_owner")
    if current_owner == to_user.id:
        raise Conflict("the customer already belongs to that user", code="same_owner")


def check_handover(from_user: str, to_user: StaffLoad | None) -> None:
    if to_user is None or not to_user.is_active:
        raise ValidationFailed("the successor is unknown or inactive", code="invalid_owner")
    if to_user.id == from_user:
        raise ValidationFailed("cannot hand over to the same user", code="invalid_owner")


def pool_return_due(last_activity_at: datetime, now: datetime, days: int) -> bool:
    return now - last_activity_at >= timedelta(days=days)


def choose_owner(
    collector_id: str,
    province: str | None,
    rules: Sequence[AssignmentRule],
    staff: Sequence[StaffLoad],
) -> str | None:
    """Owner of a new customer (CUS-06). Rules are tried by priority; the default, and the
    fallback when no rule applies, is the collector (who entered the customer).

    - region: a customer in ``config.province`` goes to ``config.owner_id``;
    - round_robin: the new staff member (of ``config.team_id`` when given) assigned
      longest ago (never first);
    - capacity: the collector keeps it unless they own ``config.max`` or more; then the
      least loaded active rep under the cap gets it; nobody under it → the pool (None).
    """
    by_id = {s.id: s for s in staff}
    for rule in sorted(rules, key=lambda r: r.priority):
        if rule.kind == "collector":
            return collector_id
        if rule.kind == "region":
            if province and rule.config.get("province") == province:
                owner = str(rule.config.get("owner_id") or "")
                if owner in by_id and by_id[owner].is_active:
                    return owner
            continue
        if rule.kind == "round_robin":
            team = rule.config.get("team_id")
            candidates = [s for s in staff if s.is_active and s.is_new_staff
                          and (team is None or s.team_id == team)]
            if candidates:
                never = datetime.min.replace(tzinfo=None)
                pick = min(candidates, key=lambda s: (
                    s.last_assigned_at.replace(tzinfo=None) if s.last_assigned_at else never,
                    s.id))
                return pick.id
            continue
        if rule.kind == "capacity":
            cap = int(str(rule.config.get("max", 0)))
            collector = by_id.get(collector_id)
            if collector is None or collector.owned < cap:
                return collector_id
            under = [s for s in staff if s.is_active and s.owned < cap]
            return min(under, key=lambda s: (s.owned, s.id)).id if under else None
    return collector_id
