"""two-character Chinese search (PostgreSQL); an index for the newest-first list

``ix_customers_created`` serves the default list order for callers who see everyone (a
million-row sort per page before), and lets frequent search terms stop at the first page.

Trigram indexes cannot serve a two-character query, and two characters is how people
search Chinese names (华为, 张伟). PostgreSQL keeps ``search_bigrams`` — every pair of
adjacent non-ASCII characters in ``search_text`` — as a generated column, so every write
path (the API, imports, bulk loads) fills it without application code. SQLite, the
laptop default, searches with LIKE alone.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 14:05:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0003'
down_revision: Union[str, None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.create_index('ix_customers_created', ['created_at', 'id'], unique=False)
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(r"""
        CREATE OR REPLACE FUNCTION crm_cjk_bigrams(doc text) RETURNS text[]
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
          SELECT coalesce(array_agg(DISTINCT b), '{}')
          FROM unnest(string_to_array(doc, ' ')) AS w,
               generate_series(1, char_length(w) - 1) AS i,
               LATERAL (SELECT substr(w, i, 2) AS b) AS x
          WHERE b !~ '[\x01-\x7f]'
        $$""")
    op.execute("ALTER TABLE customers ADD COLUMN search_bigrams text[] "
               "GENERATED ALWAYS AS (crm_cjk_bigrams(search_text)) STORED")
    op.execute("CREATE INDEX ix_customers_search_bigrams ON customers "
               "USING gin (search_bigrams)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_customers_search_bigrams")
        op.execute("ALTER TABLE customers DROP COLUMN IF EXISTS search_bigrams")
        op.execute("DROP FUNCTION IF EXISTS crm_cjk_bigrams(text)")
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index('ix_customers_created')
