"""SQL of the sales service: scoping, pagination, numbers, settings and the analytics
aggregates. Use cases call these; nothing else builds queries."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from crm_platform.auth import Caller
from crm_platform.db import next_in_sequence, read_setting, write_setting
from crm_platform.errors import NotFound
from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from services.sales.db.models import (
    Base,
    ClosedPipelineTotal,
    NumberSequence,
    OpenPipelineTotal,
    Order,
    PipelineStage,
    Setting,
    Staff,
    Team,
)

M = TypeVar("M", bound=Base)


def visible(query: Select[Any], model: Any, caller: Caller) -> Select[Any]:
    """Records whose owner is in the caller's scope (own / team and sub-teams / all)."""
    owners = caller.visible_owner_ids()
    if owners is None:
        return query
    return query.where(model.owner_id.in_(owners))


def get_visible(s: Session, model: type[M], record_id: str, caller: Caller, what: str, *,
                lock: bool = False) -> M:
    query = visible(select(model).where(model.id == record_id),  # type: ignore[attr-defined]
                    model, caller)
    if lock:
        query = query.with_for_update()
    row = s.scalar(query)
    if row is None:
        raise NotFound(f"{what} not found", code=f"{what.replace(' ', '_')}_not_found")
    return row


def next_number(s: Session, series: str, year: int) -> str:
    """``SO-2026-000042``: gap-free per series and year."""
    return f"{series}-{year}-{next_in_sequence(s, NumberSequence, f'{series}-{year}'):06d}"


def setting(s: Session, name: str, default: dict[str, Any]) -> dict[str, Any]:
    return read_setting(s, Setting, name, default)


def put_setting(s: Session, name: str, value: dict[str, Any]) -> None:
    write_setting(s, Setting, name, value)


def manager_of(s: Session, user_id: str | None) -> str | None:
    """The manager of the user's team, or of the nearest parent team that has one (not the
    user themself)."""
    if user_id is None:
        return None
    team_id = s.scalar(select(Staff.team_id).where(Staff.id == user_id))
    seen: set[str] = set()
    while team_id and team_id not in seen:
        seen.add(team_id)
        team = s.get(Team, team_id)
        if team is None:
            return None
        if team.manager_id and team.manager_id != user_id:
            return team.manager_id
        team_id = team.parent_id
    return None


def team_of(s: Session, user_id: str | None) -> str | None:
    if user_id is None:
        return None
    return s.scalar(select(Staff.team_id).where(Staff.id == user_id))


def team_and_subteams(s: Session, team_id: str) -> set[str]:
    teams = {team_id}
    frontier = {team_id}
    while frontier:
        children = set(s.scalars(select(Team.id).where(Team.parent_id.in_(frontier))))
        frontier = children - teams
        teams |= frontier
    return teams


# -- analytics (from the rollups, see rollups.py) ------------------------------------------
def _totals(query: Select[Any], table: Any, caller: Caller, currency: str,
            owner_ids: set[str] | None) -> Select[Any]:
    query = visible(query, table, caller).where(table.currency == currency)
    if owner_ids is not None:
        query = query.where(table.owner_id.in_(owner_ids))
    return query


def funnel_totals(s: Session, caller: Caller, currency: str, owner_ids: set[str] | None,
                  first_month: str | None = None, last_month: str | None = None
                  ) -> list[tuple[PipelineStage, int, Decimal]]:
    """Open opportunities per stage: count and amount (expected to close in the months
    given; an undated one is in no period)."""
    t = OpenPipelineTotal
    agg = _totals(select(t.stage_id, func.sum(t.count), func.sum(t.amount)), t, caller,
                  currency, owner_ids).group_by(t.stage_id)
    if first_month is not None:
        agg = agg.where(t.close_month >= first_month)
    if last_month is not None:
        agg = agg.where(t.close_month <= last_month)
    totals = {stage_id: (int(n or 0), Decimal(str(amount or 0)))
              for stage_id, n, amount in s.execute(agg)}
    stages = list(s.scalars(select(PipelineStage).order_by(PipelineStage.position)))
    return [(st, *totals.get(st.id, (0, Decimal("0")))) for st in stages
            if st.is_active or totals.get(st.id, (0,))[0]]


def win_loss(s: Session, caller: Caller, currency: str, owner_ids: set[str] | None,
             first_month: str | None, last_month: str | None, group: str | None
             ) -> list[tuple[Any, int, int, Decimal, Decimal]]:
    """Closed opportunities grouped by ``group`` (owner_id, team_id, closed_month or
    None): won, lost, won amount and the sum of days from creation to close."""
    t = ClosedPipelineTotal
    won = t.status == "won"
    cols = [func.sum(case((won, t.count), else_=0)), func.sum(case((won, 0), else_=t.count)),
            func.sum(case((won, t.amount), else_=0)), func.sum(t.cycle_days)]
    key = getattr(t, group) if group else None
    query = _totals(select(*([key] if key is not None else []), *cols), t, caller, currency,
                    owner_ids)
    if first_month is not None:
        query = query.where(t.closed_month >= first_month)
    if last_month is not None:
        query = query.where(t.closed_month <= last_month)
    if key is not None:
        query = query.group_by(key)
    rows = []
    for row in s.execute(query):
        values = list(row) if key is not None else [None, *row]
        k, n_won, n_lost, amount, days = values
        if n_won is None and n_lost is None:
            continue
        rows.append((k if k != "" else None, int(n_won or 0), int(n_lost or 0),
                     Decimal(str(amount or 0)), Decimal(str(days or 0))))
    return rows


def forecast(s: Session, caller: Caller, currency: str, owner_ids: set[str] | None,
             first_month: str | None, last_month: str | None
             ) -> list[tuple[str, str, int, Decimal]]:
    """Open opportunities by expected close month ("" = undated) and stage."""
    t = OpenPipelineTotal
    query = _totals(select(t.close_month, t.stage_id, func.sum(t.count), func.sum(t.amount)),
                    t, caller, currency, owner_ids).group_by(t.close_month, t.stage_id)
    if first_month is not None:
        query = query.where(t.close_month >= first_month)
    if last_month is not None:
        query = query.where(t.close_month <= last_month)
    return [(m, stage_id, int(n or 0), Decimal(str(a or 0)))
            for m, stage_id, n, a in s.execute(query) if n]


def confirmed_revenue(s: Session, currency: str, owner_ids: set[str] | None,
                      start: datetime, end: datetime) -> Decimal:
    """Sum of confirmed orders (confirmed, in delivery or completed) in a period."""
    query = select(func.coalesce(func.sum(Order.amount), 0)).where(
        Order.currency == currency, Order.confirmed_at >= start, Order.confirmed_at < end,
        Order.status.in_(("confirmed", "in_delivery", "completed")))
    if owner_ids is not None:
        query = query.where(Order.owner_id.in_(owner_ids))
    return Decimal(str(s.scalar(query) or 0))
