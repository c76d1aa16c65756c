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
:func:`apply_snapshots` applies a consumer's batch of snapshots in one statement, and
:func:`copy_of` fetches a record whose first event has not arrived yet from its owner.
The event handlers that keep the copies are in :mod:`crm_platform.service.copies`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import orjson
from pydantic import BaseModel
from sqlalchemy import JSON, Boolean, Date, Integer, String, Table, cast, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from crm_platform.db import UTCDateTime, column_defaults, insert_many, is_postgres, utcnow
from crm_platform.events import CloudEvent, EventData

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
    """The customer service's contact persons (``contact.*``): who to call back or write
    to, whose phone an incoming call comes from, and whether they agreed to be reached
    for marketing. Phones are normalised as the customer service keeps them; a deleted
    contact stays, flagged, so late events cannot bring it back. A customer merge moves
    contacts to the survivor without contact events: the copy follows in the service's
    ``customer_merged`` hook (:func:`crm_platform.service.copies.move_contacts`)."""

    __tablename__ = "contacts"

    customer_id: Mapped[str] = mapped_column(String(36), index=True, nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    phones: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    email: Mapped[str | None] = mapped_column(String(320))
    birthday: Mapped[date | None] = mapped_column(Date)
    marketing_opt_out: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    locale: Mapped[str] = mapped_column(String(10), default="zh-CN", nullable=False)
    wechat_openid: Mapped[str | None] = mapped_column(String(64))
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)


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
    values = {**snapshot_values(model, snapshot), **overrides}
    return bool(upsert_newest(s, model, [values]))


def apply_snapshots(s: Session, model: Any,
                    snapshots: Iterable[BaseModel | Mapping[str, Any]],
                    overrides: Callable[[Any], dict[str, Any]] | None = None) -> set[str]:
    """:func:`apply_snapshot` for many snapshots in one statement (a consumer's batch);
    ``overrides(snapshot)`` gives each one's extra columns. Returns the ids written."""
    return upsert_newest(s, model, [
        {**snapshot_values(model, snapshot), **(overrides(snapshot) if overrides else {})}
        for snapshot in snapshots])


def upsert_newest(s: Session, model: Any, rows: list[dict[str, Any]]) -> set[str]:
    """INSERT the rows, or UPDATE the columns they name where the stored
    ``source_version`` is older than theirs; one statement on PostgreSQL and SQLite.
    Of several rows of one record only the newest is offered (one statement may not
    change a row twice), and rows go in id order, so two writers lock shared rows in the
    same order and never deadlock. Returns the ids inserted or updated."""
    if not rows:
        return set()
    newest: dict[str, dict[str, Any]] = {}
    for row in rows:
        held = newest.get(row["id"])
        if held is None or held[VERSION_COLUMN] < row[VERSION_COLUMN]:
            newest[row["id"]] = row
    now = utcnow()
    values = [{**newest[key], "copied_at": now} for key in sorted(newest)]
    updates = ", ".join(f'"{name}" = excluded."{name}"' for name in values[0] if name != "id")
    table = _table(model).name
    return set(s.scalars(*insert_many(
        _table(model), values,
        f'ON CONFLICT ("id") DO UPDATE SET {updates} '
        f'WHERE "{table}".{VERSION_COLUMN} < excluded.{VERSION_COLUMN} RETURNING "id"')))


@dataclass(frozen=True)
class Copied:
    """What a copy handler (:func:`crm_platform.service.entrypoints.copy_handler`) keeps
    of a batch: the copy's model and, per event, ``(event id, event type, row)``."""

    model: Any
    items: list[tuple[str, str, dict[str, Any]]]


def copied(model: Any, events: Sequence[CloudEvent], payload: type[EventData],
           overrides: Callable[[Any], dict[str, Any]] | None = None) -> Copied:
    """Each event's payload read through its model ``payload`` as a row of the copy
    ``model`` (:func:`snapshot_values`, with ``overrides(snapshot)``'s extra columns)."""
    items = []
    for event in events:
        snapshot = event.payload(payload)
        row = snapshot_values(model, snapshot)
        if overrides is not None:
            row.update(overrides(snapshot))
        items.append((event.id, event.type, row))
    return Copied(model, items)


