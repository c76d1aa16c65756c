"""Dunning (BIL-06): the schedule setting and the run (timer or an admin's
``run_dunning(as_of)``). Every (invoice, step) is a unique row inserted with ON CONFLICT
DO NOTHING and the event is published only by the insert that won, so a step fires once
however many replicas or runs overlap; invoices are also claimed with SKIP LOCKED so
concurrent runs split the work instead of queueing on it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from crm_platform.auth import Caller
from crm_platform.db import insert_ignore, skip_locked, utcnow
from crm_platform.errors import Forbidden
from crm_platform.uow import UnitOfWork
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.billing import events, schemas
from services.billing.db import queries
from services.billing.db.models import DunningEntry, Invoice
from services.billing.domain.dunning import DunningSchedule, due_steps
from services.billing.domain.invoices import OPEN_STATUSES
from services.billing.use_cases.common import text

SETTINGS = "dunning"


def schedule(s: Session) -> DunningSchedule:
    return DunningSchedule.from_settings(queries.setting(s, SETTINGS, {}))


def get_dunning_settings(uow: UnitOfWork) -> dict[str, Any]:
    return schedule(uow.session).to_settings()


def put_dunning_settings(uow: UnitOfWork, caller: Caller, data: schemas.DunningSettings
                         ) -> dict[str, Any]:
    if caller.scope != "all":
        raise Forbidden("the dunning schedule is company-wide", code="permission_denied")
    value = DunningSchedule(tuple(data.offsets), data.escalate_from_step)  # validates
    queries.put_setting(uow.session, SETTINGS, value.to_settings())
    uow.commit()
    return value.to_settings()


def run_batch(uow: UnitOfWork, as_of: date, after_id: str, customer_id: str | None = None,
              batch: int = 200) -> tuple[int, int, int, str | None]:
    """One batch of open invoices by id after ``after_id``: (invoices, sent, skipped,
    last id or None when done)."""
    s = uow.session
    sched = schedule(s)
    query = select(Invoice).where(
        Invoice.status.in_(OPEN_STATUSES), Invoice.id > after_id,
        Invoice.due_date <= as_of - timedelta(days=sched.offsets[0]),
        Invoice.issue_date <= as_of)
    if customer_id:
        query = query.where(Invoice.customer_id == customer_id)
    rows = list(s.scalars(skip_locked(s, query.order_by(Invoice.id).limit(batch))))
    if not rows:
        uow.rollback()
        return 0, 0, 0, None
    logged: dict[str, set[int]] = {r.id: set() for r in rows}
    for invoice_id, step in s.execute(select(DunningEntry.invoice_id, DunningEntry.step)
                                      .where(DunningEntry.invoice_id.in_(list(logged)))):
        logged[invoice_id].add(step)
    sent = skipped = 0
    table = DunningEntry.__table__
    for inv in rows:
        plan = due_steps(sched, inv.due_date, inv.issue_date, as_of, logged[inv.id])
        if plan.fire is None:
            continue
        customer = queries.customer(s, inv.customer_id)
        owner_id = customer.owner_id if customer else None
        outstanding = inv.amount - inv.paid_amount
        escalated = sched.escalated(plan.fire)
        manager_id = queries.manager_of(
            s, owner_id, queries.team_of(s, owner_id) or
            (customer.owner_team_id if customer else None)) if escalated else None
        base = {"invoice_id": inv.id, "as_of": as_of, "owner_id": owner_id,
                "outstanding": outstanding, "currency": inv.currency,
                "created_at": utcnow()}
        for step in plan.skip:
            skipped += insert_ignore(s, table, {  # type: ignore[arg-type]
                **base, "step": step, "offset_days": sched.offsets[step - 1],
                "outcome": "skipped", "escalated": False, "manager_id": None})
        won = insert_ignore(s, table, {  # type: ignore[arg-type]
            **base, "step": plan.fire, "offset_days": sched.offsets[plan.fire - 1],
            "outcome": "sent", "escalated": escalated, "manager_id": manager_id})
        if won:
            sent += 1
            uow.publish(events.InvoiceDunningStep(
                invoice_id=inv.id, number=inv.number, customer_id=inv.customer_id,
                owner_id=owner_id, manager_id=manager_id, step=plan.fire,
                offset_days=sched.offsets[plan.fire - 1], escalated=escalated,
                due_date=inv.due_date, outstanding=text(outstanding, inv.currency),
                currency=inv.currency))
    uow.commit()
    return len(rows), sent, skipped, rows[-1].id


def check_admin(caller: Caller) -> None:
    if caller.scope != "all":
        raise Forbidden("running billing jobs is for company-wide roles",
                        code="permission_denied")
