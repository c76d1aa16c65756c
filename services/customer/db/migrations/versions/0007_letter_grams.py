"""letter 4-grams for pinyin and Latin names; the service writes all search windows

A full-pinyin term such as ``haitong`` (700 of a million customers) was looked up in the
trigram index through ``hai`` and ``ton``, each in 4-5% of customers: intersecting their
posting lists took ~1.3 ms of the search's ~3 ms in the database. ``search_letter_grams``
keeps every four-letter window of every run of Latin letters in ``search_text`` (full
pinyin, initials, Latin names, the words of emails); two windows of a term (``hait`` and
``aito``: 0.1-0.2% each) find about as many candidates as the term has matches, and the
term is tested on each after.

The window columns stop being generated: the service computes all three with the search
text (``domain.search.search_windows``) and writes them together. The SQL functions of
the generated columns cost PostgreSQL 10-21 µs per inserted row each; a third one would
have taken a 100,000-row import past its target. Existing rows keep their bigrams and
digit windows and get their letter windows here: that rewrites ``customers`` (about two
minutes at a million customers on the benchmark machine, the customer service waiting).
On SQLite the columns exist as JSON lists, unused (searches there are plain LIKE).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 23:30:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: Union[str, None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# the same windows as search_windows makes, for the rows already stored
_LETTER_GRAMS = r"""
    CREATE FUNCTION pg_temp.crm_letter_grams(doc text) RETURNS text[]
    LANGUAGE sql IMMUTABLE AS $$
      SELECT coalesce(array_agg(DISTINCT substr(w, i, 4)), '{}')
      FROM regexp_split_to_table(doc, '[^a-z]+') AS w,
           generate_series(1, char_length(w) - 3) AS i
    $$"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for column in ("search_bigrams", "search_digit_grams", "search_letter_grams"):
            op.add_column("customers", sa.Column(column, sa.JSON(), nullable=False,
                                                 server_default="[]"))
        return
    op.execute("ALTER TABLE customers ALTER COLUMN search_bigrams DROP EXPRESSION")
    op.execute("ALTER TABLE customers ALTER COLUMN search_digit_grams DROP EXPRESSION")
    op.execute(_LETTER_GRAMS)
    op.execute("ALTER TABLE customers ADD COLUMN search_letter_grams text[]")
    op.execute("UPDATE customers SET search_letter_grams = "
               "pg_temp.crm_letter_grams(search_text)")
    op.execute("DROP FUNCTION pg_temp.crm_letter_grams(text)")
    for column in ("search_bigrams", "search_digit_grams", "search_letter_grams"):
        op.execute(f"ALTER TABLE customers ALTER COLUMN {column} SET NOT NULL")
    op.execute("CREATE INDEX ix_customers_search_letter_grams ON customers "
               "USING gin (search_letter_grams)")
    op.execute("DROP FUNCTION crm_cjk_bigrams(text)")
    op.execute("DROP FUNCTION crm_digit_grams(text)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for column in ("search_letter_grams", "search_digit_grams", "search_bigrams"):
            op.drop_column("customers", column)
        return
    op.execute("DROP INDEX IF EXISTS ix_customers_search_letter_grams")
    op.execute("ALTER TABLE customers DROP COLUMN search_letter_grams")
    # generated again, as 0004 and 0006 left them (recomputed: rewrites the table)
    op.execute(r"""
        CREATE FUNCTION crm_cjk_bigrams(doc text) RETURNS text[]
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
          SELECT coalesce(array_agg(DISTINCT b), '{}')
          FROM regexp_split_to_table(doc, '[\x01-\x7f]+') AS w,
               generate_series(1, char_length(w) - 1) AS i,
               LATERAL (SELECT substr(w, i, 2) AS b) AS x
        $$""")
    op.execute(r"""
        CREATE FUNCTION crm_digit_grams(doc text) RETURNS text[]
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
          SELECT coalesce(array_agg(DISTINCT substr(w, i, 4)), '{}')
          FROM regexp_split_to_table(doc, '[^0-9]+') AS w,
               generate_series(1, char_length(w) - 3) AS i
        $$""")
    for column, function, index in (
            ("search_bigrams", "crm_cjk_bigrams", "ix_customers_search_bigrams"),
            ("search_digit_grams", "crm_digit_grams", "ix_customers_search_digit_grams")):
        op.execute(f"DROP INDEX IF EXISTS {index}")
        op.execute(f"ALTER TABLE customers DROP COLUMN {column}")
        op.execute(f"ALTER TABLE customers ADD COLUMN {column} text[] "
                   f"GENERATED ALWAYS AS ({function}(search_text)) STORED")
        op.execute(f"CREATE INDEX {index} ON customers USING gin ({column})")