def consume_snapshots(sessions: sessionmaker[Session], inbox: Table | None, consumer: str,
                      model: Any, items: Sequence[tuple[str, str, dict[str, Any]]]
                      ) -> tuple[set[str], set[str]]:
    """A consumer's batch of snapshots committed on its own: each event ``(event id,
    event type, row)`` marked consumed by ``consumer`` in ``inbox`` and, for the events
    not consumed before, the rows written as :func:`upsert_newest` writes them, in one
    transaction; returns (the fresh event ids, the record ids written). Without
    ``inbox`` (a test's switch) every event counts as fresh.

    On PostgreSQL it is one statement outside any transaction block (the inbox insert and
    the upsert as data-modifying CTEs, the rows as one JSON parameter read into the
    table's row type): one round trip, where ``BEGIN``, the inbox insert, the upsert and
    ``COMMIT`` were four, and a copy's batch is the whole of a consumer's work."""
    if not items:
        return set(), set()
    events: dict[str, tuple[str, dict[str, Any]]] = {}
    for event_id, event_type, row in items:
        events.setdefault(event_id, (event_type, row))
    bind = sessions.kw["bind"]
    if bind.dialect.name != "postgresql":
        with sessions() as s:
            fresh = set(events) if inbox is None else set(s.scalars(*insert_many(
                inbox, [{"consumer": consumer, "event_id": event_id, "event_type": kind,
                         "processed_at": utcnow()} for event_id, (kind, _) in events.items()],
                'ON CONFLICT DO NOTHING RETURNING "event_id"')))
            applied = upsert_newest(s, model, [row for event_id, (_, row) in events.items()
                                               if event_id in fresh])
            s.commit()
        return fresh, applied
    newest: dict[str, dict[str, Any]] = {}
    for event_id, (_, row) in events.items():
        held = newest.get(row["id"])
        if held is None or held[VERSION_COLUMN] < row[VERSION_COLUMN]:
            newest[row["id"]] = {**row, "_event": event_id}
    rows = [newest[key] for key in sorted(newest)]  # id order: writers lock alike
    columns = tuple(name for name in rows[0] if name != "_event")
    # columns the snapshots leave out take their Python-side defaults on insert only
    defaults = column_defaults(_table(model), frozenset((*columns, "copied_at")))
    for row in rows:
        row.update({name: default() for name, default in defaults.items()})
    params = {"rows": orjson.dumps(rows).decode()}
    if inbox is not None:
        params.update(consumer=consumer, events=orjson.dumps(
            [{"id": event_id, "type": kind} for event_id, (kind, _) in events.items()]
        ).decode())
    name, body = _consume_sql(None if inbox is None else inbox.name, _table(model).name,
                              columns, tuple(defaults))
    with bind.connect() as conn:
        # psycopg2's client-side flag, as read sessions use it (crm_platform.db): no BEGIN
        # and COMMIT around the one statement, and nothing sent to switch it
        dbapi = conn.connection.dbapi_connection
        dbapi.autocommit = True
        try:
            if conn.get_execution_options().get("crm_prepare"):
                # planned once per connection, not per batch (db.execute_prepared)
                given = _CONSUME_PARAMS[:1 if inbox is None else 3]
                sql = f"EXECUTE {name}({', '.join(given)})"
                prepared: set[str] = conn.connection.info.setdefault("crm_prepared", set())
                if name not in prepared:
                    sql = f"PREPARE {name} AS {body}; {sql}"
                    prepared.add(name)
            else:
                sql = body
                for n, param in enumerate(_CONSUME_PARAMS, 1):
                    sql = sql.replace(f"${n}", param)
            result = conn.exec_driver_sql(sql, params).all()
        finally:
            dbapi.autocommit = False
    if inbox is None:
        return set(events), {record for kind, record in result if kind == "record"}
    return ({record for kind, record in result if kind == "event"},
            {record for kind, record in result if kind == "record"})


