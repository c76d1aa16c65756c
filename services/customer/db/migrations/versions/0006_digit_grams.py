"""digit 4-grams for searching a fragment of a number (PostgreSQL)

People search a customer by the part of a phone number they remember (``155956``). In
the trigram index every digit trigram is in 1.5-5% of a million customers (phones, tax
ids, codes), and intersecting four such posting lists took 2-3 ms per search.
``search_digit_grams`` keeps every four-digit window of every run of four or more digits
in ``search_text``; a fragment's windows are each in about 0.3% of customers, and a
customer whose text contains the fragment has all of its windows, so the array is the
lookup and the text is tested after. A generated column, like ``search_bigrams``: every
write path fills it. Adding it rewrites ``customers`` under an exclusive lock: 95 s at a
million customers on the benchmark machine, during which the customer service waits.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 20:00:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0006'
down_revision: Union[str, None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(r"""
        CREATE OR REPLACE FUNCTION crm_digit_grams(doc text) RETURNS text[]
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
          SELECT coalesce(array_agg(DISTINCT substr(w, i, 4)), '{}')
          FROM regexp_split_to_table(doc, '[^0-9]+') AS w,
               generate_series(1, char_length(w) - 3) AS i
        $$""")
    op.execute("ALTER TABLE customers ADD COLUMN search_digit_grams text[] "
               "GENERATED ALWAYS AS (crm_digit_grams(search_text)) STORED")
    op.execute("CREATE INDEX ix_customers_search_digit_grams ON customers "
               "USING gin (search_digit_grams)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_customers_search_digit_grams")
    op.execute("ALTER TABLE customers DROP COLUMN IF EXISTS search_digit_grams")
    op.execute("DROP FUNCTION IF EXISTS crm_digit_grams(text)")
