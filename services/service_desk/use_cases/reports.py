"""Reports (SVC-03, SVC-04, SVC-05): satisfaction by week, agent or category; SLA breach
rates and median times by category, team or agent; the callback rate.

A period is ``[from, to)`` in days of the service desk's time zone: ratings by when
they were given, SLA figures by when tickets were received, callbacks by when they were
due."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from crm_platform.auth import Caller
from crm_platform.errors import ValidationFailed
from crm_platform.uow import UnitOfWork
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.service_desk import schemas
from services.service_desk.db import queries
from services.service_desk.db.models import Callback, SatisfactionRating, SlaClock, Ticket
from services.service_desk.domain import reports as figures
from services.service_desk.use_cases import common

MAX_DAYS = 3 * 366


def _period(tz: ZoneInfo, start: date, end: date) -> tuple[datetime, datetime]:
    if end <= start:
        raise ValidationFailed("to is after from", code="invalid_period",
                               extra={"errors": [{"field": "to", "message": "not after from"}]})
    if end - start > timedelta(days=MAX_DAYS):
        raise ValidationFailed(f"a report covers at most {MAX_DAYS} days",
                               code="invalid_period")
    return (datetime.combine(start, time(0), tzinfo=tz),
            datetime.combine(end, time(0), tzinfo=tz))


def _scoped(caller: Caller, query: Any) -> Any:
    rule = queries.ticket_scope(caller)
    return query if rule is None else query.where(rule)


def _labels(s: Session, group_by: str, keys: list[str | None]) -> dict[str, str]:
    if group_by == "agent":
        return queries.staff_names(s, keys)
    if group_by == "team":
        return queries.team_names(s, keys)
    return {k: k for k in keys if k}


def satisfaction_report(uow: UnitOfWork, caller: Caller, query: schemas.SatisfactionQuery
                        ) -> dict[str, Any]:
    s = uow.session
    tz = common.local_zone(s)
    start, end = _period(tz, query.from_, query.to)
    rows = s.execute(_scoped(caller, select(
        SatisfactionRating.rating, SatisfactionRating.rated_at,
        SatisfactionRating.handled_by, SatisfactionRating.category)
        .join(Ticket, Ticket.id == SatisfactionRating.ticket_id)
        .where(SatisfactionRating.rated_at >= start, SatisfactionRating.rated_at < end)))
    rated = [figures.Rated(r, at, agent, category) for r, at, agent, category in rows]
    if query.group_by == "week":
        groups = figures.satisfaction_groups(rated, lambda r: figures.week_of(r.rated_at, tz))
    elif query.group_by == "agent":
        groups = figures.satisfaction_groups(rated, lambda r: r.agent_id)
    else:
        groups = figures.satisfaction_groups(rated, lambda r: r.category)
    labels = _labels(s, query.group_by, [g["key"] for g in groups])  # type: ignore[misc]
    total = {"key": None, "label": "total", **figures.satisfaction([r.rating for r in rated])}
    return schemas.SatisfactionReport.model_validate({
        "from": query.from_, "to": query.to, "group_by": query.group_by, "total": total,
        "groups": [{**g, "label": labels.get(str(g["key"]))} for g in groups],
    }).model_dump(mode="json", by_alias=True)


def sla_report(uow: UnitOfWork, caller: Caller, query: schemas.SlaQuery) -> dict[str, Any]:
    s = uow.session
    tz = common.local_zone(s)
    start, end = _period(tz, query.from_, query.to)
    column = {"category": Ticket.category, "team": Ticket.team_id,
              "agent": Ticket.assignee_id}[query.group_by]
    rows = s.execute(_scoped(caller, select(
        column, Ticket.id, SlaClock.target, SlaClock.consumed_us, SlaClock.met_at,
        SlaClock.due_at, SlaClock.breached_at)
        .join(SlaClock, SlaClock.ticket_id == Ticket.id)
        .where(Ticket.received_at >= start, Ticket.received_at < end)))
    by_key: dict[str | None, list[figures.ClockFigure]] = {}
    tickets: dict[str | None, set[str]] = {}
    everything: list[figures.ClockFigure] = []
    for key, ticket_id, target, used_us, met_at, due_at, breached_at in rows:
        late = met_at is not None and due_at is not None and met_at > due_at
        figure = figures.ClockFigure(
            target, timedelta(microseconds=used_us) if met_at is not None else None,
            breached_at is not None or late)
        by_key.setdefault(key, []).append(figure)
        tickets.setdefault(key, set()).add(ticket_id)
        everything.append(figure)
    ordered = sorted(by_key, key=lambda k: (k is None, k or ""))
    labels = _labels(s, query.group_by, ordered)
    groups = [{"key": k, "label": labels.get(k or ""), "tickets": len(tickets[k]),
               "targets": figures.sla_figures(by_key[k])} for k in ordered]
    total = {"key": None, "label": "total",
             "tickets": sum(len(v) for v in tickets.values()),
             "targets": figures.sla_figures(everything)}
    return schemas.SlaReport.model_validate({
        "from": query.from_, "to": query.to, "group_by": query.group_by, "total": total,
        "groups": groups, "callbacks": _callbacks(s, caller, start, end),
    }).model_dump(mode="json", by_alias=True)


def _callbacks(s: Session, caller: Caller, start: datetime, end: datetime
               ) -> dict[str, Any]:
    rows = s.execute(_scoped(caller, select(Callback.status, Callback.completed_at,
                                            Callback.due_at)
                             .join(Ticket, Ticket.id == Callback.ticket_id)
                             .where(Callback.due_at >= start, Callback.due_at < end,
                                    Callback.status != "cancelled"))).all()
    done_in_time = sum(1 for st, at, due in rows if st == "done" and at and at <= due)
    done_late = sum(1 for st, at, due in rows if st == "done" and at and at > due)
    return {"due": len(rows), "done_in_time": done_in_time, "done_late": done_late,
            "unreached": sum(1 for st, _, _ in rows if st == "unreached"),
            "open": sum(1 for st, _, _ in rows if st == "due"),
            "rate_percent": figures.callback_rate(len(rows), done_in_time)}
