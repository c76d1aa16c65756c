"""Follow-ups (CUS-09) and visit plans (CUS-10)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from crm_platform.auth import Caller
from crm_platform.db import utcnow
from crm_platform.errors import NotFound, ValidationFailed
from crm_platform.pagination import keyset_page
from crm_platform.states import bump
from crm_platform.uow import UnitOfWork
from sqlalchemy import select, update

from services.customer import events, schemas
from services.customer.db import queries
from services.customer.db.models import Contact, Customer, FollowUp, VisitPlan
from services.customer.db.repositories import customer_work
from services.customer.domain import customers as rules
from services.customer.domain import visits
from services.customer.use_cases import classification
from services.customer.use_cases.contacts import account_team, list_contacts
from services.customer.use_cases.customers import get_customer, writable


def followup_out(f: FollowUp) -> dict[str, Any]:
    return schemas.Followup.model_validate(f, from_attributes=True).model_dump(mode="json")


def _check_contact(uow: UnitOfWork, customer_id: str, contact_id: str | None) -> None:
    if contact_id is None:
        return
    contact = uow.session.get(Contact, contact_id)
    if contact is None or contact.customer_id != customer_id:
        raise ValidationFailed("the contact does not belong to this customer",
                               code="invalid_contact")


def log_followup(uow: UnitOfWork, caller: Caller, customer_id: str,
                 data: schemas.FollowupIn) -> dict[str, Any]:
    s = uow.session
    customer = writable(customer_work(uow), caller, customer_id)
    _check_contact(uow, customer_id, data.contact_id)
    now = utcnow()
    occurred = data.occurred_at or now
    if occurred.tzinfo is None:
        raise ValidationFailed("occurred_at needs a UTC offset", code="naive_datetime")
    if occurred > now:
        raise ValidationFailed("a follow-up cannot happen in the future",
                               code="followup_in_future")
    if data.next_followup_on and data.next_followup_on < occurred.date():
        raise ValidationFailed("the next follow-up must come after this one",
                               code="invalid_next_followup")
    # this follow-up is the one the earlier reminders asked for
    s.execute(update(FollowUp).where(FollowUp.customer_id == customer_id,
                                     FollowUp.next_done.is_(False))
              .values(next_done=True).execution_options(synchronize_session=False))
    followup = FollowUp(id=str(uuid.uuid4()), customer_id=customer_id,
                        owner_id=customer.owner_id or caller.user_id, method=data.method,
                        occurred_at=occurred, contact_id=data.contact_id,
                        content=data.content, result=data.result,
                        next_followup_on=data.next_followup_on,
                        next_done=data.next_followup_on is None, created_at=now)
    s.add(followup)
    if customer.last_followup_at is None or occurred > customer.last_followup_at:
        customer.last_followup_at = occurred
    customer.last_activity_at = max(customer.last_activity_at, occurred)
    bump(customer)
    uow.publish(events.FollowupLogged(id=followup.id, customer_id=customer_id,
                                      owner_id=followup.owner_id, method=followup.method,
                                      occurred_at=occurred,
                                      next_followup_on=data.next_followup_on))
    if data.next_followup_on:
        uow.publish(events.FollowupDue(id=followup.id, customer_id=customer_id,
                                       owner_id=followup.owner_id,
                                       due_on=data.next_followup_on))
    uow.commit()
    return followup_out(followup)


def list_followups(uow: UnitOfWork, caller: Caller, customer_id: str,
                   query: schemas.FollowupQuery) -> dict[str, Any]:
    queries.get_visible(uow.session, caller, customer_id)
    stmt = select(FollowUp).where(FollowUp.customer_id == customer_id)
    rows, cursor = keyset_page(uow.session, stmt, query.limit, query.cursor,
                               (FollowUp.occurred_at, FollowUp.id), descending=True)
    return {"items": [followup_out(f) for f in rows], "next_cursor": cursor}


def due_followups(uow: UnitOfWork, caller: Caller, query: schemas.DueFollowupQuery
                  ) -> dict[str, Any]:
    """Open reminders due by a date: the caller's own, or within their scope."""
    until = query.due_on_or_before or datetime.now(UTC).date()
    stmt = select(FollowUp).where(FollowUp.next_done.is_(False),
                                  FollowUp.next_followup_on <= until)
    owners = caller.visible_owner_ids()
    if query.owner_id:
        if owners is not None and query.owner_id not in owners:
            return {"items": [], "next_cursor": None}
        stmt = stmt.where(FollowUp.owner_id == query.owner_id)
    elif owners is not None:
        stmt = stmt.where(FollowUp.owner_id.in_(owners))
    rows, cursor = keyset_page(uow.session, stmt, query.limit, query.cursor,
                               (FollowUp.next_followup_on, FollowUp.id))
    return {"items": [followup_out(f) for f in rows], "next_cursor": cursor}


# -- visit plans -------------------------------------------------------------------------
def visit_out(v: VisitPlan, now: datetime | None = None) -> dict[str, Any]:
    data = schemas.VisitPlan.model_validate(
        {**{c: getattr(v, c) for c in schemas.VisitPlan.model_fields if c != "overdue"},
         "overdue": visits.is_overdue(v.status, v.planned_at, now or utcnow())})
    return data.model_dump(mode="json")


def _visit_event(v: VisitPlan, cls: type[events.VisitPlanChanged]) -> events.VisitPlanChanged:
    return cls(id=v.id, customer_id=v.customer_id, owner_id=v.owner_id, status=v.status,
               planned_at=v.planned_at)


