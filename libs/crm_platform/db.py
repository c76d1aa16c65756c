"""Database engines and the two messaging tables every service owns.

- ``make_engine`` gives a SQLAlchemy 2 engine for PostgreSQL (psycopg2) or SQLite. Under
  eventlet, call :func:`make_psycopg_green` first (the service runner does) so a slow
  query yields to other green threads instead of blocking the whole process.
- ``messaging_tables`` adds ``outbox`` (events committed with the state change, not yet
  published) and ``inbox`` (event ids a consumer has applied) to a service's metadata,
  so its Alembic migrations create them beside its own tables.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    event,
    func,
    text,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL, Connection, CursorResult, make_url
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.types import TypeDecorator

from crm_platform import wire

_green_patched = False


def json_text(value: Any) -> str:
    """A JSON column's stored text: ``wire``'s JSON (compact, UTF-8)."""
    return wire.dumps(value).decode()


def make_psycopg_green() -> None:
    """Make psycopg2 cooperate with eventlet (idempotent)."""
    global _green_patched
    if _green_patched:
        return
    from psycogreen.eventlet import patch_psycopg

    patch_psycopg()
    _green_patched = True


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes on every backend (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        if dialect.name == "postgresql":
            # sessions run in UTC (``make_engine``): psycopg2 already gives aware datetimes
            # in UTC, and converting each again was a tenth of reading a 50-row page
            return None
        return super().result_processor(dialect, coltype)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str | URL, *, pool_size: int = 10, max_overflow: int = 5,
                echo: bool = False, prepared_statements: bool = True) -> Engine:
    """``pool_size`` should cover the process's concurrency (nameko workers + relay):
    the ``max_overflow`` connections beyond it are opened and closed per use, which is
    slow."""
    parsed = make_url(url)
    # JSON columns are written and parsed by orjson (several times faster than the
    # standard library's): stored compact and in UTF-8, the text that ``wire`` writes, as
    # ``bulk_insert`` writes it, so both write paths store the same text
    options: dict[str, Any] = {"json_deserializer": orjson.loads,
                               "json_serializer": json_text}
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            parsed, echo=echo, connect_args={"check_same_thread": False, "timeout": 10},
            **options,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        parsed,
        echo=echo,
        **options,
        # timestamps are read in UTC (``UTCDateTime`` relies on it)
        connect_args={"options": "-c timezone=UTC"},
        execution_options={"crm_prepare": prepared_statements},
        pool_size=pool_size,
        max_overflow=max_overflow,
        # no pre-ping: it costs a round trip per checkout; a connection broken by a
        # database restart fails one use, is invalidated with the pool, and the next
        # use reconnects
        pool_pre_ping=False,
        pool_recycle=1800,
    )


@dataclass(frozen=True)
class _Prepared:
    name: str
    prepare: str  # PREPARE name AS … with $n placeholders
    execute: Any  # EXECUTE name(:a, :b, …) as a typed text statement
    defaults: dict[str, Any]  # the statement's own literal values (status = 'active', …)


_PREPARED: dict[int, tuple[Any, _Prepared]] = {}  # id(statement) -> (statement, prepared)
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def execute_prepared(connection: Connection, statement: Select[Any],
                     params: dict[str, Any]) -> CursorResult[Any]:
    """Run a SELECT kept for reuse as a PostgreSQL prepared statement, planned once per
    connection: for statements whose best plan does not depend on their values (a key
    lookup, a walk of an index in order, a bitmap lookup whose result is sorted after),
    planning was the largest part of the database's time per search (0.2–0.5 ms of
    ~0.6). They run on their generic plan: a connection that prepares one is set to
    ``plan_cache_mode = force_generic_plan`` (under the default, PostgreSQL re-plans
    per call while a generic plan's estimate, made without the values, looks costlier
    than the custom ones), which only prepared statements heed; connections of services
    that prepare nothing keep PostgreSQL's defaults. So a statement whose plan would
    depend on its values must not come here. ``statement`` must be kept (it is known by
    identity) and must not use expanding parameters (``= ANY(array)`` instead of
    ``IN``). Run as a plain statement when the engine was made with
    ``prepared_statements=False``."""
    if not connection.get_execution_options().get("crm_prepare"):
        return connection.execute(statement, params)
    known = _PREPARED.get(id(statement))
    if known is None or known[0] is not statement:
        if len(_PREPARED) > 1000:  # statements are kept per shape; shapes are few
            _PREPARED.clear()
        known = _PREPARED[id(statement)] = (statement, _prepare(connection, statement))
    prepared = known[1]
    info = connection.connection.info
    names: set[str] = info.setdefault("crm_prepared", set())
    setup: list[str] = []
    if not info.get("crm_generic_plans"):
        setup.append("SET plan_cache_mode = force_generic_plan")
        # for good only outside a transaction (a rollback would undo it): else again
        # next time
        info["crm_generic_plans"] = bool(getattr(connection.connection.dbapi_connection,
                                                 "autocommit", False))
    if prepared.name not in names:
        setup.append(prepared.prepare)
        names.add(prepared.name)
    if setup:  # one round trip
        connection.exec_driver_sql("; ".join(setup))
    return connection.execute(prepared.execute, {**prepared.defaults, **params})


def _prepare(connection: Connection, statement: Select[Any]) -> _Prepared:
    compiled = statement.compile(dialect=connection.dialect)
    sql = compiled.string
    if "POSTCOMPILE" in sql:
        raise ValueError("a prepared statement cannot take expanding parameters")
    order: list[str] = []
    for name in _PLACEHOLDER.findall(sql):
        if name not in order:
            order.append(name)
    positional = _PLACEHOLDER.sub(lambda m: f"${order.index(m.group(1)) + 1}", sql)
    positional = positional.replace("%%", "%")
    name = "crm_" + hashlib.sha1(positional.encode()).hexdigest()[:20]
    binds = {key: bind for bind, key in compiled.bind_names.items()}
    execute = text(f"EXECUTE {name}(" + ", ".join(f":{n}" for n in order) + ")").bindparams(
        *[bindparam(n, type_=binds[n].type) for n in order]
    ).columns(*statement.selected_columns)
    defaults = {n: binds[n].value for n in order
                if binds[n].value is not None and not binds[n].required}
    return _Prepared(name, f"PREPARE {name} AS {positional}", execute, defaults)


def is_postgres(bind: Engine | Session) -> bool:
    engine = bind.get_bind() if isinstance(bind, Session) else bind
    return engine.dialect.name == "postgresql"


def insert_ignore(s: Session, table: Table, values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING (PostgreSQL and SQLite); True if the row was
    inserted. How event consumers create a row another consumer may be creating at the
    same moment (local copies fed by several queues) without a unique-violation retry."""
    result = s.execute(*insert_many(table, [values], "ON CONFLICT DO NOTHING"))
    return bool(getattr(result, "rowcount", 0) == 1)


