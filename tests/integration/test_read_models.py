"""Local copies (``crm_platform.read_models``) on PostgreSQL and SQLite: snapshots applied
in any order and any number of times leave the newest; two writers racing on one row
leave the newest too."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from crm_platform.db import make_engine, messaging_tables, session_factory
from crm_platform.events import CloudEvent
from crm_platform.read_models import (
    CustomerCopy,
    StaffCopy,
    apply_snapshot,
    apply_snapshots,
    consume_snapshots,
    copied,
    copy_of,
    follow_merges,
    locked_values,
    snapshot_values,
    staff_with_role,
)
from sqlalchemy import JSON, Engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.customer.events import CustomerSnapshot
from tests.support.infra import Databases

pytestmark = pytest.mark.integration


class Base(DeclarativeBase):
    pass


class Customer(CustomerCopy, Base):
    # a column a service adds to its copy (the service desk's caller lookup keeps phones)
    phones: Mapped[list[str]] = mapped_column(JSON, default=list)


INBOX = messaging_tables(Base.metadata).inbox


class Staff(StaffCopy, Base):
    # a column of the service's own, never written from events
    assignments: Mapped[int] = mapped_column(default=0)


@pytest.fixture(params=["postgresql", "sqlite"], scope="module")
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Engine]:
    dbs = Databases("crm_read_models")
    try:
        if request.param == "postgresql":
            url = dbs.create("copies")
        else:
            url = f"sqlite:///{tmp_path_factory.mktemp('copies') / 'copies.db'}"
        engine = make_engine(url, pool_size=4)
        Base.metadata.create_all(engine)
        yield engine
        engine.dispose()
    finally:
        dbs.drop_all()


def _customer(cid: str, version: int, **fields: Any) -> CustomerSnapshot:
    values: dict[str, Any] = {"id": cid, "code": "C1", "name": f"客户 v{version}",
                              "kind": "company", "owner_id": f"rep-{version}",
                              "owner_team_id": None, "status": "active", "version": version}
    return CustomerSnapshot(**{**values, **fields})


def _apply(engine: Engine, model: Any, snapshot: Any, **overrides: Any) -> bool:
    with session_factory(engine)() as s:
        applied = apply_snapshot(s, model, snapshot, **overrides)
        s.commit()
        return applied


def _read(engine: Engine, cid: str) -> Customer:
    with session_factory(engine)() as s:
        row = s.get(Customer, cid)
        assert row is not None
        return row


def test_out_of_order_and_repeated_snapshots_leave_the_newest(engine: Engine) -> None:
    cid = f"c-order-{engine.dialect.name}"
    order = [3, 1, 3, 2, 5, 4, 1, 5]
    applied = [_apply(engine, Customer, _customer(cid, v)) for v in order]
    assert applied == [True, False, False, False, True, False, False, False]
    row = _read(engine, cid)
    assert (row.source_version, row.name, row.owner_id) == (5, "客户 v5", "rep-5")


def test_a_snapshot_writes_only_the_columns_it_names(engine: Engine) -> None:
    sid = f"s-{engine.dialect.name}"
    with session_factory(engine)() as s:
        s.add(Staff(id=sid, display_name="old", assignments=7, source_version=1))
        s.commit()
    snapshot = {"id": sid, "display_name": "张伟", "roles": ["sales_rep"], "team_id": "t1",
                "is_active": True, "username": "zhangwei", "version": 2}
    assert _apply(engine, Staff, snapshot)
    with session_factory(engine)() as s:
        staff = s.get(Staff, sid)
        assert staff is not None
        assert (staff.display_name, staff.roles, staff.assignments) == ("张伟", ["sales_rep"], 7)


def test_merges_are_followed_to_the_survivor(engine: Engine) -> None:
    a, b, c = (f"m{n}-{engine.dialect.name}" for n in "abc")
    for cid in (a, b, c):
        _apply(engine, Customer, _customer(cid, 1))
    _apply(engine, Customer, _customer(a, 2, status="merged"), merged_into_id=b)
    _apply(engine, Customer, _customer(b, 2, status="merged"), merged_into_id=c)
    with session_factory(engine)() as s:
        assert follow_merges(s, Customer, a).id == c
        assert follow_merges(s, Customer, "unknown") is None
        assert locked_values(s, Customer, [c, "unknown"], ("owner_id",)) == {
            c: {"owner_id": "rep-1"}}


def test_a_batch_out_of_order_with_duplicates_leaves_the_newest(engine: Engine) -> None:
    """A consumer's batch: several snapshots of one record, repeated, in any order, and
    records the copy holds newer already."""
    a, b, c = (f"batch-{n}-{engine.dialect.name}" for n in "abc")
    _apply(engine, Customer, _customer(c, 9))
    batch = [_customer(a, 2), _customer(b, 1), _customer(a, 4), _customer(c, 3),
             _customer(a, 3), _customer(b, 1), _customer(a, 4)]
    with session_factory(engine)() as s:
        assert apply_snapshots(s, Customer, batch) == {a, b}
        s.commit()
    with session_factory(engine)() as s:  # the same batch delivered again changes nothing
        assert apply_snapshots(s, Customer, batch) == set()
        s.commit()
    assert [_read(engine, cid).source_version for cid in (a, b, c)] == [4, 1, 9]
    assert _read(engine, a).owner_id == "rep-4"


def _events(snapshots: list[CustomerSnapshot]) -> list[CloudEvent]:
    return [CloudEvent.wrap("customer", snapshot) for snapshot in snapshots]


def test_a_consumed_batch_marks_each_event_once_and_writes_the_newest(engine: Engine
                                                                      ) -> None:
    """A copy handler's batch (one statement on PostgreSQL): the inbox marks and the rows
    commit together; a redelivered event is not fresh and writes nothing, whatever else
    its batch holds; JSON, dates and flags arrive typed."""
    a, b, c = (f"consumed-{n}-{engine.dialect.name}" for n in "abc")
    _apply(engine, Customer, _customer(c, 9))
    sessions = session_factory(engine)
    first = _events([_customer(a, 2, phones=["13800000001"]), _customer(b, 1),
                     _customer(a, 4, phones=["13800000004"]), _customer(c, 3)])
    batch = copied(Customer, [*first, first[0]], CustomerSnapshot)  # one delivered twice
    fresh, written = consume_snapshots(sessions, INBOX, "on_customer_created", Customer,
                                       batch.items)
    assert fresh == {e.id for e in first} and written == {a, b}
    row = _read(engine, a)
    assert (row.source_version, row.owner_id, row.phones) == (4, "rep-4", ["13800000004"])
    assert _read(engine, c).source_version == 9

    again = [*first[1:], *_events([_customer(b, 5, status="archived")])]
    fresh, written = consume_snapshots(sessions, INBOX, "on_customer_created", Customer,
                                       copied(Customer, again, CustomerSnapshot).items)
    assert fresh == {again[-1].id} and written == {b}
    assert (_read(engine, b).source_version, _read(engine, b).status) == (5, "archived")
    # another consumer of the same events has its own marks
    fresh, _ = consume_snapshots(sessions, INBOX, "on_customer_updated", Customer,
                                 copied(Customer, first, CustomerSnapshot).items)
    assert fresh == {e.id for e in first}
    with sessions() as s:
        marks = s.execute(select(INBOX.c.consumer).where(
            INBOX.c.event_id.in_([e.id for e in first]))).scalars().all()
    assert sorted(marks) == sorted(["on_customer_created", "on_customer_updated"] * 4)


def test_a_consumed_batch_gives_the_columns_it_does_not_name_their_defaults(
        engine: Engine) -> None:
    """A new row takes the Python-side defaults of the columns no snapshot names (a
    service's own bookkeeping, ``is_deleted``); an update leaves them as they are."""
    sid = f"s-consumed-{engine.dialect.name}"
    snapshot = {"id": sid, "display_name": "王芳", "roles": ["sales_rep"], "version": 1}
    items = [("e1-" + sid, "user.created", snapshot_values(Staff, snapshot))]
    consume_snapshots(session_factory(engine), INBOX, "on_user_created", Staff, items)
    with session_factory(engine)() as s:
        staff = s.get(Staff, sid)
        assert staff is not None and (staff.assignments, staff.is_active) == (0, True)
        staff.assignments = 3
        s.commit()
    items = [("e2-" + sid, "user.updated",
              snapshot_values(Staff, {**snapshot, "display_name": "王芳芳", "version": 2}))]
    consume_snapshots(session_factory(engine), INBOX, "on_user_updated", Staff, items)
    with session_factory(engine)() as s:
        staff = s.get(Staff, sid)
        assert staff is not None and (staff.display_name, staff.assignments) == ("王芳芳", 3)


def test_a_consumed_batch_without_prepared_statements(engine: Engine) -> None:
    """The same statement sent whole, for a deployment behind a pooler that keeps no
    prepared statements (``CRM_DB_PREPARED_STATEMENTS=false``)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs two statements either way")
    plain = make_engine(engine.url.render_as_string(hide_password=False), pool_size=1,
                        prepared_statements=False)
    try:
        cid = "consumed-unprepared"
        events = _events([_customer(cid, 2)])
        items = copied(Customer, events, CustomerSnapshot).items
        for expected in ((events[0].id,), ()):  # the second delivery is a duplicate
            fresh, _ = consume_snapshots(session_factory(plain), INBOX, "c", Customer, items)
            assert fresh == set(expected)
        assert _read(engine, cid).source_version == 2
    finally:
        plain.dispose()


def test_a_record_not_copied_yet_is_fetched_and_older_events_then_change_nothing(
        engine: Engine) -> None:
    cid, asked = f"fetched-{engine.dialect.name}", []

    def fetch(record_id: str) -> CustomerSnapshot | None:
        asked.append(record_id)
        return _customer(record_id, 3) if record_id == cid else None

    with session_factory(engine)() as s:
        assert copy_of(s, Customer, cid, fetch).source_version == 3
        assert copy_of(s, Customer, "unknown", fetch) is None
        s.commit()
    assert not _apply(engine, Customer, _customer(cid, 1))  # customer.created, late
    with session_factory(engine)() as s:
        assert copy_of(s, Customer, cid, fetch).owner_id == "rep-3"
    assert asked == [cid, "unknown"]  # a copy held is not asked for again


def test_two_writers_racing_on_one_row_leave_the_newest(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    rounds = 30
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def writer(versions: list[int], cid: str) -> None:
        try:
            for v in versions:
                barrier.wait(timeout=30)
                _apply(engine, Customer, _customer(cid, v))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    for n in range(rounds):
        cid = f"race-{n}"
        # each writer holds a different interleaving of the same ten versions
        evens, odds = list(range(10, 0, -2)), list(range(1, 11, 2))
        threads = [threading.Thread(target=writer, args=(evens, cid)),
                   threading.Thread(target=writer, args=(odds, cid))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors
    with session_factory(engine)() as s:
        versions = set(s.scalars(select(Customer.source_version)
                                 .where(Customer.id.like("race-%"))))
    assert versions == {10}


def test_staff_with_a_role_are_the_active_holders_of_exactly_that_role(engine: Engine
                                                                      ) -> None:
    tag = f"role-{engine.dialect.name}"
    with session_factory(engine)() as s:
        s.add_all([
            Staff(id=f"{tag}-a", display_name="档案甲", roles=["archivist"]),
            Staff(id=f"{tag}-b", display_name="档案乙", roles=["sales_rep", "archivist"]),
            Staff(id=f"{tag}-c", display_name="离职", roles=["archivist"], is_active=False),
            # a role whose name contains the wanted one is another role
            Staff(id=f"{tag}-d", display_name="相似", roles=["archivist_assistant"]),
            Staff(id=f"{tag}-e", display_name="销售", roles=["sales_rep"]),
        ])
        s.commit()
        found = [p.id for p in staff_with_role(s, Staff, "archivist")
                 if p.id.startswith(tag)]
    assert found == [f"{tag}-a", f"{tag}-b"]
