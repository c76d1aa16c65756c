"""Work orders (SVC-02): created from a ticket, dispatched to a technician (suggested by
skill and load), confirmed, started, completed with a work record, closed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from crm_platform.auth import Caller
from crm_platform.errors import NotFound, ValidationFailed, check_version
from crm_platform.pagination import keyset_page
from crm_platform.permissions import scope_for
from crm_platform.uow import UnitOfWork
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from services.service_desk import events, schemas
from services.service_desk.db import queries
from services.service_desk.db.models import Staff, TechnicianSkill, Ticket, WorkOrder
from services.service_desk.domain import work_orders as rules
from services.service_desk.domain.tickets import ACTIVE_STATUSES
from services.service_desk.domain.work_orders import WORK_ORDER
from services.service_desk.use_cases import common

TECHNICIAN_ROLE = "technician"


def _ticket(s: Session, ticket_id: str) -> Ticket:
    found = s.get(Ticket, ticket_id)
    assert found is not None  # a work order's ticket is never deleted
    return found


def work_order_out(s: Session, w: WorkOrder) -> dict[str, Any]:
    t = _ticket(s, w.ticket_id)
    data = {name: getattr(w, name) for name in schemas.WorkOrder.model_fields
            if hasattr(w, name)}
    data.update(
        ticket_number=t.number, subject=t.subject,
        customer_name=queries.customer_names(s, [w.customer_id]).get(w.customer_id or ""),
        technician_name=queries.staff_names(s, [w.technician_id]).get(w.technician_id or ""),
        hours=str(w.hours) if w.hours is not None else None,
        allowed_actions=WORK_ORDER.allowed_actions(w.status))
    return schemas.WorkOrder.model_validate(data).model_dump(mode="json")


def work_order_event(s: Session, cls: type[events.WorkOrderEvent], w: WorkOrder, **extra: Any
           ) -> events.WorkOrderEvent:
    t = _ticket(s, w.ticket_id)
    return cls(id=w.id, number=w.number, ticket_id=t.id, ticket_number=t.number,
               ticket_subject=t.subject, customer_id=w.customer_id,
               customer_name=queries.customer_names(s, [w.customer_id]).get(
                   w.customer_id or ""),
               status=w.status, technician_id=w.technician_id, scheduled_at=w.scheduled_at,
               address=w.address, **extra)


def _visible(s: Session, caller: Caller, work_order_id: str) -> WorkOrder:
    query = select(WorkOrder).where(WorkOrder.id == work_order_id)
    rule = queries.work_order_scope(caller)
    if rule is not None:
        query = query.where(rule)
    found = s.scalar(query)
    if found is None:
        raise NotFound("work order not found", code="work_order_not_found")
    return found


def _locked(s: Session, caller: Caller, work_order_id: str) -> tuple[Ticket, WorkOrder]:
    """The work order and its ticket, locked ticket first (the order every writer
    locks in)."""
    w = _visible(s, caller, work_order_id)
    t = s.get(Ticket, w.ticket_id, with_for_update=True, populate_existing=True)
    w = s.get(WorkOrder, w.id, with_for_update=True, populate_existing=True)
    assert t is not None and w is not None
    return t, w


def _technician(s: Session, technician_id: str) -> Staff:
    staff = queries.active_staff(s, technician_id)
    if staff is None or TECHNICIAN_ROLE not in (staff.roles or []):
        raise ValidationFailed("not an active technician", code="invalid_technician",
                               extra={"errors": [{"field": "technician_id",
                                                  "message": "not an active technician"}]})
    return staff


def create_work_order(uow: UnitOfWork, caller: Caller, ticket_id: str,
                      data: schemas.WorkOrderCreate) -> dict[str, Any]:
    s = uow.session
    t = queries.visible_ticket(s, caller, ticket_id, lock=True)
    if t.status not in ACTIVE_STATUSES:
        raise ValidationFailed("work orders are for tickets still being worked on",
                               code="ticket_not_active",
                               extra={"current_state": t.status})
    at = common.now()
    year = common.year_of(s, at)
    w = WorkOrder(id=str(uuid.uuid4()), ticket_id=t.id, customer_id=t.customer_id,
                  status="not_dispatched",
                  product_category=data.product_category or t.product_category,
                  description=data.description or t.description, address=data.address,
                  scheduled_at=data.scheduled_at, created_by=caller.user_id, parts=[],
                  version=1, created_at=at, updated_at=at,
                  number=rules.work_order_number(year, queries.next_number(s, f"wo-{year}")))
    s.add(w)
    s.flush()
    common.log(s, t, at, caller.user_id, "work_order_created", work_order_id=w.id,
               number=w.number)
    if data.technician_id is not None:
        _dispatch(uow, t, w, data.technician_id, None, at, caller.user_id)
    uow.commit()
    return work_order_out(s, w)


def _dispatch(uow: UnitOfWork, t: Ticket, w: WorkOrder, technician_id: str,
              scheduled_at: datetime | None, at: datetime, actor: str) -> None:
    s = uow.session
    _technician(s, technician_id)
    previous = w.technician_id if w.status != "not_dispatched" else None
    w.status = WORK_ORDER.next(w.status, "dispatch")
    w.technician_id = technician_id
    w.dispatched_by, w.dispatched_at, w.confirmed_at = actor, at, None
    if scheduled_at is not None:
        w.scheduled_at = scheduled_at
    w.version += 1
    w.updated_at = at
    common.meet_target(uow, t, "dispatch", at)
    common.touch(t, at)
    common.log(s, t, at, actor, "work_order_dispatched", work_order_id=w.id,
               technician_id=technician_id)
    uow.publish(work_order_event(s, events.WorkOrderDispatched, w, dispatched_by=actor,
                       dispatched_at=at, previous_technician_id=previous))


def dispatch_work_order(uow: UnitOfWork, caller: Caller, work_order_id: str,
                        data: schemas.DispatchIn) -> dict[str, Any]:
    s = uow.session
    t, w = _locked(s, caller, work_order_id)
    _dispatch(uow, t, w, data.technician_id, data.scheduled_at, common.now(),
              caller.user_id)
    uow.commit()
    return work_order_out(s, w)


def step_work_order(uow: UnitOfWork, caller: Caller, work_order_id: str, action: str,
                    data: schemas.CompleteIn | schemas.ReasonIn | None = None
                    ) -> dict[str, Any]:
    """decline / confirm / start / complete / close / cancel."""
    s = uow.session
    t, w = _locked(s, caller, work_order_id)
    # a dispatcher may step in for the technician (who phoned it in)
    rules.check_technician_action(action, w.technician_id, caller.user_id,
                                  caller.has("work_order:dispatch"))
    at = common.now()
    w.status = WORK_ORDER.next(w.status, action)
    if action == "decline":
        w.technician_id = None
    elif action == "confirm":
        w.confirmed_at = at
    elif action == "start":
        w.started_at = at
    elif action == "complete":
        assert isinstance(data, schemas.CompleteIn)
        w.hours = rules.work_hours(data.hours)
        w.work_done = data.work_done
        w.parts = [p.model_dump() for p in data.parts]
        w.completed_at = at
    elif action == "close":
        w.closed_at = at
    elif action == "cancel":
        assert isinstance(data, schemas.ReasonIn)
        w.cancelled_at, w.cancel_reason = at, data.reason
    w.version += 1
    w.updated_at = at
    common.log(s, t, at, caller.user_id, f"work_order_{action}", work_order_id=w.id)
    if action == "complete":
        uow.publish(work_order_event(s, events.WorkOrderCompleted, w, completed_at=at,
                           work_done=w.work_done, hours=str(w.hours)))
    uow.commit()
    return work_order_out(s, w)


def update_work_order(uow: UnitOfWork, caller: Caller, work_order_id: str,
                      data: schemas.WorkOrderUpdate, expected_version: int | None
                      ) -> dict[str, Any]:
    s = uow.session
    _, w = _locked(s, caller, work_order_id)
    check_version(w.version, expected_version, "work order")
    WORK_ORDER.check(w.status, "edit")
    for name, value in data.model_dump(exclude_unset=True).items():
        setattr(w, name, value)
    w.version += 1
    w.updated_at = common.now()
    uow.commit()
    return work_order_out(s, w)


def get_work_order(uow: UnitOfWork, caller: Caller, work_order_id: str) -> dict[str, Any]:
    return work_order_out(uow.session, _visible(uow.session, caller, work_order_id))


def get_work_order_link(uow: UnitOfWork, caller: Caller, work_order_id: str
                        ) -> dict[str, Any]:
    """What another service needs to link its record to a work order (the documents
    service's work photos): the work order if the caller may read it. The caller comes
    with the scope of the other service's operation; work orders are read in the
    caller's scope for reading work orders (never wider than the one passed: a team
    scope needs members the caller did not bring)."""
    if not caller.has("work_order:read"):
        raise NotFound("work order not found", code="work_order_not_found")
    scope = scope_for(caller.roles, "work_order:read") or "own"
    if scope == "team" and caller.scope != "team":
        scope = "own"
    w = _visible(uow.session, caller.model_copy(update={"scope": scope}), work_order_id)
    return {"id": w.id, "number": w.number, "ticket_id": w.ticket_id,
            "customer_id": w.customer_id, "status": w.status}


def list_work_orders(uow: UnitOfWork, caller: Caller, query: schemas.WorkOrderQuery
                     ) -> dict[str, Any]:
    s = uow.session
    q = select(WorkOrder)
    rule = queries.work_order_scope(caller)
    if rule is not None:
        q = q.where(rule)
    for name in ("status", "technician_id", "ticket_id", "customer_id"):
        value = getattr(query, name)
        if value is not None:
            q = q.where(getattr(WorkOrder, name) == value)
    rows, cursor = keyset_page(s, q, query.limit, query.cursor,
                               (WorkOrder.created_at, WorkOrder.id), descending=True)
    return {"items": [work_order_out(s, w) for w in rows], "next_cursor": cursor}


def _loads(s: Session) -> dict[str, int]:
    return dict(s.execute(select(WorkOrder.technician_id, func.count())
                          .where(WorkOrder.status.in_(rules.LOAD_STATUSES))
                          .group_by(WorkOrder.technician_id)).tuples().all())


def _technicians(s: Session) -> list[Staff]:
    return list(s.scalars(select(Staff).where(queries.with_role(TECHNICIAN_ROLE))
                          .order_by(Staff.display_name, Staff.id)))


def suggest_technicians(uow: UnitOfWork, caller: Caller, work_order_id: str
                        ) -> dict[str, Any]:
    s = uow.session
    w = _visible(s, caller, work_order_id)
    loads = _loads(s)
    levels: dict[str, int] = {}
    if w.product_category:
        levels = dict(s.execute(select(TechnicianSkill.staff_id, TechnicianSkill.level)
                                .where(TechnicianSkill.product_category == w.product_category))
                      .tuples().all())
    ranked = rules.rank_technicians([
        rules.Candidate(st.id, st.display_name, levels.get(st.id, 0), loads.get(st.id, 0))
        for st in _technicians(s)])
    return {"product_category": w.product_category,
            "items": [{"technician_id": c.technician_id, "display_name": c.display_name,
                       "skill_level": c.skill_level, "open_work_orders": c.open_work_orders}
                      for c in ranked]}


def _skills(s: Session, staff_id: str) -> list[dict[str, Any]]:
    return [{"product_category": k.product_category, "level": k.level}
            for k in s.scalars(select(TechnicianSkill).where(TechnicianSkill.staff_id
                                                             == staff_id)
                               .order_by(TechnicianSkill.product_category))]


def _technician_out(s: Session, st: Staff, loads: dict[str, int]) -> dict[str, Any]:
    return {"id": st.id, "display_name": st.display_name, "team_id": st.team_id,
            "skills": _skills(s, st.id), "open_work_orders": loads.get(st.id, 0)}


def list_technicians(uow: UnitOfWork, caller: Caller, query: schemas.TechnicianQuery
                     ) -> dict[str, Any]:
    queries.staff_only(caller)
    s = uow.session
    rows, cursor = keyset_page(s, select(Staff).where(queries.with_role(TECHNICIAN_ROLE)),
                               query.limit, query.cursor, (Staff.display_name, Staff.id))
    loads = _loads(s)
    return {"items": [_technician_out(s, st, loads) for st in rows], "next_cursor": cursor}


def put_skills(uow: UnitOfWork, caller: Caller, technician_id: str, data: schemas.SkillsIn
               ) -> dict[str, Any]:
    queries.staff_only(caller)
    s = uow.session
    staff = _technician(s, technician_id)
    s.execute(delete(TechnicianSkill).where(TechnicianSkill.staff_id == staff.id))
    for skill in {k.product_category: k for k in data.skills}.values():
        s.add(TechnicianSkill(staff_id=staff.id, product_category=skill.product_category,
                              level=skill.level))
    uow.commit()
    return _technician_out(s, staff, _loads(s))
