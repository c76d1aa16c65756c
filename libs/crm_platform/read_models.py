"""Local copies of other services' records, fed by their events (PLT-01).

A service never reads another's tables; what it needs of another service's records it
keeps in a small table of its own, written only from that service's events. Every such
event carries the whole record as its publisher has it (a snapshot) with the record's
``version``, so a copy is kept by one rule:

- :func:`apply_snapshot` writes a snapshot unless the copy already holds that version or
  a newer one. Each event type has its own queue, so a ``customer.updated`` may be
  handled before the ``customer.created`` it follows: the older one is then skipped. It
  is one ``INSERT … ON CONFLICT DO UPDATE … WHERE version is older`` statement, so two
  replicas applying events of one record at the same moment cannot interleave (the
  database serialises the two upserts on the row), and a redelivered event changes
  nothing even before the inbox sees it.

The tables are declared here once as mixins (``class Staff(StaffCopy, Base)``); a
service may add columns of its own (the customer service's round-robin bookkeeping):
:func:`apply_snapshot` writes only the columns the snapshot names.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import JSON, Boolean, Date, Integer, String, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from crm_platform.db import UTCDateTime, is_postgres, utcnow

VERSION_COLUMN = "source_version"


class CopyTable:
    """Columns every copy has: the record's id and the version of the snapshot held."""

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source_version: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    copied_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class StaffCopy(CopyTable):
    """The gateway's users (``user.created`` / ``user.updated``): names for lists, teams
    for scope and managers, roles and flags for assignment rules."""

    __tablename__ = "staff"

    display_name: Mapped[str] = mapped_column(String(200), nullable=False)
    team_id: Mapped[str | None] = mapped_column(String(36), index=True)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    is_new_staff: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)


class TeamCopy(CopyTable):
    """The gateway's teams (``team.created`` / ``team.updated``): the hierarchy and each
    team's manager, for team scope, escalation and approvals."""

    __tablename__ = "staff_teams"

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    parent_id: Mapped[str | None] = mapped_column(String(36))
    manager_id: Mapped[str | None] = mapped_column(String(36))


class CustomerCopy(CopyTable):
    """The customer service's customers (``customer.*``): who a record belongs to (its
    owner scopes every record of the customer) and its name for lists. A merged
    customer points at its survivor (:func:`follow_merges`)."""

    __tablename__ = "customers"

    code: Mapped[str | None] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str | None] = mapped_column(String(10))
    owner_id: Mapped[str | None] = mapped_column(String(36), index=True)
    owner_team_id: Mapped[str | None] = mapped_column(String(36), index=True)
    status: Mapped[str] = mapped_column(String(10), default="active", nullable=False)
    merged_into_id: Mapped[str | None] = mapped_column(String(36))


class ContactCopy(CopyTable):
    """The customer service's contact persons (``contact.*``): how to reach them and
    whether they agreed to be reached for marketing. A deleted contact is kept with
    ``deleted`` set, so a late ``contact.updated`` cannot bring it back."""

    __tablename__ = "contacts"

    customer_id: Mapped[str] = mapped_column(String(36), index=True, nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    phones: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    email: Mapped[str | None] = mapped_column(String(320))
    birthday: Mapped[date | None] = mapped_column(Date)
    marketing_opt_out: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    locale: Mapped[str] = mapped_column(String(10), default="zh-CN", nullable=False)
    wechat_openid: Mapped[str | None] = mapped_column(String(64))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)


def _table(model: Any) -> Table:
    table = getattr(model, "__table__", model)
    if not isinstance(table, Table):
        raise TypeError(f"{model!r} is not a mapped table")
    return table


def snapshot_values(model: Any, snapshot: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
    """The snapshot's fields that are columns of the copy (by name); ``version`` goes to
    ``source_version``. Fields the copy does not keep are ignored."""
    table = _table(model)
    data = snapshot.model_dump(mode="json") if isinstance(snapshot, BaseModel) \
        else dict(snapshot)
    values = {name: data[name] for name in table.columns.keys()  # noqa: SIM118 - column names, not Column objects
              if name in data and name not in ("id", VERSION_COLUMN, "copied_at")}
    values["id"] = str(data["id"])
    values[VERSION_COLUMN] = int(data["version"])
    return values


def apply_snapshot(s: Session, model: Any, snapshot: BaseModel | Mapping[str, Any],
                   **overrides: Any) -> bool:
    """Write ``snapshot`` (a payload with ``id`` and ``version``) to the copy unless the
    copy holds that version or a newer one. ``overrides`` set columns the snapshot does
    not carry under that name (``merged_into_id``). True if written."""
    values = {**snapshot_values(model, snapshot), **overrides, "copied_at": utcnow()}
    return upsert_if_newer(s, model, values)


def upsert_if_newer(s: Session, model: Any, values: dict[str, Any]) -> bool:
    """INSERT the row, or UPDATE the columns in ``values`` where the stored
    ``source_version`` is older than ``values['source_version']``; one statement on
    PostgreSQL and SQLite. True if a row was inserted or updated."""
    table = _table(model)
    dialect = postgresql if is_postgres(s) else sqlite
    insert = dialect.insert(table).values(values)
    changed = {name: insert.excluded[name] for name in values if name != "id"}
    statement = insert.on_conflict_do_update(
        index_elements=[table.c.id], set_=changed,
        where=table.c[VERSION_COLUMN] < insert.excluded[VERSION_COLUMN])
    return bool(getattr(s.execute(statement), "rowcount", 0) == 1)


def locked_values(s: Session, model: Any, record_id: str, columns: tuple[str, ...]
                  ) -> dict[str, Any] | None:
    """The copy's ``columns`` as they are now, the row locked until the transaction ends
    (so what an upsert then changes is known); None if the copy has no such row."""
    table = _table(model)
    statement = select(*(table.c[name] for name in columns)).where(table.c.id == record_id)
    if is_postgres(s):
        statement = statement.with_for_update()
    row = s.execute(statement).first()
    return None if row is None else dict(row._mapping)


def follow_merges(s: Session, model: Any, record_id: str | None, *,
                  max_hops: int = 10) -> Any:
    """The copy of ``record_id`` or, if it was merged, of its survivor (merges chain when
    a survivor is merged in turn); None if this service has not heard of it."""
    if not record_id:
        return None
    found = s.get(model, record_id)
    for _ in range(max_hops):
        if found is None or not getattr(found, "merged_into_id", None):
            break
        found = s.get(model, found.merged_into_id)
    return found
