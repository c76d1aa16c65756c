"""SLA configuration and the breach sweep (SVC-03).

The sweep runs in every replica. It claims tickets with a clock past due with
``FOR UPDATE SKIP LOCKED`` (replicas take different tickets; a ticket an agent is
changing right now is left for the next round), then locks their clocks — tickets
before clocks, the order every use case locks in. A breach is a row with a unique
(ticket, target) key written in the same transaction as its ``ticket.sla_breached``
outbox row: if two sweeps ever reached one clock, the second would insert nothing and
publish nothing.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from crm_platform.auth import Caller
from crm_platform.db import skip_locked
from crm_platform.errors import Conflict, Forbidden, NotFound, ValidationFailed, check_version
from crm_platform.pagination import keyset_page
from crm_platform.uow import UnitOfWork
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.service_desk import schemas
from services.service_desk.db import queries
from services.service_desk.db.models import (
    BusinessCalendarRow,
    SlaPolicy,
    Team,
    Ticket,
)
from services.service_desk.domain import sla
from services.service_desk.domain.calendar import calendar_from, zone
from services.service_desk.use_cases import common


def sweep_breaches(uow: UnitOfWork, at: datetime, batch: int) -> tuple[int, int, int]:
    """One batch: (tickets claimed, breaches recorded, escalations). Commits."""
    s = uow.session
    claim = skip_locked(s, select(Ticket).where(Ticket.id.in_(
        queries.breachable(at, batch * 4))).order_by(Ticket.id).limit(batch))
    claimed = list(s.scalars(claim))
    breaches = escalations = 0
    top = common.service_manager(s) if claimed else None
    for t in claimed:
        b, e = _breach_ticket(uow, t, at, top)
        breaches += b
        escalations += e
    uow.commit()
    return len(claimed), breaches, escalations


def _breach_ticket(uow: UnitOfWork, t: Ticket, at: datetime, top: str | None
                   ) -> tuple[int, int]:
    s = uow.session
    rows = queries.clock_rows(s, t.id, lock=True)
    clocks = [queries.clock_of(r) for r in rows]
    due = [c for c in clocks if sla.is_due(c, at)]
    if not due:
        return 0, 0
    breached = {c.target for c in due}
    queries.save_clocks(s, t, [sla.breach(c, at) if c.target in breached else c
                               for c in clocks], rows)
    common.touch(t, at)
    return common.record_breaches(uow, t, due, at, top)


def run_sweep(caller: Caller) -> None:
    """Who may run the sweep by hand (admins and service managers; tests, benchmarks)."""
    if not caller.has("sla:configure"):
        raise Forbidden("running the SLA sweep needs sla:configure", code="permission_denied")


# -- calendars -----------------------------------------------------------------------------
def _hours(data: list[schemas.HoursIn]) -> list[list[Any]]:
    return [[h.weekday, h.start, h.end] for h in data]


def _check_calendar(timezone: str, hours: list[list[Any]], holidays: list[str],
                    workdays: list[str]) -> None:
    zone(timezone)
    calendar_from(timezone, [tuple(h) for h in hours],  # type: ignore[misc]
                  [date.fromisoformat(d) for d in holidays],
                  [date.fromisoformat(d) for d in workdays])


def calendar_out(row: BusinessCalendarRow) -> dict[str, Any]:
    data = {"id": row.id, "name": row.name, "timezone": row.timezone,
            "hours": [{"weekday": h[0], "start": h[1], "end": h[2]} for h in row.hours],
            "holidays": row.holidays, "workdays": row.workdays, "version": row.version,
            "created_at": row.created_at, "updated_at": row.updated_at}
    return schemas.Calendar.model_validate(data).model_dump(mode="json")


def create_calendar(uow: UnitOfWork, caller: Caller, data: schemas.CalendarIn
                    ) -> dict[str, Any]:
    queries.staff_only(caller)
    hours = _hours(data.hours)
    holidays = sorted({d.isoformat() for d in data.holidays})
    workdays = sorted({d.isoformat() for d in data.workdays})
    _check_calendar(data.timezone, hours, holidays, workdays)
    at = common.now()
    row = BusinessCalendarRow(id=str(uuid.uuid4()), name=data.name, timezone=data.timezone,
                              hours=hours, holidays=holidays, workdays=workdays, version=1,
                              created_at=at, updated_at=at)
    uow.session.add(row)
    uow.commit()
    return calendar_out(row)


def _calendar(s: Session, calendar_id: str, lock: bool = False) -> BusinessCalendarRow:
    row = s.get(BusinessCalendarRow, calendar_id, with_for_update=lock)
    if row is None:
        raise NotFound("calendar not found", code="calendar_not_found")
    return row


def get_calendar(uow: UnitOfWork, caller: Caller, calendar_id: str) -> dict[str, Any]:
    queries.staff_only(caller)
    return calendar_out(_calendar(uow.session, calendar_id))


def list_calendars(uow: UnitOfWork, caller: Caller, query: schemas.CalendarQuery
                   ) -> dict[str, Any]:
    queries.staff_only(caller)
    rows, cursor = keyset_page(uow.session, select(BusinessCalendarRow), query.limit,
                               query.cursor,
                               (BusinessCalendarRow.name, BusinessCalendarRow.id))
    return {"items": [calendar_out(r) for r in rows], "next_cursor": cursor}


def update_calendar(uow: UnitOfWork, caller: Caller, calendar_id: str,
                    data: schemas.CalendarUpdate, expected_version: int | None
                    ) -> dict[str, Any]:
    """Applies to clocks from their next step (a running due time is not recomputed)."""
    queries.staff_only(caller)
    row = _calendar(uow.session, calendar_id, lock=True)
    check_version(row.version, expected_version, "calendar")
    changes = data.model_dump(exclude_unset=True)
    if "hours" in changes:
        row.hours = _hours(data.hours)
    if "holidays" in changes:
        row.holidays = sorted({d.isoformat() for d in data.holidays})
    if "workdays" in changes:
        row.workdays = sorted({d.isoformat() for d in data.workdays})
    for name in ("name", "timezone"):
        if name in changes:
            setattr(row, name, changes[name])
    _check_calendar(row.timezone, row.hours, row.holidays, row.workdays)
    row.version += 1
    row.updated_at = common.now()
    uow.commit()
    return calendar_out(row)


# -- policies ------------------------------------------------------------------------------
def policy_out(p: SlaPolicy) -> dict[str, Any]:
    return schemas.Policy.model_validate(p, from_attributes=True).model_dump(mode="json")


def _match_key(category: str | None, priority: str | None) -> str:
    return f"{category or '*'}/{priority or '*'}"


def _check_policy_calendar(s: Session, calendar_id: str | None) -> None:
    if calendar_id is not None and s.get(BusinessCalendarRow, calendar_id) is None:
        raise ValidationFailed("calendar not found", code="invalid_calendar",
                               extra={"errors": [{"field": "calendar_id",
                                                  "message": "not found"}]})


def create_policy(uow: UnitOfWork, caller: Caller, data: schemas.PolicyIn
                  ) -> dict[str, Any]:
    queries.staff_only(caller)
    s = uow.session
    _check_policy_calendar(s, data.calendar_id)
    key = _match_key(data.category, data.priority)
    if s.scalar(select(SlaPolicy.id).where(SlaPolicy.match_key == key)):
        raise Conflict(f"a policy for {key} exists already", code="duplicate_policy")
    at = common.now()
    p = SlaPolicy(id=str(uuid.uuid4()), match_key=key, version=1, created_at=at,
                  updated_at=at, **data.model_dump())
    s.add(p)
    try:
        s.flush()
    except IntegrityError:  # created by someone else a moment ago
        raise Conflict(f"a policy for {key} exists already", code="duplicate_policy") \
            from None
    uow.commit()
    return policy_out(p)


def _policy(s: Session, policy_id: str, lock: bool = False) -> SlaPolicy:
    p = s.get(SlaPolicy, policy_id, with_for_update=lock)
    if p is None:
        raise NotFound("SLA policy not found", code="policy_not_found")
    return p


def get_policy(uow: UnitOfWork, caller: Caller, policy_id: str) -> dict[str, Any]:
    queries.staff_only(caller)
    return policy_out(_policy(uow.session, policy_id))


def list_policies(uow: UnitOfWork, caller: Caller, query: schemas.PolicyQuery
                  ) -> dict[str, Any]:
    queries.staff_only(caller)
    rows, cursor = keyset_page(uow.session, select(SlaPolicy), query.limit, query.cursor,
                               (SlaPolicy.match_key,))
    return {"items": [policy_out(p) for p in rows], "next_cursor": cursor}


def update_policy(uow: UnitOfWork, caller: Caller, policy_id: str,
                  data: schemas.PolicyUpdate, expected_version: int | None
                  ) -> dict[str, Any]:
    """Applies to tickets logged (or re-prioritised) from now on."""
    queries.staff_only(caller)
    s = uow.session
    p = _policy(s, policy_id, lock=True)
    check_version(p.version, expected_version, "SLA policy")
    changes = data.model_dump(exclude_unset=True)
    if "calendar_id" in changes:
        _check_policy_calendar(s, changes["calendar_id"])
    for name, value in changes.items():
        setattr(p, name, value)
    p.version += 1
    p.updated_at = common.now()
    uow.commit()
    return policy_out(p)


def delete_policy(uow: UnitOfWork, caller: Caller, policy_id: str) -> dict[str, Any]:
    queries.staff_only(caller)
    p = _policy(uow.session, policy_id, lock=True)
    out = policy_out(p)
    uow.session.delete(p)
    uow.commit()
    return out


# -- settings ------------------------------------------------------------------------------
def get_settings(uow: UnitOfWork, caller: Caller) -> dict[str, Any]:
    queries.staff_only(caller)
    return schemas.ServiceDeskSettings.model_validate(
        queries.settings(uow.session)).model_dump(mode="json")


def put_settings(uow: UnitOfWork, caller: Caller, data: schemas.ServiceDeskSettings
                 ) -> dict[str, Any]:
    queries.staff_only(caller)
    s = uow.session
    zone(data.timezone)
    if data.default_team_id is not None and s.get(Team, data.default_team_id) is None:
        raise ValidationFailed("team not found", code="invalid_team",
                               extra={"errors": [{"field": "default_team_id",
                                                  "message": "not found"}]})
    if data.service_manager_id is not None and queries.active_staff(
            s, data.service_manager_id) is None:
        raise ValidationFailed("the service manager is not an active user",
                               code="invalid_service_manager",
                               extra={"errors": [{"field": "service_manager_id",
                                                  "message": "not an active user"}]})
    value = data.model_dump(mode="json")
    queries.put_settings(s, value)
    uow.commit()
    return value

