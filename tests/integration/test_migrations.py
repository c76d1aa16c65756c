"""Each component's Alembic migrations build exactly the schema its models describe, on
PostgreSQL and on the SQLite laptop default: a model change without its migration fails
here, not in production."""

from __future__ import annotations

import importlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from crm_platform.db import make_engine
from crm_platform.migrations import installed_components, upgrade
from sqlalchemy import MetaData, inspect, text

from tests.support.infra import Databases

MODELS = {"gateway": "gateway.db.models"}
# PostgreSQL-only search indexes that migrations add by hand and models leave out (GIN
# indexes of the window arrays)
POSTGRES_ONLY = {"ix_customers_search_bigrams",
                 "ix_customers_search_digit_grams", "ix_customers_search_letter_grams",
                 # the service desk's caller lookup (GIN on the copies' phones)
                 "ix_customers_phones_gin", "ix_contacts_phones_gin"}


def _include(obj: object, name: str | None, kind: str, reflected: bool, other: object
             ) -> bool:
    return not (kind in ("index", "column") and name in POSTGRES_ONLY)


def _metadata(component: str) -> MetaData:
    module = importlib.import_module(MODELS.get(component, f"services.{component}.db.models"))
    return module.Base.metadata  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def databases() -> Iterator[Databases]:
    dbs = Databases("crm_migrations")
    try:
        yield dbs
    finally:
        dbs.drop_all()


@pytest.mark.parametrize("component", installed_components())
@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_migrations_match_models(component: str, backend: str, databases: Databases,
                                 tmp_path: Path) -> None:
    url = databases.create(component) if backend == "postgresql" \
        else f"sqlite:///{tmp_path / f'{component}.db'}"
    upgrade(component, url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                             "include_object": _include})
            diff = compare_metadata(context, _metadata(component))
    finally:
        engine.dispose()
    assert diff == [], f"{component} models and migrations differ on {backend}: {diff}"


def test_customers_stored_before_0009_get_the_windows_the_service_writes(
        databases: Databases) -> None:
    """0009 adds the window arrays and drops the trigram index: a customer stored before
    has the windows the service writes now."""
    from services.customer.domain.search import search_windows

    url = databases.create("customer_0009")
    upgrade("customer", url, revision="0002")
    docs = {"c-1": "张三木 zhangsanmu zsm c20260000001 +8613800138000 zsm3@163.com",
            "c-2": "杭州云帆科技有限公司 hangzhouyunfan hzyf 91330100x",
            "c-3": "ab 12 x"}
    engine = make_engine(url)
    try:
        with engine.begin() as conn:  # as the service wrote them before 0009
            for cid, doc in docs.items():
                conn.execute(text(
                    "INSERT INTO customers (id, code, name, kind, phones, emails, "
                    "category_ids, tags, attributes, status, lifecycle, stage, volume_class, "
                    "paid_revenue, paid_orders, last_activity_at, search_text, version, "
                    "created_at, updated_at) VALUES (:id, :id, :id, 'company', '[]', '[]', "
                    "'[]', '[]', '{}', 'active', 'new', 'prospect', 'occasional', 0, 0, "
                    "now(), :doc, 1, now(), now())"), {"id": cid, "doc": doc})
        upgrade("customer", url)
        with engine.connect() as conn:
            stored = {row.id: row for row in conn.execute(text(
                "SELECT id, search_bigrams, search_digit_grams, search_letter_grams "
                "FROM customers"))}
            indexes = set(conn.execute(text(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'customers'")).scalars())
    finally:
        engine.dispose()
    for cid, doc in docs.items():
        windows = search_windows(doc)
        assert stored[cid].search_bigrams == windows["search_bigrams"]
        assert stored[cid].search_digit_grams == windows["search_digit_grams"]
        assert stored[cid].search_letter_grams == windows["search_letter_grams"]
    assert "zsm" in stored["c-1"].search_letter_grams and "163" in stored["c-1"].search_digit_grams
    assert "ix_customers_search_trgm" not in indexes


# the customer database as the migrations 0003-0009 that 0009 squashed left it
SQUASHED_CHAIN = Path(__file__).parent / "customer_schema_0009"


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_a_customer_database_of_the_squashed_migrations_ends_at_the_fresh_schema(
        backend: str, databases: Databases, tmp_path: Path) -> None:
    """A database the migrations 0003-0009 built before they were squashed upgrades to
    head, and then has exactly the schema of a database built fresh."""
    if backend == "postgresql":
        fresh, old = databases.create("customer_fresh"), databases.create("customer_old")
        conn = psycopg2.connect(old)
        try:
            with conn, conn.cursor() as cur:
                cur.execute((SQUASHED_CHAIN / "postgresql.sql").read_text())
        finally:
            conn.close()
    else:
        fresh, old = (f"sqlite:///{tmp_path / name}.db" for name in ("fresh", "old"))
        with sqlite3.connect(tmp_path / "old.db") as db:
            db.executescript((SQUASHED_CHAIN / "sqlite.sql").read_text())
    upgrade("customer", fresh)
    before = _schema(old)
    assert before["version"] == ["0009"] and before["tables"]["customers"]["columns"]
    upgrade("customer", old)
    assert _schema(old) == _schema(fresh)


def _schema(url: str) -> dict[str, Any]:
    """A database's schema: its tables with their columns, keys, constraints and
    indexes; on PostgreSQL also the definitions of its indexes and constraints, its
    functions, extensions and statistics targets; and its Alembic revision."""
    engine = make_engine(url)
    try:
        inspector = inspect(engine)
        tables = {table: {
            "columns": [(c["name"], str(c["type"]), c["nullable"], c.get("default"),
                         c.get("computed")) for c in inspector.get_columns(table)],
            "primary key": inspector.get_pk_constraint(table)["constrained_columns"],
            "foreign keys": sorted((fk["name"] or "", fk["constrained_columns"],
                                    fk["referred_table"], fk["referred_columns"])
                                   for fk in inspector.get_foreign_keys(table)),
            "unique": sorted(tuple(u["column_names"])
                             for u in inspector.get_unique_constraints(table)),
            "indexes": sorted((i["name"] or "", tuple(i["column_names"]), i["unique"],
                               sorted((k, str(v)) for k, v in
                                      i.get("dialect_options", {}).items()))
                              for i in inspector.get_indexes(table)),
        } for table in inspector.get_table_names()}
        with engine.connect() as conn:
            schema: dict[str, Any] = {"tables": tables, "version": list(conn.execute(text(
                "SELECT version_num FROM alembic_version")).scalars())}
            if engine.dialect.name == "postgresql":
                for name, sql in _CATALOG.items():
                    schema[name] = [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()
    return schema


_CATALOG = {
    "index definitions": "SELECT indexname, indexdef FROM pg_indexes "
                         "WHERE schemaname = 'public' ORDER BY 1",
    "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
                   "FROM pg_constraint WHERE connamespace = 'public'::regnamespace "
                   "ORDER BY 1, 2",
    # functions of the schema's own (not an extension's)
    "functions": "SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p "
                 "WHERE p.pronamespace = 'public'::regnamespace AND NOT EXISTS ("
                 "SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') "
                 "ORDER BY 1, 2",
    "extensions": "SELECT extname FROM pg_extension ORDER BY 1",
    "statistics targets": "SELECT a.attrelid::regclass::text, a.attname, a.attstattarget "
                          "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                          "WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 "
                          "AND a.attstattarget <> -1 ORDER BY 1, 2",
}
