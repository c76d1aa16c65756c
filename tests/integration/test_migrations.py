"""Each component's Alembic migrations build exactly the schema its models describe, on
PostgreSQL and on the SQLite laptop default: a model change without its migration fails
here, not in production."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from crm_platform.db import make_engine
from crm_platform.migrations import installed_components, upgrade
from sqlalchemy import MetaData

from tests.support.infra import Databases

MODELS = {"gateway": "gateway.db.models"}
# PostgreSQL-only search indexes that migrations add by hand and models leave out (GIN
# indexes of the window arrays)
POSTGRES_ONLY = {"ix_customers_search_bigrams",
                 "ix_customers_search_digit_grams", "ix_customers_search_letter_grams"}


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


def test_customers_stored_before_0008_get_the_windows_the_service_writes(
        databases: Databases) -> None:
    """0008 drops the trigram index and keeps runs of three letters or digits whole in
    the window arrays: a customer stored before has the windows the service writes now,
    and searching it by three letters finds it."""
    from sqlalchemy import insert, text

    from services.customer.db.models import Customer
    from services.customer.domain.search import search_windows

    url = databases.create("customer_0008")
    upgrade("customer", url, revision="0007")
    docs = {"c-1": "张三木 zhangsanmu zsm c20260000001 +8613800138000 zsm3@163.com",
            "c-2": "杭州云帆科技有限公司 hangzhouyunfan hzyf 91330100x",
            "c-3": "ab 12 x"}
    engine = make_engine(url)
    try:
        with engine.begin() as conn:  # as the service wrote them before 0008
            conn.execute(insert(Customer.__table__), [dict(
                id=cid, code=cid, name=cid, kind="company", search_text=doc,
                **{column: [w for w in windows if len(w) != 3 or column == "search_bigrams"]
                   for column, windows in search_windows(doc).items()})
                for cid, doc in docs.items()])
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
