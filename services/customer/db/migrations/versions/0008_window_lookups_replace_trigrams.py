"""every search term is looked up in the window arrays; the trigram index is dropped

The trigram index on ``search_text`` took half of an import's index work in the database
(per 10,000 customers, 1.7-1.8 s of PostgreSQL's 3.5 s for the rows; 259 MB at a million
customers), while the window arrays already answered every term of digits or letters
and every two-character Chinese term. The terms it still answered are answered by the
arrays now (``domain.search.term_lookup``): a Chinese term of three or more characters
by its two-character windows, a term of three letters or digits (``zsm``, ``ibm``) by
the windows that hold it, and a mixed term (``zhangwei@163``) by the windows of its
runs. For the last case the arrays keep each run of exactly three letters or digits of
the search text whole (``search_windows``); the rows stored before get them here, which
rewrites the customers that have such a run (most: the ``com`` of an email) — 688,221 of
a million in 248 s on the benchmark machine, reads going on meanwhile and writes to those
customers waiting (a sample of 3,000 then had exactly the service's windows). A term with
no window at all (one Chinese character, ``hp``, ``li@qq``) is tested on the customers in
order, as before when the trigram index had nothing to look up.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 10:45:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0008'
down_revision: Union[str, None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# search_windows' windows of one kind of run (the runs between matches of ``gaps``):
# the four-character windows of longer runs and runs of three whole
_WINDOWS = r"""
    CREATE FUNCTION pg_temp.crm_windows(doc text, gaps text) RETURNS text[]
    LANGUAGE sql IMMUTABLE AS $$
      SELECT coalesce(array_agg(DISTINCT x ORDER BY x), '{}') FROM (
        SELECT substr(w, i, 4) AS x
        FROM regexp_split_to_table(doc, gaps) AS w,
             generate_series(1, char_length(w) - 3) AS i
        UNION ALL
        SELECT w FROM regexp_split_to_table(doc, gaps) AS w WHERE char_length(w) = 3
      ) AS windows
    $$"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite searches with LIKE: no index to drop, no arrays to look up
    op.execute("DROP INDEX IF EXISTS ix_customers_search_trgm")
    op.execute(_WINDOWS)
    op.execute(r"""
        UPDATE customers SET
          search_letter_grams = pg_temp.crm_windows(search_text, '[^a-z]+'),
          search_digit_grams = pg_temp.crm_windows(search_text, '[^0-9]+')
        WHERE search_text ~ '(^|[^a-z])[a-z]{3}([^a-z]|$)'
           OR search_text ~ '(^|[^0-9])[0-9]{3}([^0-9]|$)'""")
    op.execute("DROP FUNCTION pg_temp.crm_windows(text, text)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # the runs of three stay in the arrays: unused by the older lookups, and harmless
    op.execute("CREATE INDEX IF NOT EXISTS ix_customers_search_trgm ON customers "
               "USING gin (search_text gin_trgm_ops)")