def insert_new(s: Session, obj: Any) -> None:
    """INSERT a new ORM object's row as a Core statement (compiled once per set of columns
    given), the columns it leaves out set to their Python-side defaults on the object too,
    as a flush would; the object stays out of the session. A flush's unit of work for one
    wide row cost a create more than the statement itself."""
    table = obj.__table__
    values = {c.key: obj.__dict__[c.key] for c in table.columns if c.key in obj.__dict__}
    for name, default in column_defaults(table, frozenset(values)).items():
        values[name] = default()
        setattr(obj, name, values[name])
    s.execute(table.insert(), [values])


def insert_many(table: Table, rows: list[dict[str, Any]], tail: str = ""
                ) -> tuple[TextClause, dict[str, Any]]:
    """``INSERT INTO table (…) VALUES (…), (…) <tail>`` for ``rows`` (dicts with the same
    keys, column names) as a statement and its parameters for ``session.execute``; the
    SQL, ``ON CONFLICT`` and ``RETURNING`` included, reads the same on PostgreSQL and
    SQLite. SQLAlchemy compiles a dialect's ``INSERT … ON CONFLICT`` anew on every
    execution (it is not cacheable), which was most of an event consumer's statement
    CPU; this text, with typed parameters, is built once per shape and its compiled
    form cached. Columns the rows leave out get their Python-side defaults, as
    SQLAlchemy's INSERT gives them."""
    defaults = column_defaults(table, frozenset(rows[0]))
    if defaults:
        rows = [{**{name: value() for name, value in defaults.items()}, **row} for row in rows]
    columns = tuple(rows[0])
    params = {f"{name}_{i}": row[name] for i, row in enumerate(rows) for name in columns}
    return _insert_text(table, columns, len(rows), tail), params


