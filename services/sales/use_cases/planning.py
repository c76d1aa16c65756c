"""Sales targets with achievement (SAL-08) and work logs / plans (SAL-09)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

from crm_platform.auth import Caller
from crm_platform.db import utcnow
from crm_platform.errors import Conflict, Forbidden, NotFound, check_version
from crm_platform.pagination import keyset_page
from crm_platform.uow import UnitOfWork
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.exc import IntegrityError

from services.sales import schemas
from services.sales.db import queries
from services.sales.db.models import SalesTarget, Staff, WorkLog
from services.sales.domain import analytics
from services.sales.use_cases.common import amount


# -- targets ---------------------------------------------------------------------------------
def _target_out(uow: UnitOfWork, t: SalesTarget) -> dict[str, Any]:
    first, last = analytics.period_range(t.period)
    start = datetime.combine(first, time.min, UTC)
    end = datetime.combine(last + timedelta(days=1), time.min, UTC)
    s = uow.session
    if t.subject_kind == "rep":
        owners: set[str] = {t.subject_id}
    else:
        teams = queries.team_and_subteams(s, t.subject_id)
        owners = set(s.scalars(select(Staff.id).where(Staff.team_id.in_(teams))))
    achieved = queries.confirmed_revenue(s, t.currency, owners, start, end)
    out = schemas.Target.model_validate(t, from_attributes=True).model_dump(mode="json")
    out["achieved"] = str(achieved)
    out["achievement"] = analytics.achievement(t.amount, achieved)
    return out


def _visible_targets(caller: Caller) -> ColumnElement[bool] | None:
    """What ``_may_see_target`` says, as a condition on the table (None: all)."""
    owners = caller.visible_owner_ids()
    if owners is None:
        return None
    reps = and_(SalesTarget.subject_kind == "rep", SalesTarget.subject_id.in_(owners))
    if caller.scope != "team":
        return reps
    return or_(reps, and_(SalesTarget.subject_kind == "team",
                          SalesTarget.subject_id.in_(caller.team_ids)))


def _may_see_target(uow: UnitOfWork, caller: Caller, t: SalesTarget) -> bool:
    if caller.scope == "all":
        return True
    if t.subject_kind == "rep":
        return caller.can_see_owner(t.subject_id)
    return caller.scope == "team" and t.subject_id in caller.team_ids


def create_target(uow: UnitOfWork, caller: Caller, data: schemas.TargetIn) -> dict[str, Any]:
    analytics.period_range(data.period)
    t = SalesTarget(id=str(uuid.uuid4()), subject_kind=data.subject_kind,
                    subject_id=data.subject_id, period=data.period,
                    amount=amount(data.amount, data.currency, "amount"),
                    currency=data.currency, created_by=caller.user_id, version=1)
    if not _may_see_target(uow, caller, t):
        raise Forbidden("that rep or team is outside your scope", code="permission_denied")
    uow.session.add(t)
    try:
        uow.session.flush()
    except IntegrityError:
        raise Conflict("a target for that rep or team and period exists",
                       code="duplicate") from None
    uow.commit()
    return _target_out(uow, t)


def update_target(uow: UnitOfWork, caller: Caller, target_id: str, data: schemas.TargetUpdate,
                  expected_version: int | None) -> dict[str, Any]:
    t = uow.session.get(SalesTarget, target_id, with_for_update=True)
    if t is None or not _may_see_target(uow, caller, t):
        raise NotFound("target not found", code="target_not_found")
    check_version(t.version, expected_version, "target")
    t.amount = amount(data.amount, t.currency, "amount")
    t.version += 1
    uow.commit()
    return _target_out(uow, t)


def list_targets(uow: UnitOfWork, caller: Caller, q: schemas.TargetQuery) -> dict[str, Any]:
    query = select(SalesTarget)
    if q.period:
        query = query.where(SalesTarget.period == q.period)
    if q.subject_id:
        query = query.where(SalesTarget.subject_id == q.subject_id)
    visible = _visible_targets(caller)
    if visible is not None:
        query = query.where(visible)
    rows, cursor = keyset_page(uow.session, query, q.limit, q.cursor,
                               (SalesTarget.period, SalesTarget.id))
    return {"items": [_target_out(uow, t) for t in rows], "next_cursor": cursor}


# -- work logs ---------------------------------------------------------------------------------
def _log_out(w: WorkLog) -> dict[str, Any]:
    return schemas.WorkLog.model_validate(w, from_attributes=True).model_dump(mode="json")


def _visible_log(uow: UnitOfWork, caller: Caller, log_id: str) -> WorkLog:
    w = uow.session.get(WorkLog, log_id, with_for_update=True)
    if w is None or not caller.can_see_owner(w.author_id):
        raise NotFound("work log not found", code="work_log_not_found")
    return w


def create_work_log(uow: UnitOfWork, caller: Caller, data: schemas.WorkLogIn) -> dict[str, Any]:
    now = utcnow()
    w = WorkLog(id=str(uuid.uuid4()), author_id=caller.user_id, kind=data.kind, day=data.day,
                content=data.content, customer_id=data.customer_id, created_at=now,
                updated_at=now, version=1)
    uow.session.add(w)
    uow.commit()
    return _log_out(w)


def update_work_log(uow: UnitOfWork, caller: Caller, log_id: str, data: schemas.WorkLogUpdate,
                    expected_version: int | None) -> dict[str, Any]:
    w = _visible_log(uow, caller, log_id)
    if w.author_id != caller.user_id:
        raise Forbidden("only the author edits a work log", code="permission_denied")
    check_version(w.version, expected_version, "work log")
    w.content = data.content
    w.version += 1
    w.updated_at = utcnow()
    uow.commit()
    return _log_out(w)


def list_work_logs(uow: UnitOfWork, caller: Caller, q: schemas.WorkLogQuery) -> dict[str, Any]:
    """The caller's own logs and plans, and their team's when they manage one."""
    query = select(WorkLog)
    owners = caller.visible_owner_ids()
    if owners is not None:
        query = query.where(WorkLog.author_id.in_(owners))
    if q.author_id:
        query = query.where(WorkLog.author_id == q.author_id)
    if q.kind:
        query = query.where(WorkLog.kind == q.kind)
    if q.day_from:
        query = query.where(WorkLog.day >= q.day_from)
    if q.day_to:
        query = query.where(WorkLog.day <= q.day_to)
    rows, nxt = keyset_page(uow.session, query, q.limit, q.cursor,
                            (WorkLog.created_at, WorkLog.id), descending=True)
    return {"items": [_log_out(r) for r in rows], "next_cursor": nxt}
