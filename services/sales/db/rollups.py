"""Analytics rollups (SAL-03): every change to an opportunity moves it out of its old
rollup row and into its new one in the same transaction, so the funnel, forecast and
win / loss figures read a few hundred rows yet always equal the sum of the records.

``rebuild`` recomputes both tables from the opportunities (after a bulk load or to check).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from services.sales.db.models import ClosedPipelineTotal, OpenPipelineTotal, Opportunity

_DAY = Decimal("0.0001")


@dataclass(frozen=True)
class Snapshot:
    """Where one opportunity counts."""

    table: type[Any]
    key: tuple[str, ...]
    amount: Decimal
    cycle_days: Decimal


def cycle_days(created_at: datetime, closed_at: datetime) -> Decimal:
    seconds = Decimal(str((closed_at - created_at).total_seconds()))
    return (seconds / 86400).quantize(_DAY, ROUND_HALF_UP)


def snapshot(o: Opportunity) -> Snapshot | None:
    if o.owner_id is None:
        return None
    if o.status == "open":
        month = o.expected_close_date.strftime("%Y-%m") if o.expected_close_date else ""
        return Snapshot(OpenPipelineTotal, (o.owner_id, o.stage_id, o.currency, month),
                        o.amount, Decimal(0))
    if o.closed_at is None:
        return None
    return Snapshot(ClosedPipelineTotal,
                    (o.owner_id, o.owner_team_id or "", o.currency,
                     o.closed_at.strftime("%Y-%m"), o.status),
                    o.amount, cycle_days(o.created_at, o.closed_at))


def _keys(table: type[Any]) -> tuple[str, ...]:
    if table is OpenPipelineTotal:
        return ("owner_id", "stage_id", "currency", "close_month")
    return ("owner_id", "team_id", "currency", "closed_month", "status")


def _add(s: Session, snap: Snapshot, sign: int) -> None:
    table = snap.table
    values: dict[str, Any] = dict(zip(_keys(table), snap.key, strict=True))
    values.update(count=sign, amount=sign * snap.amount)
    if table is ClosedPipelineTotal:
        values["cycle_days"] = sign * snap.cycle_days
    dialect = s.get_bind().dialect.name
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(table).values(**values)
    updates = {"count": table.count + stmt.excluded.count,
               "amount": table.amount + stmt.excluded.amount}
    if table is ClosedPipelineTotal:
        updates["cycle_days"] = table.cycle_days + stmt.excluded.cycle_days
    s.execute(stmt.on_conflict_do_update(index_elements=list(_keys(table)), set_=updates))


def move(s: Session, before: Snapshot | None, after: Snapshot | None) -> None:
    if before == after:
        return
    if before is not None:
        _add(s, before, -1)
    if after is not None:
        _add(s, after, +1)


REBUILD_PG = (
    """INSERT INTO open_pipeline_totals (owner_id, stage_id, currency, close_month, count,
           amount)
       SELECT owner_id, stage_id, currency,
              coalesce(to_char(expected_close_date, 'YYYY-MM'), ''), count(*), sum(amount)
       FROM opportunities WHERE status = 'open' AND owner_id IS NOT NULL
       GROUP BY 1, 2, 3, 4""",
    """INSERT INTO closed_pipeline_totals (owner_id, team_id, currency, closed_month, status,
           count, amount, cycle_days)
       SELECT owner_id, coalesce(owner_team_id, ''), currency,
              to_char(closed_at AT TIME ZONE 'UTC', 'YYYY-MM'), status, count(*),
              sum(amount),
              sum(round(extract(epoch FROM closed_at - created_at) / 86400, 4))
       FROM opportunities
       WHERE status IN ('won', 'lost') AND owner_id IS NOT NULL AND closed_at IS NOT NULL
       GROUP BY 1, 2, 3, 4, 5""",
)


def rebuild(s: Session) -> None:
    s.execute(delete(OpenPipelineTotal))
    s.execute(delete(ClosedPipelineTotal))
    if s.get_bind().dialect.name == "postgresql":
        for statement in REBUILD_PG:
            s.execute(text(statement))
        return
    for o in s.scalars(select(Opportunity).execution_options(yield_per=5000)):
        snap = snapshot(o)
        if snap is not None:
            _add(s, snap, +1)