@lru_cache(maxsize=256)
def _consume_sql(inbox: str | None, table: str, columns: tuple[str, ...],
                 defaulted: tuple[str, ...]) -> tuple[str, str]:
    """The statement's name and text; its parameters are ``$1`` the rows (JSON), and with
    an inbox ``$2`` the consumer and ``$3`` the events (JSON). ``defaulted`` columns are
    written on insert only."""
    names = ", ".join(f'"{name}"' for name in (*columns, *defaulted))
    values = ", ".join(f'r."{name}"' for name in (*columns, *defaulted))
    updates = ", ".join(f'"{name}" = excluded."{name}"' for name in (*columns, "copied_at")
                        if name != "id")
    fresh = wanted = events = ""
    if inbox is not None:
        fresh = (f"fresh AS (INSERT INTO \"{inbox}\" (\"consumer\", \"event_id\", "
                 "\"event_type\", \"processed_at\") "
                 "SELECT $2::text, e ->> 'id', e ->> 'type', now() "
                 "FROM json_array_elements($3::json) AS e "
                 "ON CONFLICT DO NOTHING RETURNING \"event_id\"), ")
        wanted = "WHERE doc ->> '_event' IN (SELECT \"event_id\" FROM fresh) "
        events = "SELECT 'event', \"event_id\" FROM fresh UNION ALL "
    body = (f"WITH {fresh}written AS ("
            f'INSERT INTO "{table}" ({names}, "copied_at") SELECT {values}, now() '
            "FROM json_array_elements($1::json) AS doc, "
            f'json_populate_record(NULL::"{table}", doc) AS r {wanted}'
            f'ON CONFLICT ("id") DO UPDATE SET {updates} '
            f'WHERE "{table}"."{VERSION_COLUMN}" < excluded."{VERSION_COLUMN}" '
            f"RETURNING \"id\") {events}SELECT 'record', \"id\" FROM written")
    name = "crm_copy_" + hashlib.sha1(body.encode()).hexdigest()[:20]
    return name, body


_CONSUME_PARAMS = ("CAST(%(rows)s AS json)", "CAST(%(consumer)s AS text)",
                   "CAST(%(events)s AS json)")


def locked_values(s: Session, model: Any, record_ids: Iterable[str],
                  columns: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """The copy's ``columns`` of these records as they are now, by id, the rows locked
    (in id order) until the transaction ends, so what an upsert then changes is known;
    records the copy does not hold are left out."""
    wanted = sorted(set(record_ids))
    if not wanted:
        return {}
    table = _table(model)
    statement = (select(table.c.id, *(table.c[name] for name in columns))
                 .where(table.c.id.in_(wanted)).order_by(table.c.id))
    if is_postgres(s):
        statement = statement.with_for_update()
    return {row.id: {name: row._mapping[name] for name in columns}
            for row in s.execute(statement)}


def names(s: Session, model: Any, ids: Iterable[str | None], column: str = "name"
          ) -> dict[str, str]:
    """{id: name} of the copies of ``ids`` (Nones and unknown ids left out), for lists
    that show whose and which a record is."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    table = _table(model)
    return dict(s.execute(select(table.c.id, table.c[column]).where(
        table.c.id.in_(wanted))).tuples().all())


# ``fetch(record_id)``: the record's snapshot from the service that owns it (as the
# caller, with a timeout), None if it does not exist there or the caller may not see it
Fetch = Callable[[str], BaseModel | Mapping[str, Any] | None]


def copy_of(s: Session, model: Any, record_id: str | None, fetch: Fetch | None = None
            ) -> Any:
    """:func:`follow_merges`; and a record this service has not heard of (its creation
    event still on its way: a request right after the create) is asked of its owner
    with ``fetch`` and written with :func:`apply_snapshot`, so the copy's version rule
    holds when the event arrives. None if neither knows it."""
    found = follow_merges(s, model, record_id)
    if found is None and record_id and fetch is not None:
        snapshot = fetch(record_id)
        if snapshot is not None:
            apply_snapshot(s, model, snapshot)
            found = follow_merges(s, model, record_id)
    return found


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


def team_chain(s: Session, team_model: Any, team_id: str | None) -> list[Any]:
    """A team of the copy and the teams above it, nearest first."""
    chain: list[Any] = []
    seen: set[str] = set()
    while team_id and team_id not in seen and len(chain) < 20:
        seen.add(team_id)
        team = s.get(team_model, team_id)
        if team is None:
            break
        chain.append(team)
        team_id = team.parent_id
    return chain


def manager_of(s: Session, staff_model: Any, team_model: Any, user_id: str | None,
               team_id: str | None = None) -> str | None:
    """The manager of the user's team (or of ``team_id``); the next team up when the user
    manages their own team. None when no team above has a manager."""
    if team_id is None and user_id:
        staff = s.get(staff_model, user_id)
        team_id = staff.team_id if staff is not None else None
    for team in team_chain(s, team_model, team_id):
        if team.manager_id and team.manager_id != user_id:
            return str(team.manager_id)
    return None


def staff_with_role(s: Session, staff_model: Any, role: str, limit: int = 200) -> list[Any]:
    """The active staff of the copy who hold ``role`` (everyone an approval goes to).
    Roles are a JSON list: matched on its text, the same on every database."""
    return list(s.scalars(select(staff_model).where(
        staff_model.is_active.is_(True),
        cast(staff_model.roles, String).contains(f'"{role}"', autoescape=True))
        .order_by(staff_model.id).limit(limit)))
