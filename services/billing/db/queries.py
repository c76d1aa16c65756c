"""SQL of the billing service: scope, lookups, sequences, settings, keyset pages."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from crm_platform import read_models
from crm_platform.auth import Caller
from crm_platform.db import next_in_sequence, read_setting, write_setting
from crm_platform.errors import NotFound
from crm_platform.money import rounded
from crm_platform.read_models import Fetch, copy_of, follow_merges, names
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from services.billing.db.models import (
    BillingCustomer,
    NumberSequence,
    Setting,
    Staff,
    StaffTeam,
)


def next_sequence(s: Session, name: str) -> int:
    return next_in_sequence(s, NumberSequence, name)


def setting(s: Session, name: str, default: dict[str, Any]) -> dict[str, Any]:
    return read_setting(s, Setting, name, default)


def put_setting(s: Session, name: str, value: dict[str, Any]) -> dict[str, Any]:
    write_setting(s, Setting, name, value)
    return value


def money(value: Any, currency: str) -> Decimal:
    """A SQL aggregate (exact on PostgreSQL, float-ish on SQLite) as an exact amount."""
    return rounded(Decimal(str(value or 0)), currency)


# -- customers and scope -----------------------------------------------------------------
def customer(s: Session, customer_id: str | None) -> BillingCustomer | None:
    """The local copy, following merges to the survivor."""
    found: BillingCustomer | None = follow_merges(s, BillingCustomer, customer_id)
    return found


def visible_customer(s: Session, caller: Caller, customer_id: str,
                     fetch: Fetch | None = None) -> BillingCustomer:
    """Out of scope and unknown look the same: 404. With ``fetch``, a customer this
    service has not heard of yet is asked of the customer service first."""
    found: BillingCustomer | None = copy_of(s, BillingCustomer, customer_id, fetch)
    if found is None or not caller.can_see_owner(found.owner_id):
        raise NotFound("customer not found", code="customer_not_found")
    return found


def scoped(query: Select[Any], customer_column: Any, caller: Caller) -> Select[Any]:
    """Records whose customer's owner is within the caller's scope."""
    owners = caller.visible_owner_ids()
    if owners is None:
        return query
    return query.where(customer_column.in_(
        select(BillingCustomer.id).where(BillingCustomer.owner_id.in_(sorted(owners)))))


def customer_names(s: Session, ids: Iterable[str | None]) -> dict[str, str]:
    return names(s, BillingCustomer, ids)


def staff_names(s: Session, ids: Iterable[str | None]) -> dict[str, str]:
    return names(s, Staff, ids, "display_name")


def team_names(s: Session, ids: Iterable[str | None]) -> dict[str, str]:
    return names(s, StaffTeam, ids)


def team_chain(s: Session, team_id: str | None) -> list[StaffTeam]:
    """The team and its parents, nearest first."""
    return read_models.team_chain(s, StaffTeam, team_id)


def team_of(s: Session, user_id: str | None) -> str | None:
    if not user_id:
        return None
    return s.scalar(select(Staff.team_id).where(Staff.id == user_id))


def manager_of(s: Session, user_id: str | None, team_id: str | None = None) -> str | None:
    """The manager of the user's team; the next team up when the user manages their own."""
    return read_models.manager_of(s, Staff, StaffTeam, user_id, team_id)


def manages(s: Session, manager_id: str, user_id: str, team_id: str | None = None) -> bool:
    """Whether ``manager_id`` manages the user's team or a team above it."""
    return any(t.manager_id == manager_id
               for t in team_chain(s, team_id or team_of(s, user_id)))


