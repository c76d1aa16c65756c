"""``insert_rows`` stores on PostgreSQL exactly what SQLAlchemy's executemany stores (every
column, JSON text included), refuses a duplicate key as a whole, and the search windows
the service writes are those migration 0009 computes for customers stored before it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from crm_platform.bulk_insert import MIN_ROWS, insert_rows
from crm_platform.db import session_factory
from crm_platform.migrations import alembic_config
from sqlalchemy import Engine, Table, insert, select, text
from sqlalchemy.exc import IntegrityError

from services.customer.db.models import MESSAGING, Customer, CustomerHistory, CustomerKey
from services.customer.domain.search import search_windows
from services.customer.use_cases.bulk import _row_defaults
from tests.support.infra import migrated_engine

pytestmark = pytest.mark.integration

N = MIN_ROWS + 10  # enough rows for the bulk path


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    with migrated_engine("customer", "crm_bulk_insert") as engine:
        yield engine


def _customers(prefix: str, now: datetime | None = None) -> list[dict[str, Any]]:
    now = now or datetime.now(UTC)
    rows = []
    for i in range(N):
        rows.append({**_row_defaults(), "id": f"{prefix}-{i}", "code": f"{prefix}{i:07d}",
                     "name": f"杭州{i}号科技有限公司", "kind": "company",
                     "phones": [f"+86138{i:08d}"], "emails": [] if i % 2 else [f"a{i}@b.cn"],
                     "tags": ["重点", "展会"] if i % 3 == 0 else [],
                     "attributes": {"来源": "展会", "n": i, "ok": True, "x": None},
                     "registered_capital": Decimal("1234.50") if i % 4 == 0 else None,
                     "paid_revenue": Decimal("0"), "province": "浙江" if i % 2 else None,
                     "address": 'quote " backslash \\ tab \t newline \n end',
                     **search_windows(f"杭州{i}号科技 hangzhou{i} +86138{i:08d}"),
                     "search_text": f"杭州{i}号科技 hangzhou{i} +86138{i:08d}",
                     "created_at": now, "updated_at": now, "last_activity_at": now,
                     "last_visit_at": None, "version": 1, "owner_id": "u1"})
    return rows


def _stored(engine: Engine, table: Table, where: Any, order: Any,
            skip: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """Every column as PostgreSQL stores it (JSON as its text)."""
    columns = [c for c in table.columns if c.key not in skip]
    shown = ", ".join(f'"{c.name}"::text' for c in columns)
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            text(f'SELECT {shown} FROM "{table.name}" WHERE {where} ORDER BY {order}'))]


def test_bulk_rows_are_stored_as_executemany_stores_them(engine: Engine) -> None:
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    plain, bulk = _customers("P", now), _customers("B", now)
    history = [{"customer_id": r["id"], "actor_id": "u1", "kind": "created",
                "changes": {"owner_id": "u1", "名": "值"}, "reason": "import",
                "occurred_at": r["created_at"]} for r in plain]
    with sessions() as s, s.begin():
        s.execute(insert(Customer.__table__), plain)
        s.execute(insert(CustomerHistory.__table__), history)
        insert_rows(s, Customer.__table__, bulk)
        insert_rows(s, CustomerHistory.__table__,
                    [{**h, "customer_id": h["customer_id"].replace("P", "B", 1)}
                     for h in history])
    skip = ("id", "code")
    assert _stored(engine, Customer.__table__, "id LIKE 'P-%'", "created_at, name", skip) == \
        _stored(engine, Customer.__table__, "id LIKE 'B-%'", "created_at, name", skip)
    with engine.connect() as conn:  # the window arrays arrive as arrays
        windows = conn.execute(text(
            "SELECT count(*) FROM customers WHERE id LIKE 'B-%' AND search_bigrams @> "
            "ARRAY['杭州', '科技'] AND search_letter_grams @> ARRAY['hang', 'zhou'] "
            "AND search_digit_grams @> ARRAY['8613']")).scalar_one()
    assert windows == N
    skip = ("id", "customer_id")
    assert _stored(engine, CustomerHistory.__table__, "customer_id LIKE 'P-%'", "id", skip) \
        == _stored(engine, CustomerHistory.__table__, "customer_id LIKE 'B-%'", "id", skip)


def test_outbox_rows_in_bulk(engine: Engine) -> None:
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    rows = [{"id": str(uuid.uuid4()), "exchange": "customer.events",
             "routing_key": "customer.created", "body": '{"data": {"名": "\\"x\\""}}',
             "headers": '{"ce_id": "1"}', "created_at": now, "attempts": 0}
            for _ in range(N)]
    with sessions() as s, s.begin():
        insert_rows(s, MESSAGING.outbox, rows)
    with engine.connect() as conn:
        stored = {r.id: r for r in conn.execute(select(MESSAGING.outbox))}
    for row in rows:
        assert stored[row["id"]].body == row["body"]
        assert stored[row["id"]].created_at == now


def test_a_duplicate_key_refuses_the_whole_statement(engine: Engine) -> None:
    sessions = session_factory(engine)
    with sessions() as s, s.begin():
        insert_rows(s, Customer.__table__, _customers("K"))
    keys = [{"key": f"phone:+86139{i:08d}", "customer_id": f"K-{i}"} for i in range(N)]
    with sessions() as s, s.begin():
        s.execute(insert(CustomerKey.__table__), keys[:1])
    with pytest.raises(IntegrityError), sessions() as s, s.begin():
        insert_rows(s, CustomerKey.__table__, keys)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM customer_keys WHERE key LIKE "
                                 "'phone:+86139%'")).scalar_one() == 1


def test_a_naive_datetime_is_refused(engine: Engine) -> None:
    sessions = session_factory(engine)
    rows = _customers("N")
    rows[-1]["created_at"] = datetime.now()
    with pytest.raises(ValueError), sessions() as s, s.begin():
        insert_rows(s, Customer.__table__, rows)


def _windows_migration() -> Any:
    """The migration that computes the windows of the customers stored before it (0009),
    as Alembic loads it."""
    scripts = ScriptDirectory.from_config(alembic_config("customer", "sqlite://"))
    revision = scripts.get_revision("0009")
    assert revision is not None
    return revision.module


@pytest.mark.parametrize("doc", [
    "", "a", "中", "中文", "a中文b 中x文 国家abc人民 ", "中 文", "é中", "中\t文", "x  中国  ",
    "杭州云帆科技有限公司 hangzhouyunfan hzyf c20260000001 +8613800138000 a@b.cn",
    "ＡＢＣ科技（深圳）有限公司 张三木 zhangsanmu", "abcd 1234 12345 abc1234d x9y",
    "zsm 163 a@126.com abc12 ab1 x123y 12ab", "zsmq c20260000001", "123",
])
def test_search_windows_are_those_the_database_made(engine: Engine, doc: str) -> None:
    """The windows the service writes are those the SQL of migration 0009 makes for the
    customers stored before it, in the same order."""
    migration = _windows_migration()
    windows = search_windows(doc)
    with engine.connect() as conn:  # the function is the connection's own, rolled back
        conn.exec_driver_sql(migration.WINDOWS_FUNCTION)
        for column, arguments in migration.WINDOWS.items():
            made = conn.execute(text(f"SELECT pg_temp.crm_windows(:doc, {arguments})"),
                                {"doc": doc}).scalar_one()
            assert windows[column] == made, column
