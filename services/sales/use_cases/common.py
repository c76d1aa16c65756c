"""What every sales use case needs: the local customer copy (fed by customer events, with
an RPC fallback for a customer created a moment ago), staff and team copies, money."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from crm_platform import money
from crm_platform.auth import Caller
from crm_platform.db import insert_ignore
from crm_platform.errors import NotFound, ValidationFailed
from crm_platform.uow import UnitOfWork
from sqlalchemy import select, update

from services.sales.db import queries, rollups
from services.sales.db.models import (
    CustomerCopy,
    Lead,
    Opportunity,
    Order,
    Quote,
    Staff,
    Team,
)

# ``fetch_customer(customer_id)`` asks the customer service (as the caller) for a record
# this service has not heard about yet; None when it does not exist or is out of scope.
FetchCustomer = Callable[[str], dict[str, Any] | None]

SETTINGS = "sales"
DEFAULTS: dict[str, Any] = {"quote_discount_approval_percent": "10",
                            "credit_check_timeout_seconds": 5}


def amount(value: Decimal | str | None, currency: str, field: str) -> Decimal:
    return money.parse(value, currency, field=field)


def settings(uow: UnitOfWork) -> dict[str, Any]:
    return queries.setting(uow.session, SETTINGS, DEFAULTS)


def customer_for(uow: UnitOfWork, caller: Caller, customer_id: str,
                 fetch: FetchCustomer | None) -> CustomerCopy:
    """The customer as sales knows it, if the caller may work with it: owned by someone in
    the caller's scope and still active (a merged id resolves to its survivor)."""
    s = uow.session
    customer = s.get(CustomerCopy, customer_id)
    if customer is None and fetch is not None:
        remote = fetch(customer_id)
        if remote is not None:
            customer = upsert_customer(uow, {**remote, "owner_id": remote.get("owner_id")
                                             or (remote.get("owner") or {}).get("id")})
    while customer is not None and customer.merged_into_id:
        customer = s.get(CustomerCopy, customer.merged_into_id)
    if customer is None or not caller.can_see_owner(customer.owner_id):
        raise NotFound("customer not found", code="customer_not_found")
    if customer.status != "active":
        raise ValidationFailed("the customer is archived", code="customer_archived")
    return customer


# -- copies fed by events -------------------------------------------------------------------------
def _locked_customer(uow: UnitOfWork, customer_id: str, name: str | None) -> CustomerCopy:
    """The copy row, created if missing, locked: customer.created, owner_changed and an
    RPC fallback may all arrive at once from different queues."""
    s = uow.session
    insert_ignore(s, CustomerCopy.__table__, {  # type: ignore[arg-type]
        "id": customer_id, "name": name or customer_id, "status": "active", "version": -1})
    customer = s.get(CustomerCopy, customer_id, with_for_update=True,
                     populate_existing=True)
    assert customer is not None
    return customer


def upsert_customer(uow: UnitOfWork, data: dict[str, Any]) -> CustomerCopy:
    """Apply a customer snapshot unless a newer version is already here (events may
    arrive out of order across queues)."""
    s = uow.session
    customer = _locked_customer(uow, data["id"], data.get("name"))
    version = int(data.get("version") or 0)
    if version and version < customer.version:
        return customer
    customer.name = data.get("name") or customer.name
    customer.owner_id = data.get("owner_id")
    customer.owner_team_id = data.get("owner_team_id")
    customer.status = data.get("status") or "active"
    customer.version = version
    s.flush()
    return customer


def on_owner_changed(uow: UnitOfWork, data: dict[str, Any]) -> None:
    """The customer's open opportunities, unfinished quotes and draft orders follow the new
    owner; closed business stays with whoever closed it."""
    s = uow.session
    customer = _locked_customer(uow, data["id"], None)
    version = int(data.get("version") or 0)
    if version and version < customer.version:
        return
    customer.owner_id = data.get("owner_id")
    customer.owner_team_id = data.get("owner_team_id")
    customer.version = version
    new_owner, team = data.get("owner_id"), data.get("owner_team_id")
    if new_owner is None:
        return  # back in the pool: the work stays with its rep until someone claims it
    opportunities = s.scalars(select(Opportunity).where(
        Opportunity.customer_id == data["id"], Opportunity.status == "open").with_for_update())
    for o in opportunities:
        before = rollups.snapshot(o)
        o.owner_id, o.owner_team_id = new_owner, team
        o.version += 1
        rollups.move(s, before, rollups.snapshot(o))
    for model, states in ((Quote, ("draft", "pending_approval", "approved", "rejected")),
                          (Order, ("draft", "pending_approval"))):
        s.execute(update(model).where(model.customer_id == data["id"],  # type: ignore[attr-defined]
                                      model.status.in_(states))  # type: ignore[attr-defined]
                  .values(owner_id=new_owner, owner_team_id=team,
                          version=model.version + 1))  # type: ignore[attr-defined]


def on_customer_merged(uow: UnitOfWork, data: dict[str, Any]) -> None:
    s = uow.session
    survivor, merged = data["survivor_id"], data["merged_id"]
    gone = _locked_customer(uow, merged, None)
    gone.merged_into_id = survivor
    gone.status = "merged"
    for model in (Opportunity, Quote, Order, Lead):
        s.execute(update(model).where(model.customer_id == merged)  # type: ignore[attr-defined]
                  .values(customer_id=survivor))


def on_customer_archived(uow: UnitOfWork, data: dict[str, Any]) -> None:
    customer = uow.session.get(CustomerCopy, data["id"], with_for_update=True)
    if customer is not None:
        customer.status = "archived"


def _locked(uow: UnitOfWork, model: Any, values: dict[str, Any]) -> Any:
    insert_ignore(uow.session, model.__table__, values)
    return uow.session.get(model, values["id"], with_for_update=True, populate_existing=True)


def upsert_staff(uow: UnitOfWork, data: dict[str, Any]) -> None:
    staff = _locked(uow, Staff, {"id": data["id"], "display_name": data["id"],
                                 "is_active": True})
    staff.display_name = data.get("display_name") or staff.display_name
    staff.team_id = data.get("team_id")
    staff.is_active = bool(data.get("is_active", True))


def deactivate_staff(uow: UnitOfWork, data: dict[str, Any]) -> None:
    staff = uow.session.get(Staff, data["id"], with_for_update=True)
    if staff is not None:
        staff.is_active = False


def upsert_team(uow: UnitOfWork, data: dict[str, Any]) -> None:
    team = _locked(uow, Team, {"id": data["id"], "name": data["name"]})
    team.name = data["name"]
    team.parent_id = data.get("parent_id")
    team.manager_id = data.get("manager_id")
