"""Many rows into one table in one statement, for imports and large outbox batches.

:func:`insert_rows` writes exactly what ``session.execute(insert(table), rows)`` writes,
with the same values stored, but on PostgreSQL it sends the rows as one JSON document
that ``json_populate_recordset`` unpacks server-side: SQLAlchemy's executemany renders
and psycopg2 quotes every value of every row into multi-row ``VALUES`` lists, which was
most of a 10,000-row import's client CPU, and PostgreSQL parses those lists too. (COPY
would be cheaper still, but psycopg2 refuses COPY under eventlet's wait callback.)

Guarantees: all rows or none (one statement per chunk, inside the caller's
transaction); constraint violations raise ``IntegrityError`` as the executemany would;
JSON columns store the text SQLAlchemy's default serializer would have stored;
timezone-aware datetimes only, like :class:`crm_platform.db.UTCDateTime`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import JSON, Table, insert, text
from sqlalchemy.orm import Session

from crm_platform.db import is_postgres

# below this many rows the plain executemany is as cheap, and every small commit keeps
# using the statement SQLAlchemy has compiled and cached
MIN_ROWS = 50
# one statement carries at most this many rows (a few MB of JSON at 60 columns)
CHUNK_ROWS = 5_000


def insert_rows(s: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT ``rows`` (dicts with the same keys: column names) into ``table``."""
    if not rows:
        return
    columns = list(rows[0])
    json_columns = [name for name in columns if isinstance(table.c[name].type, JSON)]
    if (len(rows) < MIN_ROWS or not is_postgres(s)
            # SQLAlchemy stores None in a JSON column as JSON null, the document as SQL NULL
            or any(row[name] is None for row in rows for name in json_columns)):
        s.execute(insert(table), list(rows))
        return
    names = ", ".join(f'"{name}"' for name in columns)
    statement = text(
        f'INSERT INTO "{table.name}" ({names}) SELECT {names} '
        f'FROM json_populate_recordset(NULL::"{table.name}", :rows)'
    )
    for start in range(0, len(rows), CHUNK_ROWS):
        # a JSON column's value is a nested value of the document, whose text PostgreSQL
        # stores as it stands: written as the engine's JSON serializer writes it (orjson,
        # ``crm_platform.db.json_text``), the very text SQLAlchemy's JSON type stores
        try:
            document = orjson.dumps(rows[start:start + CHUNK_ROWS], default=_plain,
                                    option=_OPTIONS).decode()
        except orjson.JSONEncodeError as exc:  # _plain's refusal, as it raised it
            if isinstance(exc.__cause__, ValueError):
                raise exc.__cause__ from None
            raise
        s.execute(statement, {"rows": document})


# datetimes come to _plain, which refuses naive ones; dict keys as wire writes them
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


def _plain(value: Any) -> Any:
    """Values JSON has no type for, as PostgreSQL reads them from text."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot insert {type(value).__name__} in bulk")
