"""Handing a user's open work to their successor (``user.deactivated``, CUS-07).

Every service declares, in one :class:`Handover`, each table whose rows a user holds —
the records that move (with the states that still count as open work) and the columns
that stay with their author, each with the reason. :meth:`Handover.hand_over` moves
every open record of one user to another in the caller's transaction, and
:meth:`Handover.undeclared` lists the holder columns of a service's tables the
declaration forgets, so a test fails when a new table names a holder nobody thought
about.

A column names the user who *holds* a record when its name is one of
:data:`HOLDER_WORDS`, alone or ending a longer name (``owner_id``, ``assignee_id``,
``submitter_id``, ``author_id``, ``user_id``, ``technician_id``…). Columns naming who did
something once (``created_by``, ``decided_by``, ``approver_id``, ``actor_id``) are facts
of the record's history: they never move and need no declaration.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, MetaData, select

from crm_platform.uow import UnitOfWork

HOLDER_WORDS = ("owner", "assignee", "submitter", "author", "user", "technician", "agent",
                "rep", "holder", "handler")
_HOLDER = re.compile(r"(?:^|_)(?:" + "|".join(HOLDER_WORDS) + r")(?:_id)?$")

# ``reassign(uow, row, move)`` wraps the move of one row when something derived from the
# row (a rollup) must follow it: read what it needs, call ``move()``, update the rest.
Reassign = Callable[[UnitOfWork, Any, Callable[[], None]], None]
# ``moved(uow, rows, from_user_id)``: after the rows of one table moved (history, events).
Moved = Callable[[UnitOfWork, Sequence[Any], str], None]


def is_holder_column(name: str) -> bool:
    """Whether a column of this name says which user holds the record (see above)."""
    return _HOLDER.search(name) is not None


@dataclass(frozen=True)
class Owned:
    """One kind of record a user holds and hands over while it is open.

    ``states``: the values of ``status`` that count as open work; a table whose openness
    is not a state gives ``open_when(today)`` instead. ``team``: the column keeping the
    holder's team (set to the successor's), ``touch``: timestamp columns set to now, and
    a ``version`` column, when the model has one, goes up by one (a client's ``If-Match``
    on the old holder's version no longer applies)."""

    model: Any
    states: frozenset[str] = frozenset()
    open_when: Callable[[date], ColumnElement[bool]] | None = None
    holder: str = "owner_id"
    team: str | None = "owner_team_id"
    touch: tuple[str, ...] = ("updated_at",)
    reassign: Reassign | None = None
    moved: Moved | None = None

    def __post_init__(self) -> None:
        if bool(self.states) == (self.open_when is not None):
            raise ValueError(f"{self.table}: give either the open states or open_when")

    @property
    def table(self) -> str:
        return str(self.model.__tablename__)

    def is_open(self, today: date) -> ColumnElement[bool]:
        if self.open_when is not None:
            return self.open_when(today)
        status: Any = self.model.status
        return status.in_(sorted(self.states))  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Handover:
    """A service's owned record types: what moves, and what stays with its author."""

    moves: tuple[Owned, ...]
    # "table.column" -> why those records stay with the user who held them
    stays: dict[str, str] = field(default_factory=dict)

    def hand_over(self, uow: UnitOfWork, from_user_id: str, to_user_id: str,
                  team_id: str | None, now: datetime | None = None) -> dict[str, int]:
        """Move every open record of ``from_user_id`` to ``to_user_id`` (of team
        ``team_id``) in the unit of work's transaction, rows locked in id order; returns
        the number moved per table. The caller commits."""
        s = uow.session
        now = now or datetime.now(UTC)
        counts: dict[str, int] = {}
        for owned in self.moves:
            model = owned.model
            rows = list(s.scalars(
                select(model).where(getattr(model, owned.holder) == from_user_id,
                                    owned.is_open(now.date()))
                .order_by(model.id).with_for_update()))
            for row in rows:
                def move(row: Any = row, owned: Owned = owned) -> None:
                    _reassign(row, owned, to_user_id, team_id, now)
                if owned.reassign is None:
                    move()
                else:
                    owned.reassign(uow, row, move)
            s.flush()
            if rows and owned.moved is not None:
                owned.moved(uow, rows, from_user_id)
            counts[owned.table] = len(rows)
        return counts

    def declared(self) -> set[str]:
        return {f"{o.table}.{o.holder}" for o in self.moves} | set(self.stays)

    def undeclared(self, metadata: MetaData) -> list[str]:
        """``table.column`` of every holder column in ``metadata`` this declaration
        neither moves nor keeps with its author."""
        return sorted(set(holder_columns(metadata.tables.values())) - self.declared())

    def unknown(self, metadata: MetaData) -> list[str]:
        """Declared ``table.column`` names ``metadata`` does not have (a renamed table)."""
        present = {f"{t.name}.{c.name}" for t in metadata.tables.values() for c in t.columns}
        return sorted(self.declared() - present)


def holder_columns(tables: Iterable[Any]) -> list[str]:
    return [f"{t.name}.{c.name}" for t in tables for c in t.columns
            if is_holder_column(c.name)]


def _reassign(row: Any, owned: Owned, to_user_id: str, team_id: str | None,
              now: datetime) -> None:
    setattr(row, owned.holder, to_user_id)
    if owned.team is not None:
        setattr(row, owned.team, team_id)
    for name in owned.touch:
        setattr(row, name, now)
    if hasattr(row, "version"):
        row.version += 1
