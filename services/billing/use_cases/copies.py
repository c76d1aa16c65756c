"""Local copies fed by other services' events: customers (owner and team scope every
billing record) from ``customer.events``; staff and teams (managers for escalation and
expense approval) from ``gateway.events``. Handlers never commit: the event handler
commits the effect with its inbox mark."""

from __future__ import annotations

from typing import Any

from crm_platform.db import insert_ignore, utcnow
from crm_platform.uow import UnitOfWork
from sqlalchemy import select, update

from services.billing.db.models import (
    BillingCustomer,
    CreditProfile,
    Invoice,
    Payment,
    PaymentPlan,
    Staff,
    StaffTeam,
)


def _row(uow: UnitOfWork, customer_id: str, name: str | None = None,
         owner_id: str | None = None, owner_team_id: str | None = None) -> BillingCustomer:
    """The copy, locked. Handlers of different customer events (and orders) run at the
    same time: the first insert wins and the others wait on its row lock."""
    s = uow.session
    insert_ignore(s, BillingCustomer.__table__, {  # type: ignore[arg-type]
        "id": customer_id, "name": name or customer_id, "owner_id": owner_id,
        "owner_team_id": owner_team_id, "status": "active", "source_version": 0,
        "updated_at": utcnow()})
    row = s.scalar(select(BillingCustomer).where(BillingCustomer.id == customer_id)
                   .with_for_update().execution_options(populate_existing=True))
    assert row is not None
    return row


def on_customer_snapshot(uow: UnitOfWork, data: dict[str, Any]) -> None:
    """customer.created / customer.updated: a whole snapshot, applied unless stale."""
    row = _row(uow, data["id"], data.get("name"))
    version = int(data.get("version") or 0)
    if version < row.source_version:
        return
    row.name = data.get("name") or row.name
    row.owner_id = data.get("owner_id")
    row.owner_team_id = data.get("owner_team_id")
    row.status = data.get("status") or row.status
    row.source_version = version
    row.updated_at = utcnow()


def on_owner_changed(uow: UnitOfWork, data: dict[str, Any]) -> None:
    row = _row(uow, data["id"])
    version = int(data.get("version") or 0)
    if version < row.source_version:
        return
    row.owner_id = data.get("owner_id")
    row.owner_team_id = data.get("owner_team_id")
    row.source_version = version
    row.updated_at = utcnow()


def on_customer_archived(uow: UnitOfWork, data: dict[str, Any]) -> None:
    row = _row(uow, data["id"])
    if int(data.get("version") or 0) >= row.source_version:
        row.status = "archived"


def on_customer_merged(uow: UnitOfWork, data: dict[str, Any]) -> None:
    """Every billing record of the merged customer now belongs to the survivor; a credit
    profile moves over unless the survivor has one."""
    survivor_id, merged_id = data["survivor_id"], data["merged_id"]
    s = uow.session
    _row(uow, survivor_id)
    merged = _row(uow, merged_id)
    merged.status = "merged"
    merged.merged_into_id = survivor_id
    for model in (Invoice, Payment, PaymentPlan):
        s.execute(update(model).where(model.customer_id == merged_id)
                  .values(customer_id=survivor_id)
                  .execution_options(synchronize_session=False))
    profile = s.get(CreditProfile, merged_id, with_for_update=True)
    if profile is not None and s.get(CreditProfile, survivor_id) is None:
        s.add(CreditProfile(customer_id=survivor_id, credit_limit=profile.credit_limit,
                            currency=profile.currency, hold=profile.hold,
                            hold_reason=profile.hold_reason, version=1,
                            updated_at=utcnow()))


def ensure_customer(uow: UnitOfWork, customer_id: str, name: str | None,
                    owner_id: str | None, owner_team_id: str | None) -> BillingCustomer:
    """An order may arrive before the customer's own events: start the copy from the
    order (version 0, so the customer's events win)."""
    return _row(uow, customer_id, name, owner_id, owner_team_id)


def upsert_staff(uow: UnitOfWork, data: dict[str, Any], *, created: bool = False) -> None:
    """``created``: a user.created handled after a user.updated (each event type has its
    own queue) must not bring back the older state."""
    s = uow.session
    inserted = insert_ignore(s, Staff.__table__, {  # type: ignore[arg-type]
        "id": data["id"], "display_name": data.get("display_name") or data["id"],
        "roles": [], "is_active": True})
    if created and not inserted:
        return
    staff = s.scalar(select(Staff).where(Staff.id == data["id"]).with_for_update()
                     .execution_options(populate_existing=True))
    assert staff is not None
    staff.display_name = data.get("display_name") or staff.display_name
    staff.team_id = data.get("team_id")
    staff.roles = list(data.get("roles") or [])
    staff.is_active = bool(data.get("is_active", True))


def deactivate_staff(uow: UnitOfWork, data: dict[str, Any]) -> None:
    staff = uow.session.get(Staff, data["id"], with_for_update=True)
    if staff is not None:
        staff.is_active = False


def upsert_team(uow: UnitOfWork, data: dict[str, Any], *, created: bool = False) -> None:
    s = uow.session
    inserted = insert_ignore(s, StaffTeam.__table__, {  # type: ignore[arg-type]
        "id": data["id"], "name": data["name"]})
    if created and not inserted:
        return  # team.updated got here first and carries the newer state
    team = s.scalar(select(StaffTeam).where(StaffTeam.id == data["id"]).with_for_update()
                    .execution_options(populate_existing=True))
    assert team is not None
    team.name = data["name"]
    team.parent_id = data.get("parent_id")
    team.manager_id = data.get("manager_id")