def create_visit_plan(uow: UnitOfWork, caller: Caller, data: schemas.VisitPlanIn
                      ) -> dict[str, Any]:
    customer = writable(customer_work(uow), caller, data.customer_id)
    _check_contact(uow, customer.id, data.contact_id)
    now = utcnow()
    plan = VisitPlan(id=str(uuid.uuid4()), customer_id=customer.id,
                     owner_id=customer.owner_id or caller.user_id, purpose=data.purpose,
                     content=data.content, planned_at=data.planned_at, status="planned",
                     contact_id=data.contact_id, version=1, created_at=now, updated_at=now)
    uow.session.add(plan)
    uow.publish(_visit_event(plan, events.VisitPlanCreated))
    uow.commit()
    return visit_out(plan, now)


def _visible_plan(uow: UnitOfWork, caller: Caller, plan_id: str, lock: bool = False
                  ) -> VisitPlan:
    plan = uow.session.get(VisitPlan, plan_id, with_for_update=lock)
    if plan is None or not caller.can_see_owner(plan.owner_id):
        raise NotFound("visit plan not found", code="visit_plan_not_found")
    return plan


def get_visit_plan(uow: UnitOfWork, caller: Caller, plan_id: str) -> dict[str, Any]:
    return visit_out(_visible_plan(uow, caller, plan_id))


def act_on_visit_plan(uow: UnitOfWork, caller: Caller, plan_id: str,
                      data: schemas.VisitAction, expected_version: int | None
                      ) -> dict[str, Any]:
    plan = _visible_plan(uow, caller, plan_id, lock=True)
    rules.check_version(plan.version, expected_version)
    # a reviewer is a manager whose scope covers the rep (team or all) with visit:review
    is_reviewer = caller.has("visit:review") and caller.scope in ("team", "all") \
        and caller.can_see_owner(plan.owner_id)
    visits.check_actor(data.action, plan.owner_id, caller.user_id, is_reviewer)
    plan.status = visits.VISIT_PLAN.next(plan.status, data.action)
    now = utcnow()
    if data.action == "appoint":
        plan.appointment_at = data.appointment_at or plan.planned_at
    elif data.action == "record":
        if not data.record:
            raise ValidationFailed("a visit record needs its content", code="record_required")
        plan.record = data.record
        plan.visited_at = data.visited_at or now
        customer = uow.session.get(Customer, plan.customer_id, with_for_update=True)
        if customer is not None:
            if customer.last_visit_at is None or plan.visited_at > customer.last_visit_at:
                customer.last_visit_at = plan.visited_at
            customer.last_activity_at = max(customer.last_activity_at, plan.visited_at)
            classification.reclassify(uow, customer)  # a visit moves the lifecycle
    elif data.action == "report":
        if not data.report:
            raise ValidationFailed("a visit report needs its content", code="report_required")
        plan.report = data.report
    elif data.action in ("approve", "return"):
        if data.action == "return" and not data.comment:
            raise ValidationFailed("say why the report is returned", code="comment_required")
        plan.reviewer_id = caller.user_id
        plan.review_comment = data.comment
        plan.reviewed_at = now
    plan.version += 1
    plan.updated_at = now
    uow.publish(_visit_event(plan, events.VISIT_EVENTS[data.action]))
    uow.commit()
    return visit_out(plan, now)


def list_visit_plans(uow: UnitOfWork, caller: Caller, query: schemas.VisitPlanQuery
                     ) -> dict[str, Any]:
    now = utcnow()
    stmt = select(VisitPlan)
    owners = caller.visible_owner_ids()
    if owners is not None:
        stmt = stmt.where(VisitPlan.owner_id.in_(owners))
    for field in ("customer_id", "owner_id", "status"):
        value = getattr(query, field)
        if value is not None:
            stmt = stmt.where(getattr(VisitPlan, field) == value)
    if query.overdue is True:
        stmt = stmt.where(VisitPlan.status.in_(("planned", "appointed")),
                          VisitPlan.planned_at < now)
    rows, cursor = keyset_page(uow.session, stmt, query.limit, query.cursor,
                               (VisitPlan.planned_at, VisitPlan.id))
    return {"items": [visit_out(v, now) for v in rows], "next_cursor": cursor}


def today() -> date:
    return datetime.now(UTC).date()


def customer_360(uow: UnitOfWork, caller: Caller, customer_id: str) -> dict[str, Any]:
    """Profile, contacts, owner and account team, classification, latest follow-ups,
    open visit plans and reminders (CUS-16, the customer service's sections)."""
    s = uow.session
    customer = get_customer(uow, caller, customer_id)
    followups = s.scalars(select(FollowUp).where(FollowUp.customer_id == customer_id)
                          .order_by(FollowUp.occurred_at.desc()).limit(5))
    reminders = s.scalars(select(FollowUp).where(FollowUp.customer_id == customer_id,
                                                 FollowUp.next_done.is_(False))
                          .order_by(FollowUp.next_followup_on))
    plans = s.scalars(select(VisitPlan).where(VisitPlan.customer_id == customer_id,
                                              VisitPlan.status.in_(visits.OPEN_STATES))
                      .order_by(VisitPlan.planned_at))
    now = utcnow()
    return {"customer": customer,
            "contacts": list_contacts(uow, caller, customer_id)["items"],
            "account_team": account_team(uow, caller, customer_id),
            "latest_followups": [followup_out(f) for f in followups],
            "open_visit_plans": [visit_out(v, now) for v in plans],
            "open_reminders": [followup_out(f) for f in reminders]}
