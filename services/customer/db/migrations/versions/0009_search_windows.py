"""customer search: the window arrays and their indexes, the newest-first indexes

Squashes the migrations 0003-0009 that built the search up (no release had shipped), and
keeps the id of the last of them: a database they migrated is at this revision already,
with this schema (tests/integration/test_migrations.py compares the two).

- ``ix_customers_created``: the default list order for callers who see everyone, and
  the walk that fills a page for a common search term; ``ix_customers_pool_created``:
  the public pool newest first (its list, and its part of a scoped caller's search).
- ``search_bigrams``, ``search_digit_grams``, ``search_letter_grams``: the windows of
  ``search_text`` (``domain.search.search_windows``: two-character windows of runs of
  non-ASCII characters, four-character windows of runs of digits and of letters, runs
  of three digits or letters whole), which the service writes with the text; a search
  term is looked up by its windows in their GIN indexes and tested on each candidate.
  The trigram index of 0001 goes: the arrays answer every term it answered. On SQLite
  the columns are JSON lists, unused (searches there are LIKE).

Customers stored before get their windows here, computed in SQL as the service
computes them; on a large table that rewrites it, holding writes to it meanwhile.

Revision ID: 0009
Revises: 0002
Create Date: 2026-12-04 10:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: Union[str, None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# the windows of ``size`` characters of each run between matches of ``gaps``, and each
# run of exactly ``whole`` characters (NULL: none), distinct, sorted by code point
WINDOWS_FUNCTION = r"""
    CREATE FUNCTION pg_temp.crm_windows(doc text, gaps text, size integer, whole integer)
    RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
      SELECT coalesce(array_agg(x ORDER BY x COLLATE "C"), '{}') FROM (
        SELECT substr(w, i, size) AS x
        FROM regexp_split_to_table(doc, gaps) AS w,
             generate_series(1, char_length(w) - size + 1) AS i
        UNION
        SELECT w FROM regexp_split_to_table(doc, gaps) AS w WHERE char_length(w) = whole
      ) AS windows
    $$"""
# column -> the arguments of crm_windows after the text, as SQL
WINDOWS = {"search_bigrams": r"'[\x01-\x7f]+', 2, NULL",
           "search_digit_grams": "'[^0-9]+', 4, 3",
           "search_letter_grams": "'[^a-z]+', 4, 3"}
_POOL = "owner_id IS NULL"


def upgrade() -> None:
    op.create_index("ix_customers_created", "customers", ["created_at", "id"])
    op.create_index("ix_customers_pool_created", "customers", ["created_at", "id"],
                    postgresql_where=sa.text(_POOL), sqlite_where=sa.text(_POOL))
    if op.get_bind().dialect.name != "postgresql":
        for column in WINDOWS:
            op.add_column("customers", sa.Column(column, sa.JSON(), nullable=False,
                                                 server_default="[]"))
        return
    op.execute("DROP INDEX IF EXISTS ix_customers_search_trgm")
    # a histogram of a thousand search texts: what the service estimates a term's share
    # of the customers from (``db.search``)
    op.execute("ALTER TABLE customers ALTER COLUMN search_text SET STATISTICS 1000")
    for column in WINDOWS:
        op.execute(f"ALTER TABLE customers ADD COLUMN {column} text[]")
    op.execute(WINDOWS_FUNCTION)
    op.execute("UPDATE customers SET " + ", ".join(
        f"{column} = pg_temp.crm_windows(search_text, {arguments})"
        for column, arguments in WINDOWS.items()))
    op.execute("DROP FUNCTION pg_temp.crm_windows(text, text, integer, integer)")
    for column in WINDOWS:
        op.execute(f"ALTER TABLE customers ALTER COLUMN {column} SET NOT NULL")
        op.execute(f"CREATE INDEX ix_customers_{column} ON customers USING gin ({column})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column in WINDOWS:
            op.execute(f"DROP INDEX ix_customers_{column}")
        op.execute("CREATE INDEX ix_customers_search_trgm ON customers "
                   "USING gin (search_text gin_trgm_ops)")
        op.execute("ALTER TABLE customers ALTER COLUMN search_text SET STATISTICS -1")
    for column in WINDOWS:
        op.drop_column("customers", column)
    op.drop_index("ix_customers_pool_created", table_name="customers")
    op.drop_index("ix_customers_created", table_name="customers")
