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
