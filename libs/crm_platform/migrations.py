"""Alembic per service: each service keeps its migrations in ``<package>/db/migrations``.

``upgrade(component)`` brings one database to head; on PostgreSQL it holds an advisory
lock while doing so, so replicas starting together do not race.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, MetaData, text

from crm_platform.db import make_engine
from crm_platform.settings import REPO_ROOT, get_settings

COMPONENTS = ("gateway", "customer", "sales", "billing", "service_desk", "docs", "notify")


def migrations_dir(component: str) -> Path:
    if component == "gateway":
        return REPO_ROOT / "gateway" / "db" / "migrations"
    return REPO_ROOT / "services" / component / "db" / "migrations"


def installed_components() -> list[str]:
    return [c for c in COMPONENTS if (migrations_dir(c) / "env.py").exists()]


def alembic_config(component: str, url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir(component)))
    cfg.set_main_option("sqlalchemy.url", url or get_settings().database_url(component))
    cfg.attributes["component"] = component
    return cfg


def upgrade(component: str, url: str | None = None, revision: str = "head") -> None:
    cfg = alembic_config(component, url)
    engine = make_engine(cfg.get_main_option("sqlalchemy.url") or "")
    try:
        if engine.dialect.name == "postgresql":
            key = zlib.crc32(f"crm-migrate-{component}".encode())
            with engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
                try:
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, revision)
                    conn.commit()
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
        else:
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
    finally:
        engine.dispose()


def run_env(metadata: MetaData) -> None:
    """Body of every service's ``env.py``: online migrations on the given connection."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        url = context.config.get_main_option("sqlalchemy.url") or ""
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                _configure_and_run(conn, metadata)
                conn.commit()
        finally:
            engine.dispose()
        return
    _configure_and_run(connection, metadata)


def _configure_and_run(connection: Connection, metadata: MetaData) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite needs batch mode for ALTER
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    import sys

    targets = sys.argv[1:] or installed_components()
    for component in targets:
        upgrade(component)
        print(f"migrated {component}")


if __name__ == "__main__":
    main()