@lru_cache(maxsize=1024)
def column_defaults(table: Table, given: frozenset[str]) -> dict[str, Any]:
    """Column name -> a function of no arguments giving its default, for the columns with
    a Python-side default that ``given`` leaves out."""
    out: dict[str, Any] = {}
    for column in table.columns:
        default = column.default
        if column.name in given or default is None or not hasattr(default, "arg"):
            continue
        if getattr(default, "is_callable", False):  # SQLAlchemy's wrapper takes a context
            out[column.name] = functools.partial(default.arg, None)
        elif getattr(default, "is_scalar", False):
            out[column.name] = functools.partial(lambda value: value, default.arg)
    return out


@lru_cache(maxsize=4096)
def _insert_text(table: Table, columns: tuple[str, ...], rows: int, tail: str) -> TextClause:
    names = ", ".join(f'"{name}"' for name in columns)
    values = ", ".join("(" + ", ".join(f":{name}_{i}" for name in columns) + ")"
                       for i in range(rows))
    return text(f'INSERT INTO "{table.name}" ({names}) VALUES {values} {tail}').bindparams(
        *(bindparam(f"{name}_{i}", type_=table.c[name].type)
          for i in range(rows) for name in columns))


def any_of(s: Session, column: Any, values: list[Any]) -> Any:
    """``column IN values``; on PostgreSQL as ``= ANY(array)`` with one parameter:
    planning an IN list of thousands of literals cost more than the lookups."""
    if is_postgres(s):
        return column == func.any(bindparam(None, values, type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


def skip_locked(s: Session, query: Select[Any]) -> Select[Any]:
    """Claim rows for a timer run: replicas running together take different rows."""
    if is_postgres(s):
        return query.with_for_update(skip_locked=True)
    return query  # SQLite: one writer at a time anyway


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


def read_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for reads, in autocommit on PostgreSQL: no BEGIN / ROLLBACK round trips
    around one SELECT, on the same pool as the writes.

    Autocommit is psycopg2's client-side flag, switched on when the session takes its
    connection and off when the pool takes it back. SQLAlchemy's own
    ``isolation_level="AUTOCOMMIT"`` option resets the isolation level on the way back,
    and psycopg2 then sends ``SET default_transaction_isolation`` on the next switch —
    a blocking round trip that stalls every green thread of the process, once per
    read (7% of the customer service's time serving 50-row pages)."""
    factory = session_factory(engine)
    if engine.dialect.name != "postgresql":
        return factory  # pysqlite begins a transaction only for writes anyway
    if not event.contains(engine.pool, "checkin", _end_autocommit):
        event.listen(engine.pool, "checkin", _end_autocommit)
    event.listen(factory, "after_begin", _begin_autocommit)
    return factory


def _begin_autocommit(_session: Session, _transaction: Any, connection: Any) -> None:
    # before the first statement: psycopg2 would send BEGIN with it
    connection.connection.dbapi_connection.autocommit = True


def _end_autocommit(dbapi_connection: Any, _record: Any) -> None:
    if dbapi_connection is not None and dbapi_connection.autocommit:
        dbapi_connection.autocommit = False  # client-side only: nothing is sent


@dataclass(frozen=True)
class MessagingTables:
    outbox: Table
    inbox: Table
    answers: Table | None = None


def messaging_tables(metadata: MetaData, *, answers: bool = True) -> MessagingTables:
    """Define (once) the outbox and inbox tables on ``metadata``; with ``answers`` (every
    service; not the gateway) also the answers of RPCs made under an Idempotency-Key."""
    if "outbox" in metadata.tables:
        return MessagingTables(metadata.tables["outbox"], metadata.tables["inbox"],
                               metadata.tables.get("rpc_answers"))
    outbox = Table(
        "outbox",
        metadata,
        Column("id", String(36), primary_key=True),  # the CloudEvent id
        Column("exchange", String(200), nullable=False),
        Column("routing_key", String(200), nullable=False),
        Column("body", Text, nullable=False),
        Column("headers", Text, nullable=False, default="{}"),
        Column("created_at", UTCDateTime, nullable=False, index=True),
        Column("attempts", Integer, nullable=False, default=0),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("consumer", String(200), primary_key=True),
        Column("event_id", String(64), primary_key=True),
        Column("event_type", String(200), nullable=False),
        Column("processed_at", UTCDateTime, nullable=False),
    )
    if not answers:
        return MessagingTables(outbox, inbox)
    # claimed in the transaction of the call's first commit, so a call repeated under the
    # same key finds it whether or not the first answer ever reached the caller
    answer_table = Table(
        "rpc_answers",
        metadata,
        Column("key", String(64), primary_key=True),  # the gateway's hash of caller and key
        Column("method", String(200), nullable=False),
        Column("answer", Text, nullable=True),  # the result's JSON; None until it is known
        Column("created_at", UTCDateTime, nullable=False, index=True),
    )
    return MessagingTables(outbox, inbox, answer_table)


# -- tables every service has: settings and number sequences --------------------------------
class SettingsTable:
    """Mixin: a service's tunable rules as named JSON documents (``class Setting(
    SettingsTable, Base)``), read with :func:`read_setting`, written with
    :func:`write_setting`."""

    __tablename__ = "settings"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)


class SequenceTable:
    """Mixin: gap-free counters by name (document numbers, customer codes); the subclass
    names its table. Use :func:`next_in_sequence`."""

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    next_value: Mapped[int] = mapped_column(Integer, nullable=False)


def read_setting(s: Session, model: Any, name: str, default: dict[str, Any]
                 ) -> dict[str, Any]:
    """The stored document over ``default`` (keys added to a default later show up)."""
    row = s.get(model, name)
    return {**default, **(row.value if row else {})}


def locked_setting(s: Session, model: Any, name: str) -> Any:
    """The setting row, created empty if missing (of writers racing to create it, one
    insert wins), locked until the transaction ends."""
    row = s.get(model, name, with_for_update=True, populate_existing=True)
    if row is None:
        insert_ignore(s, model.__table__, {"name": name, "value": {}, "version": 0})
        row = s.get(model, name, with_for_update=True, populate_existing=True)
    return row


def write_setting(s: Session, model: Any, name: str, value: dict[str, Any]) -> None:
    row = locked_setting(s, model, name)
    row.value = value
    row.version += 1


def next_in_sequence(s: Session, model: Any, name: str, start: int = 1, *,
                     count: int = 1) -> int:
    """The next number of ``name`` (with ``count`` > 1: the first of that many
    consecutive numbers, reserved in one statement, for bulk work). The counter row stays
    locked until the caller's transaction ends: concurrent writers wait, and a rollback
    (or a crash) gives the numbers back, so the series has no gaps and no duplicates. One
    ``UPDATE … RETURNING`` in the common case; take numbers as late in the transaction
    as possible, since everyone numbering in the series waits for you."""
    table = model.__table__
    bump = (update(table).where(table.c.name == name)
            .values(next_value=table.c.next_value + count).returning(table.c.next_value))
    value = s.execute(bump).scalar()
    if value is None:  # the first number of the series: one insert wins, then bump
        insert_ignore(s, table, {"name": name, "next_value": start})
        value = s.execute(bump).scalar_one()
    return int(value) - count


class SqlSettings:
    """A service's settings table as the ``settings`` repository of its use cases."""

    def __init__(self, s: Session, model: Any) -> None:
        self.s, self.model = s, model

    def read(self, name: str, default: dict[str, Any]) -> dict[str, Any]:
        return read_setting(self.s, self.model, name, default)


class SqlSequences:
    """A service's number-sequence table as the ``sequences`` repository of its use
    cases."""

    def __init__(self, s: Session, model: Any) -> None:
        self.s, self.model = s, model

    def next(self, name: str) -> int:
        return next_in_sequence(self.s, self.model, name)
