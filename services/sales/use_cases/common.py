"""What every sales use case needs: the local customer copy (fed by customer events, with
an RPC fallback for a customer created a moment ago), what follows a customer's owner,
money."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from crm_platform import money
from crm_platform.auth import Caller
from crm_platform.errors import NotFound, ValidationFailed
from crm_platform.read_models import Fetch
from crm_platform.uow import UnitOfWork
from sqlalchemy import select, update

from services.customer.events import CustomerMerged, CustomerSnapshot
from services.sales.db import rollups
from services.sales.db.models import (
    CustomerCopy,
    Lead,
    Opportunity,
    Order,
    Quote,
)
from services.sales.repositories import SalesWork

# ``fetch_customer(customer_id)`` asks the customer service (as the caller) for a record
# this service has not heard about yet; None when it does not exist or is out of scope.
FetchCustomer = Fetch

SETTINGS = "sales"
DEFAULTS: dict[str, Any] = {"quote_discount_approval_percent": "10",
                            "credit_check_timeout_seconds": 5}


def amount(value: Decimal | str | None, currency: str, field: str) -> Decimal:
    return money.parse(value, currency, field=field)


def settings(uow: SalesWork) -> dict[str, Any]:
    return uow.repos.settings.read(SETTINGS, DEFAULTS)


def customer_for(uow: SalesWork, caller: Caller, customer_id: str,
                 fetch: FetchCustomer | None) -> CustomerCopy:
    """The customer as sales knows it, if the caller may work with it: owned by someone in
    the caller's scope and still active (a merged id resolves to its survivor; one not
    copied yet is asked of the customer service with ``fetch``)."""
    customer = uow.repos.customers.copy_of(customer_id, fetch)
    if customer is None or not caller.can_see_owner(customer.owner_id):
        raise NotFound("customer not found", code="customer_not_found")
    if customer.status != "active":
        raise ValidationFailed("the customer is archived", code="customer_archived")
    return customer


# -- what follows the customer copy (hooks of crm_platform.service.copies) -----------------
def follow_owner(uow: UnitOfWork, customer: CustomerSnapshot) -> None:
    """The customer's open opportunities, unfinished quotes and draft orders follow the new
    owner; closed business stays with whoever closed it."""
    s = uow.session
    new_owner, team = customer.owner_id, customer.owner_team_id
    if new_owner is None:
        return  # back in the pool: the work stays with its rep until someone claims it
    opportunities = s.scalars(select(Opportunity).where(
        Opportunity.customer_id == customer.id, Opportunity.status == "open")
        .with_for_update())
    for o in opportunities:
        before = rollups.snapshot(o)
        o.owner_id, o.owner_team_id = new_owner, team
        o.version += 1
        rollups.move(s, before, rollups.snapshot(o))
    for model, states in ((Quote, ("draft", "pending_approval", "approved", "rejected")),
                          (Order, ("draft", "pending_approval"))):
        s.execute(update(model).where(model.customer_id == customer.id,  # type: ignore[attr-defined]
                                      model.status.in_(states))  # type: ignore[attr-defined]
                  .values(owner_id=new_owner, owner_team_id=team,
                          version=model.version + 1))  # type: ignore[attr-defined]


def move_to_survivor(uow: UnitOfWork, merged: CustomerMerged) -> None:
    for model in (Opportunity, Quote, Order, Lead):
        uow.session.execute(update(model).where(model.customer_id == merged.merged_id)  # type: ignore[attr-defined]
                            .values(customer_id=merged.survivor_id))
